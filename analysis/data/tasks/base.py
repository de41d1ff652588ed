"""The Example record, the Task base class and the text normalisation every scorer uses."""

import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .io import DataError, Record, find_split_file, read_records

OUTPUT_TYPES = ("label", "span", "text", "tags")


@dataclass(frozen=True)
class Example:
    id: str  # unique within task + split
    task: str
    source: str  # model input, with the task prefix
    target: str  # model target text
    label: str | None  # label word for label tasks, else None
    output_type: str  # one of OUTPUT_TYPES
    extra: dict = field(default_factory=dict, compare=False)  # task-specific; left out of ==, so Examples hash


# Decoders (an uncased WordPiece one above all) put spaces around punctuation: "b - city", "it ' s",
# "3. 8". normalize_text undoes that the same way for predictions and targets, so they compare equal.
_JOINERS = re.compile(r"\s*([-'_/])\s*")  # glue both sides of intra-word punctuation
_NUMBERS = re.compile(r"(\d)\s*([.,:])\s*(?=\d)")  # "3. 8" -> "3.8", "9 : 30" -> "9:30"
_CLOSING = re.compile(r"\s+([.,!?;:%)\]}])")  # "paris , france" -> "paris, france"
_OPENING = re.compile(r"([(\[{$])\s+")


