"""Extractive QA in SQuAD layout, with MRQA-style sliding windows and lowest-NLL aggregation.

Input "question: {q} context: {c}" (MRQA uses no task prefix; the builtin `qa` task adds one).
Long contexts are cut into windows of `max_source_len` tokens overlapping by `stride` tokens; a
window's target is the answer when it lies inside the window, else "".
"""

import math
from dataclasses import dataclass

from analysis.data import metrics

from .base import Example, Task, normalize_text, text_field


def _answers(raw: dict, context: str) -> tuple[list[str], list[int]]:
    answers = raw["answers"]
    if not isinstance(answers, dict) or not isinstance(answers.get("text"), list):
        raise ValueError(f"field 'answers' should be {{'text': [...], 'answer_start': [...]}}, got {answers!r}")
    texts = [str(t) for t in answers["text"]]
    starts = list(answers.get("answer_start") or [-1] * len(texts))
    if len(starts) != len(texts):
        raise ValueError("field 'answers' has different numbers of texts and answer_starts")
    # trust answer_start when it points at the text, else fall back to the first occurrence
    starts = [s if isinstance(s, int) and context[s:s + len(t)] == t else context.find(t) for t, s in zip(texts, starts)]
    return texts, starts


@dataclass(kw_only=True)
class SquadTask(Task):
    name: str = "squad"
    prefix: str = ""  # e.g. "qa " -> "qa question: ..."
    output_type = "span"
    metric_names = ("exact_match", "f1")
    needs_nll = True  # the windows' answers are ranked by their mean token NLL

    def input_fields(self) -> tuple[str, ...]:
        return ("question", "context")

    def format(self, raw: dict, idx: int, split: str) -> Example:
        question, context = text_field(raw, "question"), raw["context"]
        if not isinstance(context, str):
            raise ValueError(f"field 'context' should be a string, got {context!r:.60}")
        texts, starts = _answers(raw, context)
        example_id = self.example_id(split, idx)
        extra = {"qid": str(raw.get("id") or example_id), "answers": texts, "answer_starts": starts,
                 "question": question, "context": context}
        source = f"{self.prefix}question: {question} context: {context}"
        return Example(example_id, self.name, source, texts[0] if texts else "", None, "span", extra)

    def _score(self, predictions, examples):
        answers = [ex.extra.get("answers") or [ex.target] for ex in examples]
        return metrics.squad([normalize_text(p) for p in predictions], [[normalize_text(a) for a in gold] for gold in answers])

    def model_inputs(self, examples, tokenizer, max_source_length: int, train: bool = False) -> list[Example]:
        """Sliding windows over each context; a window without the answer has the empty target. Training keeps
        the windows that hold an answer (a question without one keeps its first): decoding ranks the windows'
        non-empty answers, so an empty answer is never needed, and learning it would crowd out the spans."""
        stride = min(128, max_source_length // 4)
        out = []
        for e in examples:
            pieces = self.windows(e, tokenizer, max_source_length, stride)
            out += ([w for w in pieces if w.target] or pieces[:1]) if train else pieces
        return out

    def score_outputs(self, examples, inputs, predictions, nlls):
        answers = aggregate(inputs, predictions, nlls)
        return self.score_questions(answers, inputs), [answers.get(e.extra["qid"], "") for e in examples]

    def score_questions(self, answers: dict[str, str], examples: list[Example]) -> dict[str, float]:
        """Score `aggregate`'s per-question answers against (window) examples, one per question id."""
        first = {}
        for ex in examples:
            first.setdefault(ex.extra["qid"], ex)
        return self.score([answers.get(qid, "") for qid in first], list(first.values()))

    def windows(self, raw_or_example, tokenizer, max_source_len: int = 512, stride: int = 128) -> list[Example]:
        example = raw_or_example if isinstance(raw_or_example, Example) else self.format(raw_or_example, 0, "train")
        context = example.extra["context"]
        head = example.source[: len(example.source) - len(context)]  # "question: ... context: "
        budget = max_source_len - tokenizer.num_special_tokens_to_add(pair=False) - len(tokenizer(head, add_special_tokens=False)["input_ids"])
        if budget <= stride:
            raise ValueError(f"question {example.extra['qid']!r} leaves {budget} context tokens, not more than stride {stride}")
        encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets, word_ids = encoding["offset_mapping"], encoding.word_ids()
        windows = []
        for k, (start, end) in enumerate(_token_windows(word_ids, budget, stride)):
            c0, c1 = (offsets[start][0], offsets[end - 1][1]) if offsets else (0, len(context))
            inside = [t for t, s in zip(example.extra["answers"], example.extra["answer_starts"]) if s >= 0 and c0 <= s and s + len(t) <= c1]
            extra = {**example.extra, "context": context[c0:c1], "window": k, "char_start": c0}
            windows.append(Example(f"{example.id}-w{k}", example.task, head + context[c0:c1], inside[0] if inside else "", None, "span", extra))
        return windows


def _token_windows(word_ids: list, budget: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of at most `budget` tokens, consecutive ones overlapping by >= stride.

    Boundaries move back to a word start, so each chunk re-tokenizes to the same tokens.
    """
    n = len(word_ids)

    def word_start(i: int, floor: int) -> int:
        while i > floor + 1 and word_ids[i] is not None and word_ids[i] == word_ids[i - 1]:
            i -= 1
        return i

    spans, start = [], 0
    while True:
        end = n if start + budget >= n else word_start(start + budget, start)
        spans.append((start, end))
        if end >= n:
            return spans
        start = word_start(max(end - stride, start + 1), start)


def aggregate(window_examples: list[Example], predictions: list[str], nlls: list[float]) -> dict[str, str]:
    """Per question id, the non-empty prediction with the lowest mean-token NLL ("" when all are empty)."""
    if not len(window_examples) == len(predictions) == len(nlls):
        raise ValueError(f"{len(window_examples)} windows, {len(predictions)} predictions, {len(nlls)} NLLs")
    best: dict[str, tuple[float, str]] = {}
    for example, prediction, nll in zip(window_examples, predictions, nlls):
        qid = example.extra["qid"]
        current = best.setdefault(qid, (math.inf, ""))
        if normalize_text(prediction) and nll < current[0]:
            best[qid] = (nll, prediction)
    return {qid: prediction for qid, (_, prediction) in best.items()}


SQUAD = SquadTask(hub=("rajpurkar/squad",))
# SubjQA: extractive QA over product and business reviews; the hub splits it by domain (one config each).
SUBJQA = SquadTask(name="subjqa", prefix="subjqa ", hub=("megagonlabs/subjqa", "electronics"))
