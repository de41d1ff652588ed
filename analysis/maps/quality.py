"""Cluster-quality report in the original embedding space (cosine), every score beside a shuffled-label baseline
computed the same way (label values are shuffled within their task). kNN runs in chunks (NeighborIndex), pairwise metrics on a seeded sample, so memory
stays bounded at 100k points.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.layout import natural_key

from .neighbors import NeighborIndex, order_keys, unit_rows

FACETS = ("task", "label", "output_type")  # what the conditioning embedding is expected to cluster by
NO_CLASS = "(none)"  # a cluster table's name for rows outside a facet (no label)

DIGITS = 4


@dataclass
class Facet:
    """One facet's valid rows and integer-coded values (rows with None/NaN/"" are left out)."""

    rows: np.ndarray  # indices into X
    codes: np.ndarray  # class id per valid row
    classes: list[str]

    @classmethod
    def encode(cls, values) -> "Facet":
        values = np.asarray(values, dtype=object)
        missing = pd.isna(values) | np.array([isinstance(v, str) and not v for v in values], dtype=bool)
        rows = np.flatnonzero(~missing)
        strings = pd.Series(values[rows]).astype(str)
        classes = sorted(strings.unique(), key=natural_key)
        return cls(rows, pd.Categorical(strings, categories=classes).codes.astype(np.int64), classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def codes_per_row(self, n: int) -> np.ndarray:
        """Class id for each of the n rows of X, -1 where the value is missing."""
        out = np.full(n, -1, dtype=np.int64)
        out[self.rows] = self.codes
        return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), DIGITS)


