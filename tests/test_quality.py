import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from analysis.maps.quality import cluster_report, format_report

KEYS = {"n", "k", "knn_accuracy", "within_task_label_knn", "within_task_label_knn_mean", "baseline",
        "silhouette", "ari", "nmi", "trustworthiness", "clusters"}


@pytest.fixture(scope="module")
def nested():
    """5 task blobs in 48-d; inside each task a binary label shifts points along one axis (nested labels)."""
    X, y = make_blobs(n_samples=500, centers=5, n_features=48, cluster_std=1.0, random_state=0)
    rng = np.random.default_rng(0)
    label = rng.choice(["yes", "no"], size=len(y))
    X = X + np.where(label == "yes", 2.5, -2.5)[:, None] * np.eye(48)[7]
    facets = {
        "task": np.array([f"task{t}" for t in y], dtype=object),
        "label": label.astype(object),
        "output_type": np.array(["span" if t < 2 else "class" for t in y], dtype=object),
    }
    facets["output_type"][:20] = [None, np.nan, ""] * 6 + [None, None]
    return X.astype(np.float32), facets


@pytest.fixture(scope="module")
def report(nested):
    X, facets = nested
    return cluster_report(X, facets, coords_2d=X[:, :2], seed=0)


def test_report_shape_and_json(report):
    assert set(report) == KEYS and report["n"] == 500 and report["k"] == 10
    assert set(report["knn_accuracy"]) == {"task", "label", "output_type"}
    assert set(report["baseline"]) == {"knn_accuracy", "within_task_label_knn", "within_task_label_knn_mean",
                                       "silhouette", "ari", "nmi"}
    json.dumps(report)
    assert 0 <= report["trustworthiness"] <= 1


def test_separable_blobs_score_high_and_shuffled_labels_sit_at_chance(report):
    assert report["knn_accuracy"]["task"] >= 0.95 and report["ari"]["task"] > 0.8 and report["nmi"]["task"] > 0.8
    assert report["silhouette"]["task"] > 0.3
    base = report["baseline"]
    assert base["knn_accuracy"]["task"] < 0.35  # chance for 5 balanced tasks is 0.2
    assert abs(base["ari"]["task"]) < 0.05 and abs(base["silhouette"]["task"]) < 0.1
    assert base["knn_accuracy"]["output_type"] < 0.7 < report["knn_accuracy"]["output_type"]


def test_within_task_label_accuracy_with_nested_labels(report):
    within = report["within_task_label_knn"]
    assert set(within) == {f"task{t}" for t in range(5)}
    assert min(within.values()) >= 0.95 and report["within_task_label_knn_mean"] >= 0.95
    assert report["baseline"]["within_task_label_knn_mean"] < 0.65  # binary label: chance ~0.5


def test_missing_facet_values_are_excluded(nested):
    X, facets = nested
    only_missing = {"task": facets["task"], "output_type": np.array([None] * 499 + ["span"], dtype=object)}
    result = cluster_report(X, only_missing, label_facet="missing")
    assert result["knn_accuracy"]["output_type"] is None and result["ari"]["output_type"] is None
    assert result["within_task_label_knn"] == {} and result["within_task_label_knn_mean"] is None


def test_clusters_and_format(nested, report):
    X, facets = nested
    assert len(report["clusters"]) == 5 and sum(c["size"] for c in report["clusters"]) == 500
    assert all(c["task_purity"] > 0.95 for c in report["clusters"])
    hdb = cluster_report(X, facets, clustering="hdbscan", min_cluster_size=20)
    assert {c["task"] for c in hdb["clusters"] if c["id"] >= 0} == set(facets["task"])
    text = format_report(report)
    for needle in ("task", "output_type", "within task", "mean", "clusters", "trustworthiness"):
        assert needle in text


def test_a_cluster_of_unlabelled_inputs_is_named_so_not_by_its_few_labelled_rows(nested):
    X, facets = nested
    label = np.array(facets["label"], dtype=object)
    task0 = np.asarray(facets["task"]) == facets["task"][0]
    label[task0] = None  # a generation task: no labels...
    label[np.flatnonzero(task0)[:2]] = "stray"  # ...but for two of its rows
    clusters = cluster_report(X, {**facets, "label": label})["clusters"]
    mostly_unlabelled = next(c for c in clusters if c["task"] == facets["task"][0])
    assert mostly_unlabelled["label"] == "(none)" and mostly_unlabelled["label_purity"] > 0.95


def test_label_baseline_is_shuffled_within_task_like_the_score():
    """Labels named per task ("sentiment: positive", "topic: sports"): kNN finds the task, so a baseline that shuffles
    labels across tasks would sit far below chance within a task and flatter the score."""
    X, y = make_blobs(n_samples=400, centers=4, n_features=16, cluster_std=0.5, random_state=1)
    rng = np.random.default_rng(1)
    label = np.array([f"t{t}-{rng.integers(2)}" for t in y], dtype=object)  # random labels, task-specific words
    report = cluster_report(X.astype(np.float32), {"task": np.array([f"t{t}" for t in y], dtype=object), "label": label})
    assert 0.3 < report["baseline"]["knn_accuracy"]["label"] < 0.7  # chance within a binary task, not 1/8
    assert abs(report["knn_accuracy"]["label"] - report["baseline"]["knn_accuracy"]["label"]) < 0.15  # no real signal