def normalize_text(text: str) -> str:
    """Lowercase, strip accents, undo tokenizer spacing around punctuation, collapse whitespace."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    text = _JOINERS.sub(r"\1", text)
    text = _NUMBERS.sub(r"\1\2", text)
    text = _OPENING.sub(r"\1", _CLOSING.sub(r"\1", text))
    return " ".join(text.split())


def fields_source(prefix: str, raw: dict, fields: tuple[str, ...]) -> str:
    """GLUE-style input: "mrpc sentence1: ... sentence2: ..."."""
    return " ".join([prefix] + [f"{f}: {text_field(raw, f)}" for f in fields])


def text_field(raw: dict, key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} should be a string, got {type(value).__name__} {value!r:.60}")
    if not value.strip():
        raise ValueError(f"field {key!r} is empty: there is nothing to read")
    return " ".join(value.split())


@dataclass(kw_only=True)
class Task:
    """One task: where its records come from, how a record becomes an Example, how to score predictions.

    Subclasses are dataclasses whose first field is `name`; they add the format fields and set
    `output_type`, `labels` (label words, empty for non-label tasks) and `metric_names`.
    """

    hub: tuple[str, ...] = ()  # datasets.load_dataset arguments, e.g. ("nyu-mll/glue", "sst2")
    hub_splits: dict[str, str] = field(default_factory=dict)  # our split name -> the hub's
    synthetic: object | None = None  # builtin generator (builtin.Synthetic); replaces files and hub

    # plain class attributes (not fields), overridden by subclasses; `name` is always a subclass field
    output_type = "label"
    labels = ()
    metric_names = ()
    needs_nll = False  # score_outputs reads each prediction's mean token NLL

    def load(self, split: str, data_dir: str | None = None, max_examples: int | None = None) -> list[Example]:
        examples = []
        for idx, (where, raw) in enumerate(self.records(split, data_dir)):
            if max_examples is not None and len(examples) >= max_examples:
                break
            if not self.keep(raw):
                continue
            try:
                examples.append(self.format(raw, idx, split))
            except KeyError as e:
                raise DataError(f"{where}: missing field {e.args[0]!r} (task {self.name}; fields present: {', '.join(sorted(raw))})") from None
            except (ValueError, TypeError) as e:
                raise DataError(f"{where}: {e}") from None
        if not examples and max_examples != 0:
            raise DataError(f"task {self.name}: no {split} examples")
        return examples

    @property
    def reads_data_dir(self) -> bool:
        """Whether `records` reads --data-dir: generated built-in tasks (and custom files) do not."""
        return self.synthetic is None

    def records(self, split: str, data_dir: str | None = None) -> Iterator[Record]:
        if self.synthetic is not None:
            if data_dir is not None and not Path(data_dir).is_dir():
                raise DataError(f"--data-dir {data_dir} is not a folder")
            if data_dir is not None and ((Path(data_dir) / self.name).exists() or Path(data_dir).name == self.name):
                raise DataError(f"task {self.name} is built in and generates its data, so files in {data_dir} for it "
                                "would not be read; to use them, give them as a custom task (name=file:columns)")
            return self.synthetic.records(self.name, split)
        if data_dir is not None:
            return read_records(find_split_file(data_dir, split, subdir=self.name))
        if self.hub:
            return self._hub_records(split)
        raise DataError(f"task {self.name} has no hub dataset; pass data_dir")

    def _hub_records(self, split: str) -> Iterator[Record]:
        import datasets  # the only network path; local files and builtin tasks never get here

        hub_split = self.hub_splits.get(split, split)
        try:
            rows = datasets.load_dataset(*self.hub, split=hub_split)
        except (OSError, ConnectionError, ValueError) as e:  # offline, or no such dataset or split
            raise DataError(f"task {self.name}: could not load {'/'.join(self.hub)} from the hub ({e}). Offline, "
                            f"pass --data-dir DIR with DIR/{self.name}/{split}.jsonl (or .csv) in the hub's field "
                            "names") from None
        for i, raw in enumerate(rows):
            yield f"hub {'/'.join(self.hub)}[{hub_split}] row {i}", raw

    def keep(self, raw: dict) -> bool:
        """False for a record that cannot be used (for example one without a gold label)."""
        return True

    def model_inputs(self, examples: list[Example], tokenizer, max_source_length: int, train: bool = False) -> list[Example]:
        """What the model trains and decodes on; a task whose inputs outgrow the source length cuts them up."""
        return examples

    def score_outputs(self, examples: list[Example], inputs: list[Example], predictions: list[str],
                      nlls: list[float] | None) -> tuple[dict[str, float], list[str]]:
        """Scores and one prediction per example, from the predictions for `model_inputs(examples)`."""
        return self.score(predictions, examples), predictions

    def example_id(self, split: str, idx: int) -> str:
        return f"{self.name}-{split}-{idx}"

    def format(self, raw: dict, idx: int, split: str) -> Example:
        raise NotImplementedError

    def input_fields(self) -> tuple[str, ...]:
        """The named parts of this task's input, in the order its source writes them as "name: value"."""
        return ()

    def split_source(self, source: str) -> tuple[str, list[tuple[str, str]]]:
        """(prefix, [(field, value), ...]) of a source this task wrote; (source, []) when it has no named fields
        or the text no longer has them in order."""
        marks, pos = [], 0
        for name in self.input_fields():
            at = source.find(f"{name}: ", pos)
            while at > 0 and not source[at - 1].isspace():  # "subquestion: " is not "question: "
                at = source.find(f"{name}: ", at + 1)
            if at < 0:
                return source, []
            marks.append((name, at, at + len(name) + 2))
            pos = marks[-1][2]
        if not marks:
            return source, []
        ends = [m[1] for m in marks[1:]] + [len(source)]
        return source[:marks[0][1]].strip(), [(n, source[v:end].strip()) for (n, _, v), end in zip(marks, ends)]

    def join_source(self, prefix: str, values: list[tuple[str, str]]) -> str:
        """The inverse of split_source."""
        return " ".join(p for p in [prefix, *(f"{name}: {value}" for name, value in values)] if p)

    def score(self, predictions: list[str], examples: list[Example]) -> dict[str, float]:
        if len(predictions) != len(examples):
            raise ValueError(f"{self.name}: {len(predictions)} predictions for {len(examples)} examples")
        return self._score(predictions, examples)

    def _score(self, predictions: list[str], examples: list[Example]) -> dict[str, float]:
        raise NotImplementedError

    def spec(self) -> dict:
        spec = {"name": self.name}
        if self.synthetic is not None:
            spec.update(self.synthetic.options())
        return spec

    def with_options(self, **options) -> "Task":
        """A copy with spec options applied (builtin: seed and sizes)."""
        if not options:
            return self
        if self.synthetic is None:
            raise ValueError(f"task {self.name} takes no options, got {', '.join(sorted(options))}")
        return dataclasses.replace(self, synthetic=dataclasses.replace(self.synthetic, **options))
