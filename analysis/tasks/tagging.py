"""Sequence labelling (HyperLoader style): one BIO tag per input word, scored by seqeval micro F1.

Targets spell tags in lowercase, one per word: "b-per o b-loc i-loc". BERT-style backbones have no
T5 sentinels, and an uncased WordPiece decode of that ("b - per o b - loc i - loc") normalises
straight back, so `parse_tags` recovers BIO tags from any backbone's output.
"""

from dataclasses import dataclass

from .. import metrics
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


def parse_tags(prediction: str) -> list[str]:
    """Decoded text -> BIO tags; a piece that is not a tag becomes O."""
    tags = []
    for piece in normalize_text(prediction).split():
        try:
            tags.append(canonical_tag(piece))
        except ValueError:
            tags.append("O")
    return tags


@dataclass(kw_only=True)
class TaggingTask(Task):
    """Records with `tokens` and `ner_tags` (tag strings, or integers into `tag_names`)."""

    name: str
    tag_names: tuple[str, ...] = ()
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
        target = " ".join(map(encode_tag, tags))
        return Example(self.example_id(split, idx), self.name, source, target, None, "tags", {"tokens": tokens, "tags": tags})

    def _tag_name(self, tag) -> str:
        if isinstance(tag, str):
            return tag
        if isinstance(tag, int) and 0 <= tag < len(self.tag_names):
            return self.tag_names[tag]
        raise ValueError(f"bad tag {tag!r}: expected a tag string or an index below {len(self.tag_names)} into {self.tag_names}")

    def _score(self, predictions, examples):
        return {"f1": metrics.seqeval_f1([parse_tags(p) for p in predictions], [ex.extra["tags"] for ex in examples])}


CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
CONLL2003 = TaggingTask(name="conll2003", tag_names=CONLL_TAGS, hub=("eriktks/conll2003",))
