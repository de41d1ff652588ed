"""Uploaded CSV / JSONL files for custom tasks: checked here so that training never starts on a bad file.

    table = read_table(data, "reviews.csv")          # DataFrame indexed by file line number
    spec = save(data, "reviews.csv", "reviews", "text", "stars")  # "reviews=runs/uploads/...csv:text,stars"
"""
from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import pandas as pd

from analysis.data.tasks import known_tasks
from analysis.data.tasks.custom import check_target_is_not_input
from analysis.data.tasks.io import DataError, csv_rows, decode_text, jsonl_objects
from analysis.errors import HyperLensError
from app import config

MIN_ROWS = 20  # the custom task holds 10% out for validation: at least 2 examples
MAX_FIELD_CHARS = 100_000  # one cell: far beyond what a model reads (about 500 tokens), far below a pasted dump
TASK_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class UploadError(HyperLensError, ValueError):
    """An uploaded file cannot be used; the message says what to fix."""


def _decode(data: bytes, filename: str) -> str:
    size_mb = len(data) / 2**20
    if size_mb > config.MAX_UPLOAD_MB:
        raise UploadError(f"{filename} is {size_mb:.1f} MB; the limit is {config.MAX_UPLOAD_MB} MB")
    try:
        return decode_text(data, filename)
    except DataError as e:
        raise UploadError(str(e)) from None


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """The file's rows, indexed by their line number in the file (for error messages)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise UploadError(f"{filename}: upload a .csv or .jsonl file, not {suffix or 'a file without extension'}")
    text = _decode(data, filename)
    try:
        numbered = list(jsonl_objects(text, filename) if suffix == ".jsonl" else csv_rows(text, filename))
    except DataError as e:
        raise UploadError(str(e)) from None
    table = pd.DataFrame([r for _, r in numbered], index=[n for n, _ in numbered])
    if len(table) < MIN_ROWS:
        raise UploadError(f"{filename} has {len(table)} rows; a task needs at least {MIN_ROWS}")
    if len(table.columns) < 2:
        raise UploadError(f"{filename} has {len(table.columns)} column(s) ({', '.join(map(repr, table.columns)) or 'none'}); "
                          "a task needs an input column and a target column")
    return table


def _is_text(value) -> bool:
    if isinstance(value, float) and math.isnan(value):  # a JSONL row without the key
        return False
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and bool(str(value).strip())


def check_columns(table: pd.DataFrame, filename: str, columns: list[str]) -> None:
    if not all(columns):
        raise UploadError(f"{filename}: pick an input column and a target column")
    for column in columns:
        if column not in table.columns:
            raise UploadError(f"{filename}: no column {column!r}; the file has {', '.join(map(repr, table.columns))}")
        if re.search(r"[,:+=]", column):  # they separate the columns in the task's CLI string
            raise UploadError(f"{filename}: rename column {column!r}; column names cannot contain ',', ':', '+' or '='")
        values = table[column]
        bad = ~values.map(_is_text)
        if bad.any():
            raise UploadError(f"{filename}, line {bad.idxmax()}: column {column!r} must be non-empty text, "
                              f"got {values[bad.idxmax()]!r:.60}")
        huge = values.map(lambda v: len(str(v)) > MAX_FIELD_CHARS)
        if huge.any():
            raise UploadError(f"{filename}, line {huge.idxmax()}: column {column!r} holds {len(str(values[huge.idxmax()])):,} "
                              f"characters; a cell may hold at most {MAX_FIELD_CHARS:,} (the model reads a few hundred words)")


def default_task_name(filename: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", Path(filename).stem.lower()).strip("_")
    return name if TASK_NAME.fullmatch(name) else f"task_{name}"[:32]


def validate(data: bytes, filename: str, task: str, input_col: str, target_col: str, label_col: str | None = None) -> None:
    if not TASK_NAME.fullmatch(task):
        raise UploadError(f"task name {task!r}: use lowercase letters, digits and '_', starting with a letter")
    if task in known_tasks():
        raise UploadError(f"task name {task!r} is a builtin task; pick another name")
    try:
        check_target_is_not_input(filename, input_col, target_col)
    except ValueError as e:
        raise UploadError(str(e)) from None
    columns = [*input_col.split("+"), target_col, *([label_col] if label_col else [])]
    check_columns(read_table(data, filename), filename, columns)


def save(data: bytes, filename: str, task: str, input_col: str, target_col: str, label_col: str | None = None) -> str:
    """Validate, store under RUNS_DIR/uploads/ and return the custom-task argument for `train --tasks`."""
    validate(data, filename, task, input_col, target_col, label_col)
    columns = [c for c in (input_col, target_col, label_col) if c]
    path = Path(config.RUNS_DIR) / "uploads" / f"{task}-{hashlib.sha256(data).hexdigest()[:10]}{Path(filename).suffix.lower()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"{task}={path}:{','.join(columns)}"
