"""GLUE (no WNLI) as in the Hyperdecoder recipe: "<task> <field>: ..." inputs, digit-string targets.

`Example.label` is the dataset's label name (the map colour); the target stays the digit, as in the paper.
"""

import math
from dataclasses import dataclass

from analysis.data import metrics

from .base import Example, Task, fields_source, normalize_text
from .label import LabelTask

HUB = "nyu-mll/glue"

# name: (input fields, label names in the hub's integer order, metrics)
GLUE = {
    "cola": (("sentence",), ("unacceptable", "acceptable"), ("mcc",)),
    "sst2": (("sentence",), ("negative", "positive"), ("accuracy",)),
    "mrpc": (("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy")),
    "qqp": (("question1", "question2"), ("not_duplicate", "duplicate"), ("f1", "accuracy")),
    "mnli": (("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",)),
    "qnli": (("question", "sentence"), ("entailment", "not_entailment"), ("accuracy",)),
    "rte": (("sentence1", "sentence2"), ("entailment", "not_entailment"), ("accuracy",)),
}
# MNLI has two validation sets; "validation" means matched, "validation_mismatched" reaches the other.
MNLI_SPLITS = {"validation": "validation_matched", "test": "test_matched"}

STSB_STEP = 0.2
STSB_BINS = tuple(f"{i * STSB_STEP:.1f}" for i in range(26))  # "0.0", "0.2", ..., "5.0"


def round_stsb(score: float) -> str:
    """Round half up to the nearest 0.2 (the original code's round(x*5/5, 1) only rounds to 0.1)."""
    return f"{math.floor(float(score) * 5 + 0.5) / 5:.1f}"


def parse_stsb(prediction: str) -> float | None:
    try:
        return min(5.0, max(0.0, float(normalize_text(prediction))))
    except ValueError:
        return None


@dataclass(kw_only=True)
class StsbTask(Task):
    """Regression as text: the target is the gold score rounded to 0.2 (`labels` are those 26 bins). The label facet
    that maps and cluster scores group by is the score rounded to an integer, 0-5: neighbouring bins are not
    different classes."""

    name: str = "stsb"
    fields: tuple[str, ...] = ("sentence1", "sentence2")
    labels = STSB_BINS
    metric_names = ("pearson", "spearman")

    def input_fields(self) -> tuple[str, ...]:
        return self.fields

    def format(self, raw: dict, idx: int, split: str) -> Example:
        score = float(raw["label"])
        if not 0.0 <= score <= 5.0:
            raise ValueError(f"bad label {raw['label']!r}: STS-B scores lie in [0, 5]")
        target = round_stsb(score)
        source = fields_source(self.name, raw, self.fields)
        label = str(math.floor(score + 0.5))
        return Example(self.example_id(split, idx), self.name, source, target, label, "label", {"score": score})

    def _score(self, predictions, examples):
        gold = [ex.extra["score"] for ex in examples]
        # An unparseable prediction is counted as maximally wrong: the end of the scale farthest from gold.
        parsed = [parse_stsb(p) for p in predictions]
        predicted = [p if p is not None else (0.0 if g >= 2.5 else 5.0) for p, g in zip(parsed, gold)]
        return {"pearson": metrics.pearson(predicted, gold), "spearman": metrics.spearman(predicted, gold)}


def glue_tasks() -> list[Task]:
    tasks = [
        LabelTask(name=name, fields=fields, labels=labels, targets=tuple(map(str, range(len(labels)))),
                  metric_names=metric_names, hub=(HUB, name), hub_splits=MNLI_SPLITS if name == "mnli" else {})
        for name, (fields, labels, metric_names) in GLUE.items()
    ]
    return tasks + [StsbTask(hub=(HUB, "stsb"))]
