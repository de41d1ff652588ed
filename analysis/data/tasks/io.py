"""Reading JSONL / CSV records with errors that name the file, the 1-based line and the problem.

Every reader yields `(where, record)` pairs; `where` ("data/train.jsonl, line 7") is what a task
puts in front of a formatting error, so a bad record is always traceable to its line.
"""

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from analysis.errors import HyperLensError

SUFFIXES = (".jsonl", ".csv", ".tsv")


class DataError(HyperLensError, ValueError):
    """A data file is missing, unreadable or has a bad record."""


Record = tuple[str, dict]


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text (a BOM is fine), or a DataError naming the line of the first bad byte, or an empty file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{where}, line {line}: bytes are not valid UTF-8 (at byte {e.start}); re-save the file as UTF-8") from None
    if not text.strip():
        raise DataError(f"{where}: file is empty")
    return text


def read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return decode_text(path.read_bytes(), str(path))


def jsonl_objects(text: str, source: str) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) per non-blank line, or a DataError naming the line."""
    # JSON Lines ends a line at "\n" only: str.splitlines would also cut inside strings at U+2028, U+0085, ...
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{source}, line {number}: invalid JSON ({e.msg} at column {e.colno}); "
                            "expected one JSON object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{source}, line {number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def read_jsonl(path: Path) -> Iterator[Record]:
    for number, record in jsonl_objects(read_text(path), str(path)):
        yield f"{path}, line {number}", record


def csv_rows(text: str, source: str, delimiter: str = ",", columns: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """(1-based line number, row keyed by the header) per row, or a DataError naming the line; `columns` must all
    be in the header."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = reader.fieldnames or []
    if twice := sorted({c for c in header if c and header.count(c) > 1}):  # unnamed ones (`a,b,,`) are never read
        raise DataError(f"{source}, line 1: column(s) {', '.join(map(repr, twice))} appear more than once in the header; "
                        "rename them so each column has its own name")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{source}, line 1: missing column(s) {', '.join(map(repr, missing))}; the header has {', '.join(map(repr, header))}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # e.g. a cell over csv's field size limit
            raise DataError(f"{source}, line {reader.line_num + 1}: {e}; cells this long are not text to read (cut them, or "
                            "drop the row)") from None
        cells = [v for v in row.values() if isinstance(v, str)] + [v for v in row.get(None, [])]
        if None in row.values() and not "".join(cells).strip():
            continue  # a line of spaces, not a row of empty cells: a blank line
        start = reader.line_num - sum(v.count("\n") for v in cells)  # the record's first line: blank lines skipped
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"{source}, line {start}: the header has {len(header)} columns but this row has a different number")
        yield start, row


def read_csv(path: Path, columns: tuple[str, ...] = ()) -> Iterator[Record]:
    """Rows as dicts keyed by the header; `columns` must all be in the header."""
    for number, row in csv_rows(read_text(path), str(path), "\t" if path.suffix == ".tsv" else ",", columns):
        yield f"{path}, line {number}", row


def read_records(path: str | Path, columns: tuple[str, ...] = ()) -> Iterator[Record]:
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix in (".csv", ".tsv"):
        return read_csv(path, columns)
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}")


def find_split_file(directory: str | Path, split: str, subdir: str = "") -> Path:
    """`directory/subdir/split.*` (jsonl first, then csv/tsv). `directory/split.*` is used only without a subdir or
    when `directory` is itself named `subdir` (`--data-dir data/sst2 --tasks sst2`): another task's files never are,
    even where the task's own folder lacks this split."""
    directory = Path(directory)
    if subdir and (directory / subdir).is_dir():
        directory = directory / subdir
    elif subdir and directory.name != subdir:
        raise DataError(f"{directory}: no folder {subdir}/ for task {subdir} (expected {directory / subdir}/{split}.jsonl)")
    for suffix in SUFFIXES:
        if (directory / f"{split}{suffix}").is_file():
            return directory / f"{split}{suffix}"
    raise DataError(f"{directory}: no {split}{{{','.join(SUFFIXES)}}} file")
