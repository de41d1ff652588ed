"""An extraction's vectors for other tools: TensorBoard Projector TSVs or one parquet file.

    python -m analysis export CKPT [--vector embedding] [--format projector|parquet] [--out PATH]
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from analysis.cli import checkpoint_command
from analysis.errors import HyperLensError
from analysis.extract.reader import load_extraction
from analysis.files import atomic_path, check_output_file
from analysis.layout import extraction_dir, extraction_file

_TSV_UNSAFE = re.compile(r"[\t\r\n]+")


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


def _export(a) -> None:
    ext = load_extraction(a.checkpoint, a.split)
    out = Path(a.out or extraction_dir(a.checkpoint) / f"export-{a.vector}")
    meta = ext.meta[["id", "task", "label", "output_type", "target", "prediction", "correct"]]
    parquet = out if out.suffix == ".parquet" else out.parent / f"{out.name}.parquet"  # a stem or a file name
    targets = [out / "vectors.tsv", out / "metadata.tsv"] if a.format == "projector" else [parquet]
    extraction = extraction_file(a.checkpoint, a.split)
    if {p.resolve() for p in targets} & {extraction.resolve(), extraction.with_suffix(".json").resolve()}:
        raise HyperLensError(f"--out {a.out} would replace the extraction itself; choose another --out")
    for p in targets:
        check_output_file(p, overwrite=True)  # a folder in a file's place, or a parent that is a file
    existing = [str(p) for p in targets if p.exists()]
    if existing and not a.overwrite:
        raise HyperLensError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace, or choose "
                             "another --out")
    if a.format == "projector":
        paths = to_projector_tsv(ext.vectors(a.vector), meta, out)
    else:
        frame = meta.assign(**{a.vector: list(ext.vectors(a.vector))})
        paths = (to_parquet(frame, parquet),)
    print("wrote " + ", ".join(map(str, paths)))


def add_cli(sub: argparse._SubParsersAction) -> None:
    e = checkpoint_command(sub, "export", "export an extraction's vectors for the TensorBoard Projector or as parquet",
                           _export)
    e.add_argument("--format", choices=("projector", "parquet"), default="projector")
    e.add_argument("--out", help="output folder (projector), or file (parquet: .parquet is added unless given)")
    e.add_argument("--overwrite", action="store_true", help="replace files already at --out")
