"""Classification tasks: the target is one of a few strings, scored by exact normalised match."""

import dataclasses
from dataclasses import dataclass

from analysis.data import metrics

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


HEAD_FRACTION = 0.25  # of the tokens kept; the rest come from the end (Sun et al. 2019: head+tail wins on IMDb)


def head_and_tail(examples: list[Example], tokenizer, max_source_length: int) -> list[Example]:
    """Inputs longer than the source length keep their first quarter and their last three quarters of it, joined
    by " ... ", instead of being cut at the end."""
    budget = max_source_length - tokenizer.num_special_tokens_to_add(pair=False) - 4  # room for " ... " and a split word
    out = []
    for e in examples:
        offsets = tokenizer(e.source, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        if len(offsets) <= budget + 4:
            out.append(e)
            continue
        head = int(budget * HEAD_FRACTION)
        source = e.source[:offsets[head - 1][1]] + " ... " + e.source[offsets[len(offsets) - (budget - head)][0]:]
        out.append(dataclasses.replace(e, source=source))
    return out


@dataclass(kw_only=True)
class LabelTask(Task):
    """Inputs are named text fields; the target is `targets[i]` (default: the label word itself)."""

    name: str
    fields: tuple[str, ...]
    labels: tuple[str, ...]
    targets: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ("accuracy",)
    label_field: str = "label"
    keep_tail: bool = False  # long inputs keep their start and end, not the start alone (reviews end with a verdict)
    output_type = "label"

    def __post_init__(self):
        self.targets = self.targets or self.labels

    def keep(self, raw: dict) -> bool:
        """The hub marks rows without a gold label (SNLI, GLUE test splits) with -1: they cannot be scored."""
        return raw.get(self.label_field) not in (-1, "-1")

    def model_inputs(self, examples, tokenizer, max_source_length: int, train: bool = False) -> list[Example]:
        return head_and_tail(examples, tokenizer, max_source_length) if self.keep_tail else examples

    def input_fields(self) -> tuple[str, ...]:
        return self.fields

    def format(self, raw: dict, idx: int, split: str) -> Example:
        i = label_index(raw[self.label_field], self.labels)
        source = fields_source(self.name, raw, self.fields)
        return Example(self.example_id(split, idx), self.name, source, self.targets[i], self.labels[i], "label")

    def _score(self, predictions, examples):
        return score_labels(predictions, examples, self.targets, self.labels, self.metric_names)
