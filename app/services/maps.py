"""Which map to show, never fitting UMAP on a page load: a disk-cached projection, an instant PCA, or a slow fit
(UMAP after warm-up, t-SNE) that the user asked for, run in one worker process into the disk cache.

A process, not a thread: numba's compile and UMAP's fit hold the GIL for tens of seconds, which would stall
every page of the app while they run."""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.neighbors import unit_rows
from analysis.projection import Projection, ProjectionSettings, fit_to_cache, project, warmup_umap
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


def _worker_init(parent: int) -> None:
    """Runs in the worker: yield the CPU to the app and the browser, and exit with the server (a worker left
    behind by a killed server would go on compiling)."""
    os.nice(19)

    def exit_with_parent():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=exit_with_parent, daemon=True).start()


def _worker_pool() -> ProcessPoolExecutor:
    """A one-process pool with its worker started now. A spawned child re-runs the parent's __main__, which
    under Streamlit is the app script itself, so a bare module stands in for it while the child starts."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                               initargs=(os.getpid(),))
    main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
    try:
        pool.submit(int)  # spawns the worker (Python starts pool processes on the first submit)
    finally:
        sys.modules["__main__"] = main
    return pool


class ProjectionJobs:
    """One worker process for slow fits, shared by every session; a job is keyed by checkpoint, vector and
    settings. `warm_up` compiles UMAP there first, so the first fit a user asks for starts warm."""

    def __init__(self):
        self._pool = _worker_pool()
        self._jobs: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._warm: Future | None = None

    def warm_up(self) -> None:
        with self._lock:
            if self._warm is None:
                self._warm = self._pool.submit(warmup_umap, False)

    def umap_ready(self) -> bool:
        return self._warm is not None and self._warm.done()

    def submit(self, key: str, X: np.ndarray, settings: ProjectionSettings, cache_dir: Path) -> Future:
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done() and job.exception() is not None):  # a failed fit may be retried
                if isinstance(job and job.exception(), BrokenProcessPool):  # the worker died (out of memory?)
                    self._pool = _worker_pool()
                job = self._jobs[key] = self._pool.submit(fit_to_cache, X, settings, cache_dir)
                if settings.method == "umap" and self._warm is None:
                    self._warm = job  # the worker is warm once its first UMAP fit is done
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
