"""Reading an extraction (written by `analysis.extract.writer`): the metadata frame, the embedding, and per-layer
parameter blocks on demand. Torch-free, so the explorer's map starts without loading a model stack."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.errors import HyperLensError
from analysis.files import read_json
from analysis.layout import extraction_file

META_COLUMNS = ["row", "id", "task", "source", "target", "prediction", "correct", "label", "output_type", "split"]


@dataclass
class Extraction:
    """A loaded extraction: metadata frame plus the embedding; parameter blocks are read on demand."""
    path: Path
    meta: pd.DataFrame
    embedding: np.ndarray
    info: dict
    _cache: dict = field(default_factory=dict, repr=False)  # column -> matrix; one Extraction serves every session
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def param_columns(self) -> list[str]:
        return self.info["param_columns"]

    def vectors(self, column: str = "embedding") -> np.ndarray:
        if column == "embedding":
            return self.embedding
        if column not in self.param_columns:
            raise ValueError(f"no vector {column!r} in {self.path}; choose embedding or one of "
                             f"{', '.join(self.param_columns) or '(none: this extraction has no generated parameters)'}")
        with self._lock:
            if column not in self._cache:
                self._cache[column] = _fixed_column(pq.read_table(self.path, columns=[column]), column)
            return self._cache[column]

    def norms(self) -> pd.DataFrame:
        cols = [c.replace("params.", "norm.") for c in self.param_columns]
        return pq.read_table(self.path, columns=cols).to_pandas() if cols else pd.DataFrame(index=self.meta.index)


def _fixed_column(table: pa.Table, column: str) -> np.ndarray:
    """A fixed-size-list column (float16 or float32 on disk) as a float32 matrix; non-finite values are refused."""
    arr = table.column(column).combine_chunks()
    if not pa.types.is_fixed_size_list(arr.type):
        raise ValueError(f"column {column!r} of the extraction is {arr.type}, not a fixed-size vector: the file was "
                         "rewritten by another tool; run python -m analysis extract --overwrite")
    values = np.asarray(arr.flatten(), dtype=np.float32).reshape(len(arr), arr.type.list_size)
    if not np.isfinite(values).all():
        raise ValueError(f"column {column!r} holds NaN or infinite values: the extraction is damaged; "
                         "run python -m analysis extract --overwrite")
    return values


def load_extraction(checkpoint_or_file, split: str = "validation") -> Extraction:
    path = Path(checkpoint_or_file)
    path = path if path.suffix == ".parquet" else extraction_file(path, split)
    if not path.exists():
        split_option = "" if path.stem == "validation" else f" --split {path.stem}"
        raise FileNotFoundError(f"no extraction at {path}; run: python -m analysis extract {path.parent.parent}"
                                f"{split_option}")
    redo = f"run python -m analysis extract {path.parent.parent} --overwrite"
    if not path.with_suffix(".json").is_file():
        raise HyperLensError(f"the extraction at {path} is incomplete: {path.with_suffix('.json').name} is missing; {redo}")
    info = read_json(path.with_suffix(".json"))
    if not isinstance(info, dict) or not (isinstance(info.get("param_columns", []), list)
                                          and all(isinstance(c, str) for c in info.get("param_columns", []))):
        raise HyperLensError(f"{path.with_suffix('.json')} is not an extraction's description (param_columns should be "
                             f"a list of names); {redo}")
    info.setdefault("param_columns", [])
    try:
        table = pq.read_table(path, columns=META_COLUMNS + ["embedding"])
    except (pa.ArrowException, OSError) as e:
        names = _column_names(path)
        missing = [c for c in META_COLUMNS + ["embedding"] if c not in names]
        why = ("not a readable parquet file: truncated or damaged" if not names else
               f"no column(s) {', '.join(missing)}" if missing else str(e).splitlines()[0])
        raise HyperLensError(f"{path} cannot be read as an extraction ({why}); {redo}") from None
    if table.num_rows == 0:
        raise HyperLensError(f"the extraction at {path} has no rows; {redo}")
    meta = table.drop(["embedding"]).to_pandas()
    meta["prediction"] = scored_form(meta)
    return Extraction(path, meta, _fixed_column(table, "embedding"), info)


def _column_names(path: Path) -> list[str]:
    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        return []


def scored_form(meta: pd.DataFrame) -> pd.Series:
    """Predictions as they are scored. One-tag-per-word outputs are decoded word piece by word piece ("b - origin");
    shown as the canonical tags the metric reads ("b-origin"), they line up with their targets."""
    from analysis.data.tasks.tagging import encode_tag, is_tag_sequence, parse_tags

    rows = meta["output_type"].eq("tags") & meta["prediction"].notna()
    rows &= meta["target"].map(is_tag_sequence)
    scored = meta["prediction"].copy()
    scored[rows] = meta.loc[rows, "prediction"].map(lambda p: " ".join(map(encode_tag, parse_tags(p))))
    return scored
