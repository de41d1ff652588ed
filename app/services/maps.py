"""Which map to show, never fitting UMAP on a page load: a disk-cached projection, an instant PCA, or a slow fit
(UMAP after warm-up, t-SNE) that the user asked for, run in one worker process into the disk cache.

A process, not a thread: numba's compile and UMAP's fit hold the GIL for tens of seconds, which would stall
every page of the app while they run."""
from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import sys
import threading
import time
import types
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.neighbors import unit_rows
from analysis.projection import Projection, ProjectionSettings, cached, fit_to_cache, project, warmup_umap
from analysis.report import DEFAULT_MAP
from app import config


def fallback(settings: ProjectionSettings) -> ProjectionSettings:
    """The instant stand-in for a map that is not computed yet: a seeded PCA of the same dimension."""
    return ProjectionSettings(method="pca", n_components=settings.n_components, seed=0)


FALLBACK_MAP = fallback(DEFAULT_MAP)
MAX_POINTS = 50_000  # per figure (payload and WebGL limits); above it, a stratified sample


def available(X: np.ndarray, settings: ProjectionSettings, shipped: Path) -> Projection | None:
    """The map without waiting: the checkpoint's shipped map or the user cache's; PCA is computed on the spot."""
    hit = cached(X, settings, [shipped, config.CACHE_DIR])
    return hit or (project(X, settings, config.CACHE_DIR) if settings.method == "pca" else None)


def _serve(tasks, results, parent: int) -> None:
    """The worker: run (id, fn, args) tasks one at a time at the lowest priority, so the app and the browser
    keep the CPU; exit with the server even if it was killed."""
    os.nice(19)

    def exit_with_parent():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    while True:
        i, fn, args = tasks.get()
        try:
            results.put((i, None, fn(*args)))
        except Exception as e:  # noqa: BLE001 -- handed to the waiting Future
            results.put((i, e, None))


class Worker:
    """One daemonic worker process with Futures. Daemonic, so the server's shutdown terminates it instead of
    waiting for a UMAP compile to finish (a ProcessPoolExecutor joins its workers at exit)."""

    def __init__(self):
        ctx = multiprocessing.get_context("spawn")
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        for q in (self._tasks, self._results):  # exit must not wait to flush queued maps to a busy worker
            q.cancel_join_thread()
        self._futures: dict[int, Future] = {}
        self._ids = itertools.count()
        self._process = ctx.Process(target=_serve, args=(self._tasks, self._results, os.getpid()), daemon=True)
        # A spawned child re-runs the parent's __main__, which under Streamlit is the app script itself.
        main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
        try:
            self._process.start()
        finally:
            sys.modules["__main__"] = main
        threading.Thread(target=self._collect, daemon=True).start()

    def submit(self, fn, *args) -> Future:
        future, i = Future(), next(self._ids)
        if not self.alive:
            future.set_exception(RuntimeError("the projection worker has stopped"))
            return future
        self._futures[i] = future
        self._tasks.put((i, fn, args))
        return future

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self, why: str) -> None:
        """End the process (a fit cannot be interrupted inside it) and fail whatever it held."""
        self._process.terminate()
        for future in list(self._futures.values()):
            if not future.done():
                future.set_exception(RuntimeError(why))
        self._futures.clear()

    def _collect(self) -> None:
        while True:
            try:
                i, error, value = self._results.get(timeout=1)
            except queue.Empty:
                if not self.alive:  # died (out of memory?): fail what it held, so a retry can start a new one
                    for future in self._futures.values():
                        future.set_exception(RuntimeError("the projection worker died; try again"))
                    self._futures.clear()
                    return
                continue
            future = self._futures.pop(i, None)
            if future is not None and not future.done():
                future.set_exception(error) if error is not None else future.set_result(value)


class ProjectionJobs:
    """One worker process for slow fits, shared by every session; a job is keyed by checkpoint, vector and
    settings. `warm_up` compiles UMAP there first, so the first fit a user asks for starts warm."""

    def __init__(self):
        self._worker = Worker()
        self._jobs: dict[str, Future] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._warm: Future | None = None

    def warm_up(self) -> None:
        with self._lock:
            if self._warm is None:
                self._warm = self._worker.submit(warmup_umap)

    def umap_ready(self) -> bool:
        return self._warm is not None and self._warm.done()

    def submit(self, key: str, X: np.ndarray, settings: ProjectionSettings, shipped: Path) -> Future:
        """Fit in the worker into the user cache, unless the checkpoint's `shipped` folder already has the map."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done() and job.exception() is not None):  # a failed fit may be retried
                if not self._worker.alive:  # it died (out of memory?): start another
                    self._worker = Worker()
                job = self._jobs[key] = self._worker.submit(fit_to_cache, X, settings, config.CACHE_DIR, (shipped,))
                self._started[key] = time.monotonic()
                if settings.method == "umap" and self._warm is None:
                    self._warm = job  # the worker is warm once its first UMAP fit is done
            return job

    def get(self, key: str) -> Future | None:
        return self._jobs.get(key)

    def elapsed(self, key: str) -> float:
        return time.monotonic() - self._started.get(key, time.monotonic())

    def cancel(self, key: str) -> None:
        """Stop a fit that has not finished. The worker process ends (fits queued behind it fail and can be asked
        for again) and a fresh one starts."""
        with self._lock:
            job = self._jobs.pop(key, None)
            if job is None or job.done():
                return
            self._worker.stop("cancelled: another fit was cancelled; compute again")
            self._worker, self._warm = Worker(), None


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
