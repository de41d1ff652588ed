"""User tasks from a CSV / JSONL file (or a folder with train.* and validation.* files).

CLI form: "name=path/to/file.csv:input_col,target_col[,label_col][:value=word,...]". Several input columns
join with "+" ("premise+hypothesis"); the optional last part maps target values to label words
("0=entailment,1=neutral,2=contradiction"). One file is split 90/10 into train/validation by a seeded
shuffle, so the split is the same on every run.
"""

import math
import random
from dataclasses import dataclass
from pathlib import Path

from analysis.data import metrics

from .base import Example, Task, text_field
from .io import DataError, find_split_file, read_records
from .label import score_labels
from .summarization import score_text

MAX_LABELS = 20  # a target column with at most this many (repeated) values is a label task


@dataclass
class CustomTask(Task):
    name: str
    path: str
    input_col: str
    target_col: str
    label_col: str | None = None
    output_type: str | None = None  # "label" or "text"; inferred from the training targets when None
    labels: tuple[str, ...] = ()  # label words (the label column, else the targets); inferred when empty
    targets: tuple[str, ...] = ()  # the distinct targets a label prediction must match; inferred
    validation_path: str | None = None
    seed: int = 0
    validation_fraction: float = 0.1
    label_names: dict[str, str] | None = None  # target value -> the word the model learns to write

    def __post_init__(self):
        if self.output_type not in (None, "label", "text"):
            raise ValueError(f"custom task {self.name}: output_type must be 'label' or 'text', got {self.output_type!r}")
        if self.label_names and self.output_type is None:
            self.output_type = "label"
        if self.output_type is None or (self.output_type == "label" and not self.targets):
            self._infer_from_train()
        self.labels, self.targets = tuple(self.labels), tuple(self.targets)
        self.metric_names = ("accuracy",) if self.output_type == "label" else metrics.ROUGE_TYPES

    def _infer_from_train(self):
        declared, self.output_type = self.output_type, "label"  # so that format fills Example.label too
        train = self.load("train")
        targets = sorted({ex.target for ex in train})
        repeated = len(targets) <= MAX_LABELS and len(targets) < len(train)
        self.output_type = declared or ("label" if self.label_col or repeated else "text")
        if self.output_type == "label":
            self.targets, self.labels = tuple(targets), tuple(sorted({ex.label for ex in train}))

    reads_data_dir = False  # its files are part of its spec

    def records(self, split: str, data_dir: str | None = None):
        """`data_dir` is ignored: a custom task's files are part of its spec."""
        columns = (*self.input_cols, *(c for c in (self.target_col, self.label_col) if c))
        path = Path(self.path)
        if path.is_dir():
            return read_records(find_split_file(path, split), columns)
        if self.validation_path:
            return read_records(path if split == "train" else self.validation_path, columns)
        if split not in ("train", "validation"):
            raise DataError(f"custom task {self.name}: split must be train or validation, got {split!r}")
        rows = list(read_records(path, columns))
        if len(rows) < 2:
            raise DataError(f"{path} has {len(rows)} row(s); a custom task from one file needs at least 2 (it holds "
                            f"{self.validation_fraction:.0%} out for validation), or give a folder with train and "
                            "validation files")
        order = list(range(len(rows)))
        random.Random(self.seed).shuffle(order)
        n_validation = max(1, round(len(rows) * self.validation_fraction))
        chosen = order[:n_validation] if split == "validation" else order[n_validation:]
        return iter([rows[i] for i in sorted(chosen)])

    @staticmethod
    def _value(raw: dict, column: str) -> str:
        value = raw[column]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"column {column!r} holds {value}, not a value to learn")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        value = text_field({column: value}, column)
        if not value:
            raise ValueError(f"empty value in column {column!r}")
        return value

    @property
    def input_cols(self) -> tuple[str, ...]:
        return tuple(self.input_col.split("+"))

    def input_fields(self) -> tuple[str, ...]:
        return self.input_cols

    def format(self, raw: dict, idx: int, split: str) -> Example:
        target = self._value(raw, self.target_col)
        if self.label_names:
            if target not in self.label_names:
                raise ValueError(f"value {target!r} in column {self.target_col!r} is not in the label map "
                                 f"({', '.join(self.label_names)})")
            target = self.label_names[target]
        label = (self._value(raw, self.label_col) if self.label_col else target) if self.output_type == "label" else None
        source = " ".join([self.name] + [f"{c}: {self._value(raw, c)}" for c in self.input_cols])
        return Example(self.example_id(split, idx), self.name, source, target, label, self.output_type)

    def _score(self, predictions, examples):
        if self.output_type == "label":
            return score_labels(predictions, examples, self.targets)
        return score_text(predictions, examples)

    def spec(self) -> dict:
        return {"kind": "custom", "name": self.name, "path": self.path, "input_col": self.input_col,
                "target_col": self.target_col, "label_col": self.label_col, "output_type": self.output_type,
                "labels": list(self.labels), "targets": list(self.targets), "validation_path": self.validation_path,
                "seed": self.seed, "validation_fraction": self.validation_fraction, "label_names": self.label_names}


FORM = "name=path/to/file.csv:input_col[+input_col...],target_col[,label_col][:value=word,...]"


def check_target_is_not_input(where: str, inputs: str, target: str) -> None:
    """A target column that is also an input ("a+b" form) would only teach the model to copy it."""
    if target and target in inputs.split("+"):
        raise ValueError(f"{where}: column {target!r} is both an input and the target, so the model would only learn "
                         "to copy it; pick another target column")


def parse_custom_task(text: str) -> CustomTask:
    """The CLI form (FORM) -> CustomTask."""
    name, _, rest = text.partition("=")
    path, _, columns = rest.rpartition(":")
    label_names = None
    if "=" in columns:  # the optional label map comes last
        pairs = [p.partition("=") for p in columns.split(",")]
        if not all(k and eq and v for k, eq, v in pairs):
            raise ValueError(f"bad label map {columns!r} in custom task {text!r}: expected value=word,value=word")
        label_names = {k.strip(): v.strip() for k, _, v in pairs}
        if len(label_names) < len(pairs):  # a value mapped twice would silently keep its last word
            raise ValueError(f"label map {columns!r} in custom task {text!r} maps a value more than once")
        path, _, columns = path.rpartition(":")
    columns, name = columns.split(","), name.strip()
    if not name or not path or len(columns) not in (2, 3) or not all(columns) or "" in columns[0].split("+"):
        raise ValueError(f"bad custom task {text!r}: expected {FORM}")
    check_target_is_not_input(f"custom task {name}", columns[0], columns[1])  # new tasks only: a saved spec still loads
    return CustomTask(name.strip(), path, *columns, label_names=label_names)
