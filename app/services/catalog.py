"""Checkpoints the explorer can open: every directory with a config.json under the checkpoint dirs or the runs dir."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.layout import CONFIG, EXTRACTION, METRICS, PARAMS, WEIGHTS, extraction_file, report_file, training_seconds

WATCHED = (CONFIG, WEIGHTS, METRICS, PARAMS, f"{EXTRACTION}/validation.parquet", f"{EXTRACTION}/report.json")


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
    def adapts_per(self) -> str:
        return adapts_per(json_object(self.dir / CONFIG)[0])

    @property
    def has_extraction(self) -> bool:
        return extraction_file(self.dir).exists()


def discover(checkpoint_dirs: list[Path], runs_dir: Path) -> dict[str, Path]:
    """Name -> directory; a name found twice is qualified by its parent folder ("runs/x")."""
    found = [p.parent for d in [*checkpoint_dirs, runs_dir] if d.is_dir() for p in sorted(d.glob(f"*/{CONFIG}"))]
    names = [p.name for p in found]
    return {(p.name if names.count(p.name) == 1 else f"{p.parent.name}/{p.name}"): p for p in found}


def pick_default(names: list[str], preferred: str) -> str | None:
    return preferred if preferred in names else (names[0] if names else None)


def metrics_table(path: Path) -> pd.DataFrame | None:
    """metrics.json ({"tasks": {task: {metric: value}}, "average": v}) as one row per task and metric."""
    f = path / METRICS
    if not f.exists():
        return None
    m, problem = json_object(f)
    if problem:
        raise ValueError(f"{f}: {problem}; rerun `python -m analysis evaluate` to rewrite it")
    rows = [{"task": t, "metric": k, "value": v} for t, scores in m.get("tasks", {}).items() for k, v in scores.items()]
    rows.append({"task": "average", "metric": "", "value": m.get("average")})
    return pd.DataFrame(rows).round({"value": 2})


def json_object(path: Path) -> tuple[dict, str | None]:
    """A JSON object file's content ({} when absent or damaged), and what is wrong with it when it is damaged."""
    if not path.is_file():
        return {}, None
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, f"{path.name} is not valid JSON"
    return (content, None) if isinstance(content, dict) else ({}, f"{path.name} is not a JSON object")


def _ranking_row(name: str, path: Path, metrics: dict, report: dict, config: dict, params: dict) -> dict:
    base = report.get("baseline", {})
    knn = lambda v, b: f"{v:.2f} ({b:.2f})" if v is not None and b is not None else None  # noqa: E731
    average, scores = metrics.get("average"), metrics.get("tasks", {})
    row = {"checkpoint": name, "method": config.get("method", "?"), "adapts per": adapts_per(config),
           "tasks": len(scores) or None, "average": None if average is None else float(average)}
    reserved = (*LEADING, *TRAILING)  # a custom task may be called "tasks" or "note": its column must not replace those
    row.update({(f"{t} (task)" if t in reserved else t): round(sum(m.values()) / len(m), 1)
                for t, m in sorted(scores.items()) if m})
    row["task kNN"] = knn(report.get("knn_accuracy", {}).get("task"), base.get("knn_accuracy", {}).get("task"))
    row["label kNN"] = knn(report.get("within_task_label_knn_mean"), base.get("within_task_label_knn_mean"))
    row["trainable"] = f"{params['trainable'] / 1e6:.2f}M" if "trainable" in params else None
    row["minutes"] = round(seconds / 60, 1) if (seconds := training_seconds(path)) is not None else None
    return row


LEADING = ("checkpoint", "method", "adapts per", "tasks", "average")  # the ranking's columns around the tasks'
TRAILING = ("task kNN", "label kNN", "trainable", "minutes", "note")


def ranking(paths: dict[str, Path]) -> pd.DataFrame:
    """One row per checkpoint, the most tasks first, then the best average (over its own tasks): each task's score
    (the mean of its metrics, as the average takes it), how well the conditioning embedding clusters by task and by
    label within a task ("task kNN", "label kNN": kNN accuracy, its shuffled-label baseline in parentheses), trainable
    parameters and training minutes."""
    rows = []
    for name, path in paths.items():
        (metrics, bad_metrics), (report, bad_report) = json_object(path / METRICS), json_object(report_file(path))
        (config, _), (params, bad_params) = json_object(path / CONFIG), json_object(path / PARAMS)
        problems = [p for p in (bad_metrics, bad_report, bad_params) if p]
        try:
            rows.append(_ranking_row(name, path, metrics, report, config, params))
        except (TypeError, ValueError, AttributeError, KeyError) as e:  # a damaged one says why; the rest still rank
            rows.append({"checkpoint": name, "method": str(config.get("method", "?")), "average": None})
            problems.append(f"unexpected content in metrics.json, report.json or params.json ({type(e).__name__}: {e})")
        if problems:
            rows[-1]["note"] = "; ".join(problems)
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    tasks = sorted(set(table.columns) - set(LEADING) - set(TRAILING))  # a later run's own task joins the others
    table = table.reindex(columns=[c for c in (*LEADING, *tasks, *TRAILING) if c in table.columns or c in LEADING])
    return table.sort_values(["tasks", "average"], ascending=False, na_position="last")


NOT_METHODS = {"__init__", "base", "layers", "registry"}  # analysis/model/methods modules that define no method


def method_names() -> list[str]:
    """The methods `analysis train` knows: one module each in analysis/model/methods, named like the method. Read from
    the folder, so a page that only lists them does not import torch (a test checks they match the registry)."""
    import analysis
    folder = Path(analysis.__file__).parent / "model" / "methods"
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in NOT_METHODS)


def adapts_per(config: dict) -> str:
    """From config.json; a run saved before it recorded this asks the method registry (which imports torch)."""
    if "adapts_per" in config or "method" not in config:
        return config.get("adapts_per", "?")
    from analysis.model.methods import REGISTRY
    return REGISTRY[config["method"]].adapts_per if config["method"] in REGISTRY else "?"


def default_pair(table: pd.DataFrame) -> list[str]:
    """The best per-input model against the best per-task one (the comparison the Hyperdecoder paper makes);
    failing either, the two best checkpoints."""
    best = [table.loc[table["adapts per"] == kind, "checkpoint"].head(1).tolist() for kind in ("input", "task")]
    pair = [b[0] for b in best if b]
    for name in table["checkpoint"]:
        if len(pair) < 2 and name not in pair:
            pair.append(name)
    return pair
