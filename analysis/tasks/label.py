"""Classification tasks: the target is one of a few strings, scored by exact normalised match."""

from dataclasses import dataclass

from .. import metrics
from .base import Example, Task, fields_source, normalize_text

UNKNOWN = "<unknown>"  # a prediction that matches no label: wrong for accuracy, negative for F1


def label_parser(targets: tuple[str, ...], labels: tuple[str, ...] = ()):
    """prediction -> normalised target, accepting the target string or (when 1:1) its label word."""
    lookup = {normalize_text(t): normalize_text(t) for t in targets}
    if len(labels) == len(targets):
        for label, target in zip(labels, targets):
            lookup.setdefault(normalize_text(label), normalize_text(target))
    return lambda prediction: lookup.get(normalize_text(prediction), UNKNOWN)


def score_labels(predictions, examples: list[Example], targets, labels=(), metric_names=("accuracy",), positive=None) -> dict[str, float]:
    parse = label_parser(tuple(targets), tuple(labels))
    predicted = [parse(p) for p in predictions]
    gold = [normalize_text(ex.target) for ex in examples]
    scorers = {
        "accuracy": lambda: metrics.accuracy(predicted, gold),
        "f1": lambda: metrics.binary_f1(predicted, gold, normalize_text(positive or targets[-1])),
        "mcc": lambda: metrics.matthews_corr(predicted, gold),
    }
    return {name: scorers[name]() for name in metric_names}


def label_index(value, labels: tuple[str, ...]) -> int:
    """The hub's integer label, its digit string, or the label name -> index into `labels`."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(labels):
            return value
    elif isinstance(value, str):
        names = [normalize_text(label) for label in labels]
        if normalize_text(value) in names:
            return names.index(normalize_text(value))
    raise ValueError(f"bad label {value!r}: expected 0..{len(labels) - 1} or one of {', '.join(labels)}")


@dataclass(kw_only=True)
class LabelTask(Task):
    """Inputs are named text fields; the target is `targets[i]` (default: the label word itself)."""

    name: str
    fields: tuple[str, ...]
    labels: tuple[str, ...]
    targets: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ("accuracy",)
    output_type = "label"

    def __post_init__(self):
        self.targets = self.targets or self.labels

    def format(self, raw: dict, idx: int, split: str) -> Example:
        i = label_index(raw["label"], self.labels)
        source = fields_source(self.name, raw, self.fields)
        return Example(self.example_id(split, idx), self.name, source, self.targets[i], self.labels[i], "label")

    def _score(self, predictions, examples):
        return score_labels(predictions, examples, self.targets, self.labels, self.metric_names)
