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
import weakref
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.maps.projection import (
    Projection,
    ProjectionSettings,
    cached,
    fit_to_cache,
    project,
    warmup_umap,
)
from app import config


def fallback(settings: ProjectionSettings) -> ProjectionSettings:
    """The instant stand-in for a map that is not computed yet: a seeded PCA of the same dimension."""
    return ProjectionSettings(method="pca", n_components=settings.n_components, seed=0)


MAX_POINTS = 50_000  # per figure (payload and WebGL limits); above it, a stratified sample


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
                    for future in list(self._futures.values()):
                        if not future.done():
                            future.set_exception(RuntimeError("the projection worker died; try again"))
                    self._futures.clear()
                    return
                continue
            future = self._futures.pop(i, None)
            if future is not None and not future.done():
                future.set_exception(error) if error is not None else future.set_result(value)


class JobStatus(NamedTuple):
    state: str              # "none" (never asked), "running" or "failed"
    seconds: float = 0.0    # since it was asked for
    error: str = ""


class ProjectionManager:
    """Every map the app shows, shared by all sessions and keyed by one content hash (the vectors' bytes and the
    settings, `ProjectionSettings.key`). `get` never waits for a slow fit: it returns a shipped or cached map, or
    computes PCA on the spot. `submit` fits UMAP or t-SNE in one worker process into the user cache; `status`
    and `cancel` follow it. `warm_up` compiles UMAP in the worker first, so the first fit a user asks for
    starts warm."""

    def __init__(self, memory: int = 16):
        self._worker: Worker | None = None  # started on the first fit or warm-up
        self._jobs: dict[str, tuple[Future, float]] = {}
        self._maps: OrderedDict[str, Projection] = OrderedDict()  # the last `memory` maps drawn
        self._keys: dict[tuple, tuple[weakref.ref, str]] = {}  # (id(vectors), settings) -> key
        self._memory = memory
        self._lock = threading.Lock()
        self._warm: Future | None = None

    def key(self, X: np.ndarray, settings: ProjectionSettings) -> str:
        """`settings.key(X)`, remembered per array: hashing the vectors on every rerun would cost more than
        drawing the map (the extraction hands out the same array each time)."""
        memo = (id(X), settings)
        with self._lock:
            ref, key = self._keys.get(memo, (None, ""))
        if ref is not None and ref() is X:
            return key
        key = settings.key(X)
        with self._lock:
            if len(self._keys) > 256:
                self._keys = {m: v for m, v in self._keys.items() if v[0]() is not None}
            self._keys[memo] = (weakref.ref(X), key)
        return key

    def get(self, X: np.ndarray, settings: ProjectionSettings, shipped: Path) -> Projection | None:
        """The map without waiting: remembered, shipped with the checkpoint, in the user cache, or a PCA computed
        now. None when it needs a fit; a miss is not remembered, so a finished fit shows on the next call."""
        key = self.key(X, settings)
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return self._maps[key]
        hit = cached(X, settings, [shipped, config.CACHE_DIR], key)
        if hit is None and settings.method == "pca":
            hit = project(X, settings, config.CACHE_DIR)
        if hit is not None:
            with self._lock:
                self._maps[key] = hit
                while len(self._maps) > self._memory:
                    self._maps.popitem(last=False)
        return hit

    def submit(self, X: np.ndarray, settings: ProjectionSettings, shipped: Path) -> str:
        """Fit in the worker into the user cache (unless `shipped` already has the map); returns the job's key."""
        key = self.key(X, settings)
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job[0].done() and job[0].exception() is not None):  # a failed fit may be retried
                future = self._running_worker().submit(fit_to_cache, X, settings, config.CACHE_DIR, (shipped,))
                self._jobs[key] = (future, time.monotonic())
                if settings.method == "umap" and self._warm is None:
                    self._warm = future  # the worker is warm once its first UMAP fit is done
        return key

    def status(self, key: str) -> JobStatus:
        job = self._jobs.get(key)
        if job is None or (job[0].done() and job[0].exception() is None):
            return JobStatus("none")
        future, started = job
        if future.done():
            return JobStatus("failed", time.monotonic() - started, str(future.exception()))
        return JobStatus("running", time.monotonic() - started)

    def result(self, key: str, timeout: float | None = None):
        """Wait for a submitted fit (tests and scripts; pages poll `status`)."""
        return self._jobs[key][0].result(timeout=timeout)

    def cancel(self, key: str) -> None:
        """Stop a fit that has not finished. The worker process ends (fits queued behind it fail and can be asked
        for again) and a fresh one starts."""
        with self._lock:
            future, _ = self._jobs.pop(key, (None, 0.0))
            if future is None or future.done():
                return
            self._worker.stop("cancelled: another fit was cancelled; compute again")
            self._worker, self._warm = None, None

    def warm_up(self) -> None:
        with self._lock:
            if self._warm is None:
                self._warm = self._running_worker().submit(warmup_umap)

    def umap_ready(self) -> bool:
        return self._warm is not None and self._warm.done()

    def _running_worker(self) -> Worker:
        """The worker, started when first needed or again after it died (out of memory?); call under the lock."""
        if self._worker is None or not self._worker.alive:
            self._worker = Worker()
        return self._worker


def stratified_sample(meta: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Positions of at most max_points rows, each task keeping its share (never the first N)."""
    if len(meta) <= max_points:
        return np.arange(len(meta))
    frac = max_points / len(meta)
    picked = meta.reset_index(drop=True).groupby("task", group_keys=False).sample(frac=frac, random_state=seed)
    return np.sort(picked.index.to_numpy())
