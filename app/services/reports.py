"""Cluster-quality reports as tables, and the precomputed CKPT/extraction/report.json when present."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


METRICS = {"knn_accuracy": "kNN accuracy", "silhouette": "silhouette", "ari": "ARI", "nmi": "NMI"}
EXPLAIN = ("kNN accuracy: how often the 10 nearest neighbours' majority has the point's own task, label or output type. "
           "Silhouette: how far apart those groups sit, from -1 to 1. ARI and NMI: agreement between a k-means "
           "clustering of the same vectors (k = the number of groups in that facet) and the facet's groups; 0 is "
           "chance, 1 identical. Labels are scored within each task and shuffled within each task for the baseline.")


def precomputed(checkpoint: Path, vector: str) -> dict | None:
    f = Path(checkpoint) / "extraction" / "report.json"
    if not f.exists():
        return None
    report = json.loads(f.read_text())
    return report if report.get("vector", "embedding") == vector else None


def facet_table(report: dict) -> pd.DataFrame:
    """Facet x metric, each score beside its shuffled-label baseline."""
    base = report["baseline"]
    rows = []
    for facet in report["knn_accuracy"]:
        row = {"facet": facet}
        for key, title in METRICS.items():
            row[title], row[f"{title} (shuffled)"] = report[key].get(facet), base[key].get(facet)
        rows.append(row)
    return pd.DataFrame(rows)


def within_task_table(report: dict) -> pd.DataFrame:
    base = report["baseline"]["within_task_label_knn"]
    rows = [{"task": t, "label kNN accuracy": v, "shuffled": base.get(t)} for t, v in report["within_task_label_knn"].items()]
    if rows:
        rows.append({"task": "mean", "label kNN accuracy": report["within_task_label_knn_mean"],
                     "shuffled": report["baseline"]["within_task_label_knn_mean"]})
    return pd.DataFrame(rows)


def clusters_table(report: dict) -> pd.DataFrame:
    return pd.DataFrame(report["clusters"])


def summary_table(report: dict) -> pd.DataFrame:
    """One column of headline numbers, for side-by-side comparison of checkpoints."""
    base = report["baseline"]
    rows = {f"kNN acc · {f}": f"{v:.3f} ({base['knn_accuracy'][f]:.3f})" for f, v in report["knn_accuracy"].items()
            if v is not None}
    mean, mean_base = report["within_task_label_knn_mean"], base["within_task_label_knn_mean"]
    if mean is not None:
        rows["label kNN within task"] = f"{mean:.3f} ({mean_base:.3f})"
    rows.update({f"silhouette · {f}": f"{v:.3f}" for f, v in report["silhouette"].items() if v is not None})
    if report.get("trustworthiness") is not None:
        rows["map trustworthiness"] = f"{report['trustworthiness']:.3f}"
    return pd.DataFrame({"value (shuffled)": rows})
