"""Atomic file writes, TensorBoard Projector TSVs and parquet export (pandas objects in, no pandas import)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_TSV_UNSAFE = re.compile(r"[\t\r\n]+")


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; what it becomes is an ordinary shared file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj, path: str | Path) -> Path:
    """Pretty, key-sorted JSON, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return Path(path)


def _tsv_cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _TSV_UNSAFE.sub(" ", str(value))


def to_projector_tsv(X: np.ndarray, metadata, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `vectors.tsv` (no header) and `metadata.tsv` for the TensorBoard Projector.

    The Projector reads a header row only when there are two or more columns, so a
    single-column frame is written without one (otherwise its header would count as a point).
    """
    X = np.asarray(X)
    if X.ndim != 2 or len(X) != len(metadata):
        raise ValueError(f"need a 2-D matrix with one metadata row per vector, got {X.shape} and {len(metadata)} rows")
    out_dir = Path(out_dir)
    vectors_path, metadata_path = out_dir / "vectors.tsv", out_dir / "metadata.tsv"
    with atomic_path(vectors_path) as tmp:
        np.savetxt(tmp, X, fmt="%.6g", delimiter="\t")
    lines = [[_tsv_cell(v) for v in row] for row in metadata.itertuples(index=False)]
    if metadata.shape[1] > 1:
        lines.insert(0, [_tsv_cell(c) for c in metadata.columns])
    with atomic_path(metadata_path) as tmp:
        tmp.write_text("".join("\t".join(row) + "\n" for row in lines), encoding="utf-8")
    return vectors_path, metadata_path


def to_parquet(df, path: str | Path) -> Path:
    """Write a DataFrame to parquet atomically (readers never see a half-written file)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp)
    return Path(path)
