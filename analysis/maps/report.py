"""Cluster quality of a checkpoint's extraction, each score beside its shuffled-label baseline.

    python -m analysis report CKPT [--json] [--vector embedding|params.decoder.3] [--save]
"""
from __future__ import annotations

import argparse
import json

from analysis.cli import checkpoint_command
from analysis.errors import HyperLensError
from analysis.extract.reader import Extraction, load_extraction
from analysis.files import read_json, write_json
from analysis.layout import report_file

from .projection import DEFAULT_MAP, MIN_POINTS, ProjectionSettings, checkpoint_map
from .quality import FACETS, cluster_report, format_report


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
    return {**extraction_report(ext, vector, coords, seed), "checkpoint": str(checkpoint), "split": split}


def saved_report(checkpoint, vector: str = "embedding") -> dict | None:
    """The report `report --save` wrote, when it is of this vector (and of the validation split, as it must be)."""
    f = report_file(checkpoint)
    report = read_json(f) if f.exists() else None
    ours = report is not None and (report.get("vector", "embedding"), report.get("split", "validation")) == (
        vector, "validation")
    return report if ours else None


def _report(a) -> None:
    if a.save and (a.vector, a.split) != ("embedding", "validation"):  # report.json is that one report, nothing else
        raise HyperLensError(f"--save writes {report_file(a.checkpoint)}, the validation split's embedding report "
                             f"that the app and the model card read; the {a.vector} report of the {a.split} split is "
                             "printed only (--json for JSON)")
    r = checkpoint_report(a.checkpoint, a.vector, a.split)
    if a.save:
        print(f"wrote {write_json(r, report_file(a.checkpoint))}")
    print(json.dumps(r, indent=2) if a.json else format_report(r))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = checkpoint_command(sub, "report", "cluster-quality table of a checkpoint's extraction", _report)
    p.add_argument("--json", action="store_true")
    p.add_argument("--save", action="store_true", help="also write CKPT/extraction/report.json (what the app and "
                                                       "the model card read)")
