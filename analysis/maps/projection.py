"""2-D/3-D maps of embedding matrices (UMAP, PCA, t-SNE), seeded, content-keyed and cached on disk.

    python -m analysis project CKPT [--vector embedding|params.decoder.3] [--method umap|pca|tsne] [--dims 2]

umap/sklearn are imported inside functions so that importing this module stays cheap.
Every UMAP fit/transform holds UMAP_LOCK: umap/numba is not thread-safe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from analysis.cli import checkpoint_command, number
from analysis.files import atomic_path, write_json
from analysis.layout import projection_cache

from .neighbors import unit_rows

UMAP_LOCK = threading.RLock()
METHODS = ("umap", "pca", "tsne")


@dataclass(frozen=True)
class ProjectionSettings:
    method: str = "umap"  # "umap" | "pca" | "tsne"
    n_components: int = 2  # 2-D or 3-D map
    pca_dims: int | None = None  # PCA pre-reduction (e.g. 50) before UMAP/t-SNE; None keeps all dims
    seed: int | None = 0  # None: unseeded UMAP, parallel but not reproducible
    metric: str = "cosine"  # input-space metric for UMAP and t-SNE
    n_neighbors: int = 15  # UMAP
    min_dist: float = 0.1  # UMAP
    perplexity: float = 30.0  # t-SNE

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self, X: np.ndarray) -> str:
        """sha256 of the array (shape, dtype, bytes) and the sorted-JSON settings."""
        X = np.ascontiguousarray(X)
        h = hashlib.sha256(json.dumps({"shape": X.shape, "dtype": X.dtype.str}).encode())
        h.update(memoryview(X).cast("B"))
        h.update(json.dumps(self.to_dict(), sort_keys=True).encode())
        return h.hexdigest()


@dataclass
class Projection:
    coords: np.ndarray  # float32 (n, n_components)
    settings: ProjectionSettings
    key: str
    seconds: float  # fit time (of the original fit, for cache hits)
    from_cache: bool = False


def _prepare(X: np.ndarray, s: ProjectionSettings, pre_pca) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if pre_pca is None:
        return X
    # Unit rows first, so that the reduced space keeps the angles a cosine metric looks at.
    return pre_pca.transform(unit_rows(X) if s.metric == "cosine" else X).astype(np.float32)


def _make_reducer(s: ProjectionSettings, n: int):
    if s.method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=s.n_components, random_state=s.seed)
    if s.method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(s.perplexity, (n - 1) / 3)  # sklearn requires perplexity < n; stay well below it
        return TSNE(s.n_components, perplexity=perplexity, metric=s.metric, init="pca", random_state=s.seed)
    import umap

    return umap.UMAP(
        n_components=s.n_components,
        n_neighbors=min(s.n_neighbors, n - 1),
        min_dist=s.min_dist,
        metric=s.metric,
        random_state=s.seed,
        n_jobs=-1 if s.seed is None else 1,  # seeding forces one thread; say so to avoid umap's warning
    )


MIN_POINTS = {"umap": 20, "tsne": 20, "pca": 3}  # fewer: UMAP's spectral start and t-SNE's perplexity break


def check_size(n: int, method: str) -> None:
    if n < MIN_POINTS[method]:
        raise ValueError(f"{method.upper()} needs at least {MIN_POINTS[method]} points and this extraction has {n}: "
                         + ("use --method pca, or " if method != "pca" else "") + "extract more examples")


def _fit(X: np.ndarray, s: ProjectionSettings) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    check_size(len(X), s.method)
    pre_pca = None
    if s.pca_dims and s.method != "pca" and X.shape[1] > s.pca_dims:
        from sklearn.decomposition import PCA

        pre_pca = PCA(n_components=min(s.pca_dims, len(X)), random_state=s.seed)
        pre_pca.fit(unit_rows(X) if s.metric == "cosine" else X)
    X = _prepare(X, s, pre_pca)
    reducer = _make_reducer(s, len(X))
    with UMAP_LOCK if s.method == "umap" else nullcontext():
        coords = reducer.fit_transform(X)
    return np.asarray(coords, dtype=np.float32)


def _versions(method: str) -> dict:
    names = ["numpy", "scikit-learn"] + (["umap-learn", "numba", "pynndescent"] if method == "umap" else [])
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _load_cached(cache_dir: Path, key: str, settings: ProjectionSettings) -> Projection | None:
    coords_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    if not (coords_path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        coords = np.load(coords_path, allow_pickle=False)
        seconds = float(meta["seconds"])
        whole = coords.ndim == 2 and coords.shape == (meta["n"], settings.n_components)
    except (OSError, ValueError, KeyError, TypeError):
        whole = False
    return Projection(coords, settings, key, seconds, from_cache=True) if whole else None  # else refit, overwrite


def _save(cache_dir: Path, p: Projection, X: np.ndarray) -> None:
    with atomic_path(cache_dir / f"{p.key}.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, p.coords, allow_pickle=False)
    meta = {
        "key": p.key,
        "settings": p.settings.to_dict(),
        "n": int(X.shape[0]),
        "input": {"shape": list(X.shape), "dtype": X.dtype.str},
        "seconds": round(p.seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(p.settings.method),
    }
    write_json(meta, cache_dir / f"{p.key}.json")


def cached(X: np.ndarray, settings: ProjectionSettings, dirs, key: str | None = None) -> Projection | None:
    """The map of X with `settings` from the first of `dirs` that holds it (`key`, when known, is
    `settings.key(X)`: it hashes X and the settings)."""
    key = key or settings.key(np.asarray(X))
    return next((hit for d in dirs if d is not None and (hit := _load_cached(Path(d), key, settings))), None)


def project(X: np.ndarray, settings: ProjectionSettings | None = None, cache_dir: str | Path | None = None,
            shipped: tuple = ()) -> Projection:
    """Project X with `settings`. Reuse `<key>.npy` + `<key>.json` from a `shipped` folder (read only) or from
    `cache_dir`, where a new fit is written."""
    X = np.asarray(X)
    settings = settings or ProjectionSettings()
    key = settings.key(X)
    if hit := cached(X, settings, [*shipped, cache_dir]):
        return hit
    start = time.perf_counter()
    coords = _fit(X, settings)
    result = Projection(coords, settings, key, time.perf_counter() - start)
    if cache_dir is not None:
        _save(Path(cache_dir), result, X)
    return result


def fit_to_cache(X: np.ndarray, settings: ProjectionSettings, cache_dir, shipped: tuple = ()) -> None:
    """A slow fit (UMAP after warm-up, t-SNE) into the disk cache: what the app's worker process runs."""
    if settings.method == "umap":
        warmup_umap()
    project(X, settings, cache_dir, shipped)