def _shuffled(codes: np.ndarray, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """A seeded permutation of the codes; with `groups`, each group's codes are permuted among themselves (labels
    within their task: label words differ by task, so a shuffle across tasks would make the baseline too easy)."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.permutation(codes)
    out = codes.copy()
    for g in np.unique(groups):
        at = np.flatnonzero(groups == g)
        out[at] = rng.permutation(codes[at])
    return out


def _loo_neighbors(X: np.ndarray, k: int) -> np.ndarray | None:
    """Leave-one-out k nearest neighbours (cosine) of every row among the other rows; None below 2 rows."""
    if len(X) < 2:
        return None
    return NeighborIndex(X).query(X, min(k, len(X) - 1), exclude=np.arange(len(X)))[0]


def _knn_vote_accuracy(neighbors: np.ndarray, codes: np.ndarray) -> float:
    """Share of rows whose neighbours' majority class is their own; ties go to the nearer neighbour."""
    votes = codes[neighbors]  # (n, k), nearest first
    counts = (votes[:, :, None] == votes[:, None, :]).sum(2)  # how often each neighbour's class occurs
    winner = votes[np.arange(len(votes)), counts.argmax(1)]  # argmax keeps the first, i.e. nearest
    return float((winner == codes).mean())


def _knn_pair(neighbors: np.ndarray | None, codes: np.ndarray, seed: int,
              groups: np.ndarray | None = None) -> tuple[float | None, float | None]:
    if neighbors is None:
        return None, None
    return _knn_vote_accuracy(neighbors, codes), _knn_vote_accuracy(neighbors, _shuffled(codes, seed, groups))


def _silhouettes(X_unit: np.ndarray, facet: Facet, sample: np.ndarray, seed: int,
                 groups: np.ndarray | None = None) -> tuple[float | None, float | None]:
    from sklearn.metrics import silhouette_score

    in_sample = np.isin(facet.rows, sample)
    rows, codes = facet.rows[in_sample], facet.codes[in_sample]
    if not 2 <= len(np.unique(codes)) <= len(rows) - 1:
        return None, None
    D = NeighborIndex(X_unit[rows]).distances(X_unit[rows])  # equal vectors: bit-equal distances
    np.maximum(D, 0, out=D)
    np.fill_diagonal(D, 0)
    score = lambda labels: silhouette_score(D, labels, metric="precomputed")  # noqa: E731
    return score(codes), score(_shuffled(codes, seed, None if groups is None else groups[in_sample]))


def kmeans(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means on unit rows, so it groups by angle as the cosine maps and kNN do."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=min(k, len(X)), random_state=seed, n_init="auto").fit_predict(unit_rows(X))


def _majority(codes: np.ndarray, classes: list[str]) -> tuple[str | None, float | None]:
    """The most frequent class and its share; a tie names every tied class ("nli = paraphrase = sentiment")."""
    if len(codes) == 0:
        return None, None
    counts = np.bincount(codes, minlength=len(classes))
    return " = ".join(classes[i] for i in np.flatnonzero(counts == counts.max())), counts.max() / len(codes)


def _cluster_table(assignments: np.ndarray, task: Facet | None, label: Facet | None) -> list[dict]:
    """One row per cluster (-1 = HDBSCAN's unclustered points), largest first. Rows outside a facet (no label:
    generation tasks) count as its class NO_CLASS, so a cluster of unlabelled inputs is not named by a stray few."""
    described = [(name, f, f.codes_per_row(len(assignments))) for name, f in (("task", task), ("label", label)) if f]
    table = []
    for cluster_id in np.unique(assignments):
        in_cluster = assignments == cluster_id
        row = {"id": int(cluster_id), "size": int(in_cluster.sum())}
        for name, facet, codes in described:
            members = codes[in_cluster]
            members = np.where(members >= 0, members, len(facet.classes))  # outside the facet: NO_CLASS
            majority, purity = _majority(members, [*facet.classes, NO_CLASS])
            row[name], row[f"{name}_purity"] = majority, _round(purity)
        table.append(row)
    return sorted(table, key=lambda r: (r["id"] == -1, -r["size"], r["id"]))


def _agreement_pairs(codes: np.ndarray, clusters: np.ndarray | None, seed: int,
                     groups: np.ndarray | None = None) -> dict[str, tuple]:
    """ARI and NMI of a clustering against the labels and against the shuffled labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if clusters is None:
        return {"ari": (None, None), "nmi": (None, None)}
    shuffled = _shuffled(codes, seed, groups)
    return {name: (score(codes, clusters), score(shuffled, clusters))
            for name, score in (("ari", adjusted_rand_score), ("nmi", normalized_mutual_info_score))}


def _within_task_pairs(X_unit: np.ndarray, task: Facet, label: Facet, k: int, seed: int) -> dict[str, tuple]:
    """Label kNN accuracy with neighbours searched only among the same task's points."""
    task_of_label_row = task.codes_per_row(len(X_unit))[label.rows]
    pairs = {}
    for t, task_name in enumerate(task.classes):
        in_task = task_of_label_row == t
        codes = label.codes[in_task]
        if len(np.unique(codes)) >= 2:
            pairs[task_name] = _knn_pair(_loo_neighbors(X_unit[label.rows[in_task]], k), codes, seed)
    return pairs


def _map_trustworthiness(X_unit: np.ndarray, coords_2d: np.ndarray, sample_rows: np.ndarray, k: int) -> float | None:
    from sklearn.manifold import trustworthiness

    if len(sample_rows) <= 2 * k + 1:  # sklearn needs n_neighbors < n / 2
        return None
    coords = np.asarray(coords_2d, dtype=np.float32)[sample_rows]
    X = X_unit[sample_rows]
    # the kNN's order as distances: equal vectors tie exactly, and ties go to the lower row (sklearn's own sort
    # would break them by its quicksort), so the score is the same on any BLAS and thread count
    ranks = order_keys(NeighborIndex(X).distances(X)).astype(np.float64)
    return trustworthiness(ranks, coords, n_neighbors=k, metric="precomputed")


def cluster_report(
    X: np.ndarray,
    facets: dict[str, object],
    task_facet: str = "task",
    label_facet: str = "label",
    coords_2d: np.ndarray | None = None,
    k: int = 10,
    seed: int = 0,
    sample: int = 5000,
    clustering: str = "kmeans",  # "kmeans" or "hdbscan"
    n_clusters: int | None = None,  # k-means k for `clusters`; default: number of tasks
    min_cluster_size: int = 10,  # HDBSCAN
) -> dict:
    X_unit = unit_rows(X)
    n = len(X_unit)
    if bad := {name: len(v) for name, v in facets.items() if len(v) != n}:
        raise ValueError(f"facets need {n} values each, got {bad}")
    encoded = {name: Facet.encode(values) for name, values in facets.items()}
    sample_rows = np.sort(np.random.default_rng(seed).choice(n, min(n, sample), replace=False))
    metrics = ("knn_accuracy", "within_task_label_knn", "silhouette", "ari", "nmi")
    report, baseline = {m: {} for m in metrics}, {m: {} for m in metrics}

    def record(metric: str, key: str, pair: tuple) -> None:
        report[metric][key], baseline[metric][key] = (_round(v) for v in pair)

    kmeans_runs: dict[tuple[int, bytes], np.ndarray] = {}

    def facet_kmeans(rows: np.ndarray, n_clusters: int) -> np.ndarray:  # facets with equal rows and classes share a run
        key = (n_clusters, rows.tobytes())
        if key not in kmeans_runs:
            kmeans_runs[key] = kmeans(X_unit[rows], n_clusters, seed)
        return kmeans_runs[key]

    all_neighbors = _loo_neighbors(X_unit, k)  # reused by every facet without missing values
    task, label = encoded.get(task_facet), encoded.get(label_facet)
    for name, facet in encoded.items():
        # labels are shuffled within their task, the way the within-task score is measured
        groups = task.codes_per_row(n)[facet.rows] if name == label_facet and task is not None else None
        neighbors = all_neighbors if len(facet.rows) == n else _loo_neighbors(X_unit[facet.rows], k)
        record("knn_accuracy", name, _knn_pair(neighbors, facet.codes, seed, groups))
        record("silhouette", name, _silhouettes(X_unit, facet, sample_rows, seed, groups))
        clusters = facet_kmeans(facet.rows, facet.n_classes) if 2 <= facet.n_classes < len(facet.rows) else None
        for metric, pair in _agreement_pairs(facet.codes, clusters, seed, groups).items():
            record(metric, name, pair)

    if task is not None and label is not None:
        for task_name, pair in _within_task_pairs(X_unit, task, label, k, seed).items():
            record("within_task_label_knn", task_name, pair)
    for target in (report, baseline):
        values = list(target["within_task_label_knn"].values())
        target["within_task_label_knn_mean"] = _round(np.mean(values)) if values else None

    if clustering == "hdbscan":
        from sklearn.cluster import HDBSCAN

        # Euclidean on unit rows ranks neighbours as cosine does, and keeps HDBSCAN on its tree path.
        assignments = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(X_unit)
    else:
        assignments = facet_kmeans(np.arange(n), n_clusters or (task.n_classes if task else 2))
    trust = None if coords_2d is None else _map_trustworthiness(X_unit, coords_2d, sample_rows, k)
    return {
        "n": n,
        "k": k,
        **{m: report[m] for m in ("knn_accuracy", "within_task_label_knn", "within_task_label_knn_mean")},
        "baseline": baseline,
        **{m: report[m] for m in ("silhouette", "ari", "nmi")},
        "trustworthiness": _round(trust),
        "clusters": _cluster_table(assignments, task, label),
    }


METRICS = {"knn_accuracy": "kNN accuracy", "silhouette": "silhouette", "ari": "ARI", "nmi": "NMI"}
EXPLAIN = ("kNN accuracy: how often the k nearest neighbours' majority has the point's own task, label or output "
           "type. Silhouette: how far apart those groups sit, from -1 to 1 (cosine). ARI and NMI: agreement between "
           "a k-means clustering of the same vectors (k = the number of groups in that facet) and the facet's groups; "
           "0 is chance, 1 identical. Labels are scored within each task, and shuffled within each task for the "
           "baseline; regression scores count as labels once binned to integers. The label row pools every task's "
           "labelled instances (neighbours may come from other tasks); the within-task table takes neighbours within "
           "each task and averages the tasks. Each draws its own shuffle, so equal scores can have baselines a "
           "hundredth or so apart.")
CLUSTERS_EXPLAIN = ("Each cluster's most common task and label, and their share of the cluster (purity); tied ones are "
                    f"joined by '='. {NO_CLASS}: inputs with no label (generation tasks such as QA or slots).")


def score_pair(value: float | None, base: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}" + ("" if base is None else f" ({base:.3f})")


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
    """Label kNN accuracy within each task and its mean, beside the baseline shuffled within each task."""
    base = report["baseline"]["within_task_label_knn"]
    rows = [{"task": t, "label kNN accuracy": v, "shuffled": base.get(t)}
            for t, v in report["within_task_label_knn"].items()]
    if rows:
        rows.append({"task": "mean", "label kNN accuracy": report["within_task_label_knn_mean"],
                     "shuffled": report["baseline"]["within_task_label_knn_mean"]})
    return pd.DataFrame(rows)


def clusters_table(report: dict) -> pd.DataFrame:
    return pd.DataFrame(report["clusters"])


def summary(report: dict) -> pd.Series:
    """The headline numbers as "score (shuffled baseline)": one column per checkpoint when comparing."""
    base, rows = report["baseline"], {}
    for facet, value in report["knn_accuracy"].items():
        rows[f"kNN accuracy · {facet}"] = score_pair(value, base["knn_accuracy"].get(facet))
    rows["label kNN accuracy within task (mean)"] = score_pair(report["within_task_label_knn_mean"],
                                                               base["within_task_label_knn_mean"])
    for facet, value in report["silhouette"].items():
        rows[f"silhouette · {facet}"] = score_pair(value, base["silhouette"].get(facet))
    for facet in report["ari"]:
        ari, nmi = (score_pair(report[m][facet], base[m].get(facet)) for m in ("ari", "nmi"))
        rows[f"k-means ARI / NMI · {facet}"] = f"{ari} / {nmi}"
    rows["trustworthiness of the 2-D map"] = score_pair(report.get("trustworthiness"), None)
    return pd.Series(rows, name="score (shuffled)")


def format_report(report: dict) -> str:
    """Plain text for the command line: the same tables the explorer shows."""
    three = lambda v: "n/a" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    parts = [f"n={report['n']}  k={report['k']}  (shuffled-label baseline beside each score)",
             textwrap.fill(EXPLAIN, 116), "",
             facet_table(report).to_string(index=False, na_rep="n/a", float_format=three)]
    if not (within := within_task_table(report)).empty:
        parts += ["", "label kNN accuracy within task", within.to_string(index=False, na_rep="n/a", float_format=three)]
    if report["trustworthiness"] is not None:
        parts += ["", f"trustworthiness@{report['k']} of the 2-D map: {report['trustworthiness']:.3f}"]
    if report["clusters"]:
        parts += ["", "k-means clusters (original space)", CLUSTERS_EXPLAIN,
                  clusters_table(report).to_string(index=False, na_rep="-", float_format=three)]
    return "\n".join(parts)
