"""Sequence labelling: BIO tags per input word, scored by seqeval micro F1, in one of two target forms.

tags      (HyperLoader style) one lowercase tag per word: "b-per o b-loc i-loc". BERT-style backbones have
          no T5 sentinels, and an uncased WordPiece decode ("b - per o b - loc i - loc") normalises straight
          back, so `parse_tags` recovers the tags from any backbone's output.
entities  the entity mentions in order with their types: "John Smith = per ; Paris = loc" ("none" when
          there are none). Far shorter, and a copy from the input rather than a count of its words; each
          mention is matched back to the input words in order to give the same BIO tags to score.
"""

import re
from dataclasses import dataclass

from analysis.data import metrics

from .base import Example, Task, normalize_text


def encode_tag(tag: str) -> str:
    """"B-PER" -> "b-per", "O" -> "o"."""
    return canonical_tag(tag).lower()


def canonical_tag(tag: str) -> str:
    """Prefix upper-case, type lower-case ("b-PER" -> "B-per"), so gold and parsed tags compare equal."""
    tag = tag.strip()
    if tag.upper() == "O":
        return "O"
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix.upper() not in ("B", "I") or not kind:
        raise ValueError(f"bad tag {tag!r}: expected O, B-<type> or I-<type>")
    return f"{prefix.upper()}-{kind.lower()}"


def is_tag_sequence(text: str) -> bool:
    """True for one BIO tag per word ("o b-origin i-origin"), false for entity lists ("EU = org")."""
    try:
        return bool(text.split()) and all(canonical_tag(piece) for piece in text.split())
    except ValueError:
        return False


def parse_tags(prediction: str) -> list[str]:
    """Decoded text -> BIO tags; a piece that is not a tag becomes O."""
    tags = []
    for piece in normalize_text(prediction).split():
        try:
            tags.append(canonical_tag(piece))
        except ValueError:
            tags.append("O")
    return tags


NO_ENTITIES = "none"


def entity_target(tokens: list[str], tags: list[str]) -> str:
    """BIO tags -> "mention = type ; mention = type" (an I- tag that continues nothing starts an entity)."""
    spans: list[tuple[list[str], str]] = []
    previous = "O"
    for word, tag in zip(tokens, tags):
        if tag != "O":
            prefix, kind = tag.split("-", 1)
            if prefix == "I" and previous != "O" and previous.split("-", 1)[1] == kind:
                spans[-1][0].append(word)
            else:
                spans.append(([word], kind))
        previous = tag
    return " ; ".join(f"{' '.join(words)} = {kind}" for words, kind in spans) or NO_ENTITIES


def _key(text: str) -> str:
    return re.sub(r"\W", "", normalize_text(text))


def parse_entities(prediction: str, tokens: list[str]) -> list[str]:
    """Decoded "mention = type ; ..." -> one BIO tag per input word. Each mention is matched to the next run of
    input words that spells it (ignoring case, spacing and punctuation); a mention not in the input is dropped."""
    keys = [_key(t) for t in tokens]
    tags, cursor = ["O"] * len(tokens), 0
    for part in normalize_text(prediction).split(";"):
        mention, sep, kind = part.rpartition("=")
        kind, target = _key(kind), _key(mention)
        if not sep or not kind or not target:
            continue
        for start in [*range(cursor, len(tokens)), *range(0, cursor)]:
            if not keys[start]:  # a mention never starts at a punctuation word
                continue
            spelled, end = "", start
            while end < len(tokens) and len(spelled) < len(target):
                spelled += keys[end]
                end += 1
            if spelled == target and all(t == "O" for t in tags[start:end]):
                tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
                cursor = end
                break
    return tags


@dataclass(kw_only=True)
class TaggingTask(Task):
    """Records with `tokens` and `ner_tags` (tag strings, or integers into `tag_names`)."""

    name: str
    tag_names: tuple[str, ...] = ()
    target_format: str = "tags"  # or "entities" (see the module docstring)
    output_type = "tags"
    metric_names = ("f1",)

    def format(self, raw: dict, idx: int, split: str) -> Example:
        tokens, tags = raw["tokens"], raw["ner_tags"]
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() and len(t.split()) == 1 for t in tokens):
            raise ValueError("field 'tokens' should be a list of single words")
        if not isinstance(tags, list) or len(tags) != len(tokens):
            raise ValueError(f"field 'ner_tags' should be a list with one tag per token ({len(tokens)})")
        tags = [canonical_tag(self._tag_name(t)) for t in tags]
        source = f"{self.name}: {' '.join(tokens)}"
        target = self.render(tokens, tags)
        return Example(self.example_id(split, idx), self.name, source, target, None, "tags", {"tokens": tokens, "tags": tags})

    def _tag_name(self, tag) -> str:
        if isinstance(tag, str):
            return tag
        if isinstance(tag, int) and 0 <= tag < len(self.tag_names):
            return self.tag_names[tag]
        raise ValueError(f"bad tag {tag!r}: expected a tag string or an index below {len(self.tag_names)} into {self.tag_names}")

    def render(self, tokens: list[str], tags: list[str]) -> str:
        """Canonical BIO tags -> this task's target text."""
        return entity_target(tokens, tags) if self.target_format == "entities" else " ".join(map(encode_tag, tags))

    def predicted_tags(self, prediction: str, example: Example) -> list[str]:
        if self.target_format == "entities":
            return parse_entities(prediction, example.extra["tokens"])
        return parse_tags(prediction)

    def _score(self, predictions, examples):
        return {"f1": metrics.seqeval_f1([self.predicted_tags(p, ex) for p, ex in zip(predictions, examples)],
                                         [ex.extra["tags"] for ex in examples])}


CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
CONLL2003 = TaggingTask(name="conll2003", tag_names=CONLL_TAGS, target_format="entities", hub=("eriktks/conll2003",))