# --- UMAP warm-up: numba compiles on first use (15-55 s per process), so the app's worker does it once, early. ---

_warm_done = threading.Event()
_warm_guard = threading.Lock()


def warmup_umap(seed: int | None = 0, metric: str = "cosine") -> None:
    """Compile UMAP's numba kernels once per process, with the production seeding mode and metric."""
    import umap

    with _warm_guard:
        if _warm_done.is_set():
            return
        X = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
        with UMAP_LOCK:
            reducer = umap.UMAP(metric=metric, random_state=seed, n_jobs=-1 if seed is None else 1,
                                force_approximation_algorithm=True,  # the NNDescent path used at >= 4096 points
                                n_epochs=10)
            reducer.fit(X)
            reducer.transform(X[:1])
        _warm_done.set()


DEFAULT_MAP = ProjectionSettings(method="umap", n_components=2, seed=0, metric="cosine")


def checkpoint_map(checkpoint, vector: str = "embedding", settings: ProjectionSettings | None = None,
                   split: str = "validation", ext=None) -> Projection:
    from analysis.extract.reader import load_extraction
    ext = ext or load_extraction(checkpoint, split)
    return project(ext.vectors(vector), settings or DEFAULT_MAP, cache_dir=projection_cache(checkpoint))


def _project(a) -> None:
    s = ProjectionSettings(method=a.method, n_components=a.dims, pca_dims=a.pca_dims, seed=a.seed)
    p = checkpoint_map(a.checkpoint, a.vector, s, a.split)
    print(f"{'cache hit' if p.from_cache else 'fitted'}: {p.key[:12]} ({p.seconds:.1f}s) in {projection_cache(a.checkpoint)}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = checkpoint_command(sub, "project", "fit (or reuse) a cached 2-D/3-D map of an extraction", _project)
    p.add_argument("--method", default="umap", choices=METHODS)
    p.add_argument("--dims", type=int, default=2, choices=(2, 3))
    p.add_argument("--pca-dims", type=number(int, 2, 4096), help="PCA pre-reduction (e.g. 50)")
    p.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0)
