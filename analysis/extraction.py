"""Reading an extraction (written by `analysis.extract`): the metadata frame, the embedding, and per-layer
parameter blocks on demand. Torch-free, so the explorer's map starts without loading a model stack."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META_COLUMNS = ["row", "id", "task", "source", "target", "prediction", "correct", "label", "output_type", "split"]


@dataclass
class Extraction:
    """A loaded extraction: metadata frame plus the embedding; parameter blocks are read on demand."""
    path: Path
    meta: pd.DataFrame
    embedding: np.ndarray
    info: dict
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def param_columns(self) -> list[str]:
        return self.info["param_columns"]

    def vectors(self, column: str = "embedding") -> np.ndarray:
        if column == "embedding":
            return self.embedding
        if column not in self.param_columns:
            raise ValueError(f"no vector {column!r} in {self.path}; choose embedding or one of "
                             f"{', '.join(self.param_columns) or '(none: this extraction has no generated parameters)'}")
        if column not in self._cache:
            self._cache[column] = _fixed_column(pq.read_table(self.path, columns=[column]), column)
        return self._cache[column]

    def norms(self) -> pd.DataFrame:
        cols = [c.replace("params.", "norm.") for c in self.param_columns]
        return pq.read_table(self.path, columns=cols).to_pandas() if cols else pd.DataFrame(index=self.meta.index)


def _fixed_column(table: pa.Table, column: str) -> np.ndarray:
    arr = table.column(column).combine_chunks()
    return np.asarray(arr.flatten(), dtype=np.float32).reshape(len(arr), arr.type.list_size)


def extraction_path(checkpoint, split: str = "validation") -> Path:
    return Path(checkpoint) / "extraction" / f"{split}.parquet"


def load_extraction(checkpoint_or_file, split: str = "validation") -> Extraction:
    path = Path(checkpoint_or_file)
    path = path if path.suffix == ".parquet" else extraction_path(path, split)
    if not path.exists():
        raise FileNotFoundError(f"no extraction at {path}; run: python -m analysis extract {path.parent.parent}")
    info = json.loads(path.with_suffix(".json").read_text())
    table = pq.read_table(path, columns=META_COLUMNS + ["embedding"])
    return Extraction(path, table.drop(["embedding"]).to_pandas(), _fixed_column(table, "embedding"), info)
