"""Maps and cluster quality for a checkpoint's extraction.

    python -m analysis project CKPT [--vector embedding|params.decoder.3] [--method umap|pca|tsne] [--dims 2]
    python -m analysis report CKPT [--json] [--vector ...]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .extraction import Extraction, load_extraction
from .projection import MIN_POINTS, ProjectionSettings, project
from .quality import cluster_report, format_report

DEFAULT_MAP = ProjectionSettings(method="umap", n_components=2, seed=0, metric="cosine")
FACETS = ("task", "label", "output_type")


def projection_cache(checkpoint) -> Path:
    return Path(checkpoint) / "extraction" / "projections"


def checkpoint_map(checkpoint, vector: str = "embedding", settings: ProjectionSettings | None = None,
                   split: str = "validation", ext: Extraction | None = None):
    ext = ext or load_extraction(checkpoint, split)
    return project(ext.vectors(vector), settings or DEFAULT_MAP, cache_dir=projection_cache(checkpoint))


def extraction_report(ext: Extraction, vector: str, coords, seed: int = 0) -> dict:
    """Cluster quality of one vector over the task, label and output-type facets; `coords` is the map it is
    shown on (its first two axes score the map's trustworthiness)."""
    facets = {f: ext.meta[f].tolist() for f in FACETS}
    return {**cluster_report(ext.vectors(vector), facets, coords_2d=coords[:, :2], seed=seed), "vector": vector}


def checkpoint_report(checkpoint, vector: str = "embedding", split: str = "validation", seed: int = 0) -> dict:
    ext = load_extraction(checkpoint, split)
    small = len(ext.meta) < MIN_POINTS[DEFAULT_MAP.method]  # too few for UMAP: score the map on PCA axes instead
    settings = ProjectionSettings(method="pca", n_components=2, seed=0) if small else None
    coords = checkpoint_map(checkpoint, vector, settings, split=split, ext=ext).coords
    return {**extraction_report(ext, vector, coords, seed), "checkpoint": str(checkpoint)}


def report_file(checkpoint) -> Path:
    return Path(checkpoint) / "extraction" / "report.json"


def _report(a) -> None:
    r = checkpoint_report(a.checkpoint, a.vector, a.split)
    if a.save:
        from .export import write_json
        print(f"wrote {write_json(r, report_file(a.checkpoint))}")
    print(json.dumps(r, indent=2) if a.json else format_report(r))


def _project(a) -> None:
    s = ProjectionSettings(method=a.method, n_components=a.dims, pca_dims=a.pca_dims, seed=a.seed)
    p = checkpoint_map(a.checkpoint, a.vector, s, a.split)
    print(f"{'cache hit' if p.from_cache else 'fitted'}: {p.key[:12]} ({p.seconds:.1f}s) in {projection_cache(a.checkpoint)}")


def _export(a) -> None:
    from .export import to_parquet, to_projector_tsv
    ext = load_extraction(a.checkpoint, a.split)
    out = Path(a.out or Path(a.checkpoint) / "extraction" / f"export-{a.vector}")
    meta = ext.meta[["id", "task", "label", "output_type", "target", "prediction", "correct"]]
    if a.format == "projector":
        paths = to_projector_tsv(ext.vectors(a.vector), meta, out)
    else:
        frame = meta.assign(**{a.vector: list(ext.vectors(a.vector))})
        paths = (to_parquet(frame, out.parent / f"{out.name}.parquet"),)
    print("wrote " + ", ".join(map(str, paths)))


def add_cli(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="export an extraction's vectors for the TensorBoard Projector or as parquet")
    e.add_argument("checkpoint")
    e.add_argument("--vector", default="embedding")
    e.add_argument("--split", default="validation")
    e.add_argument("--format", choices=("projector", "parquet"), default="projector")
    e.add_argument("--out", help="output folder (projector) or file stem (parquet)")
    e.set_defaults(run=_export)
    for name, fn, help_ in (("report", _report, "cluster-quality table of a checkpoint's extraction"),
                            ("project", _project, "fit (or reuse) a cached 2-D/3-D map of an extraction")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("checkpoint")
        p.add_argument("--vector", default="embedding", help="embedding or a params.<stack>.<layer> column")
        p.add_argument("--split", default="validation")
        p.set_defaults(run=fn)
        if name == "report":
            p.add_argument("--json", action="store_true")
            p.add_argument("--save", action="store_true", help="also write CKPT/extraction/report.json (what the app "
                                                                 "and the model card read)")
        else:
            p.add_argument("--method", default="umap", choices=("umap", "pca", "tsne"))
            p.add_argument("--dims", type=int, default=2, choices=(2, 3))
            p.add_argument("--pca-dims", type=int, help="PCA pre-reduction (e.g. 50)")
            p.add_argument("--seed", type=int, default=0)
