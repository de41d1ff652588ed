"""Checkpoints the explorer can open: every directory with a config.json under the checkpoint dirs or the runs dir."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.extraction import extraction_path

WATCHED = ("config.json", "adapter_model.safetensors", "metrics.json", "extraction/validation.parquet")


@dataclass(frozen=True)
class Ckpt:
    """A checkpoint as a cache key: its path and a stamp that changes whenever its files are rewritten."""
    name: str
    path: str
    stamp: str

    @property
    def dir(self) -> Path:
        return Path(self.path)

    @classmethod
    def at(cls, name: str, path: Path) -> "Ckpt":
        mtimes = [str((path / f).stat().st_mtime_ns) for f in WATCHED if (path / f).exists()]
        return cls(name, str(path), "-".join(mtimes))

    @property
    def has_extraction(self) -> bool:
        return extraction_path(self.dir).exists()


def discover(checkpoint_dirs: list[Path], runs_dir: Path) -> dict[str, Path]:
    """Name -> directory; a name found twice is qualified by its parent folder ("runs/x")."""
    found = [p.parent for d in [*checkpoint_dirs, runs_dir] if d.is_dir() for p in sorted(d.glob("*/config.json"))]
    names = [p.name for p in found]
    return {(p.name if names.count(p.name) == 1 else f"{p.parent.name}/{p.name}"): p for p in found}


def pick_default(names: list[str], preferred: str) -> str | None:
    return preferred if preferred in names else (names[0] if names else None)


def metrics_table(path: Path) -> pd.DataFrame | None:
    """metrics.json ({"tasks": {task: {metric: value}}, "average": v}) as one row per task and metric."""
    f = path / "metrics.json"
    if not f.exists():
        return None
    m = json.loads(f.read_text())
    rows = [{"task": t, "metric": k, "value": v} for t, scores in m.get("tasks", {}).items() for k, v in scores.items()]
    rows.append({"task": "average", "metric": "", "value": m.get("average")})
    return pd.DataFrame(rows).round({"value": 2})
