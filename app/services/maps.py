"""Which map to show, never fitting UMAP on a page load: a disk-cached projection, an instant PCA, or a slow fit
(UMAP after warm-up, t-SNE) that the user asked for, run on one background thread into the disk cache."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.neighbors import unit_rows
from analysis.projection import Projection, ProjectionSettings, project, warmup_umap
from analysis.report import DEFAULT_MAP


def fallback(settings: ProjectionSettings) -> ProjectionSettings:
    """The instant stand-in for a map that is not computed yet: a seeded PCA of the same dimension."""
    return ProjectionSettings(method="pca", n_components=settings.n_components, seed=0)


FALLBACK_MAP = fallback(DEFAULT_MAP)
MAX_POINTS = 50_000  # per figure (EXPLORER.md §4: payload and WebGL limits); above it, a stratified sample


def available(X: np.ndarray, settings: ProjectionSettings, cache_dir: Path) -> Projection | None:
    """The map without waiting: PCA is computed on the spot, UMAP/t-SNE only come from the disk cache."""
    if settings.method == "pca" or (Path(cache_dir) / f"{settings.key(X)}.npy").exists():
        return project(X, settings, cache_dir)
    return None


def _fit(X: np.ndarray, settings: ProjectionSettings, cache_dir: Path) -> Projection:
    if settings.method == "umap":
        warmup_umap(background=False)  # joins the warm-up started at app start; then the fit holds UMAP_LOCK
    return project(X, settings, cache_dir)


class ProjectionJobs:
    """One worker thread for slow fits, shared by every session; a job is keyed by checkpoint, vector and settings."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="projection")
        self._jobs: dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, X: np.ndarray, settings: ProjectionSettings, cache_dir: Path) -> Future:
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done() and job.exception() is not None):  # a failed fit may be retried
                job = self._jobs[key] = self._pool.submit(_fit, X, settings, cache_dir)
            return job

    def get(self, key: str) -> Future | None:
        return self._jobs.get(key)


def kmeans_labels(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means in the original space (unit rows, so it groups by angle as the cosine maps do)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=min(k, len(X)), random_state=seed, n_init="auto").fit_predict(unit_rows(X))


def stratified_sample(meta: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Positions of at most max_points rows, each task keeping its share (never the first N)."""
    if len(meta) <= max_points:
        return np.arange(len(meta))
    frac = max_points / len(meta)
    picked = meta.reset_index(drop=True).groupby("task", group_keys=False).sample(frac=frac, random_state=seed)
    return np.sort(picked.index.to_numpy())
