"""Exact nearest neighbours in the original embedding space, kNN placement on a map, instance comparison."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.layout import natural_key

_CHUNK_ELEMENTS = 1 << 23  # similarity block size (rows x n): ~32 MB of float32 per query chunk
ZERO_DISTANCE = 1e-6  # float32 rounding leaves a point's distance to itself at ~1e-7, not 0
_LAST = np.iinfo(np.int64).max


def order_keys(d: np.ndarray) -> np.ndarray:
    """Integer sort keys for a (queries, n) distance block: the distance on a ZERO_DISTANCE grid, then the row, so
    equal distances (equal vectors: a per-task method gives a whole task one) go to the lower row on every machine."""
    n = d.shape[1]
    bad = ~np.isfinite(d)
    grid = np.clip(d, 0, 1e6)
    grid[bad] = 0
    grid /= ZERO_DISTANCE
    keys = np.rint(grid, out=grid).astype(np.int64)
    keys *= n
    keys += np.arange(n)
    keys[bad] = _LAST
    return keys


def unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


class NeighborIndex:
    """Exact k-NN by brute force: one matrix product per query chunk, then argpartition; ties go to the lower row."""

    def __init__(self, X: np.ndarray, metric: str = "cosine"):
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
        self.metric = metric
        self.X = unit_rows(X) if metric == "cosine" else np.asarray(X, dtype=np.float32)
        # equal rows share one column of every product, so their distances are bit-identical: a product's rounding
        # depends on where a column falls in the BLAS's tiles, and would break their tie by that
        unique, inverse = np.unique(self.X, axis=0, return_inverse=True)
        self.unique, self.inverse = (self.X, None) if len(unique) == len(self.X) else (unique, inverse.reshape(-1))
        self.sq_norms = (self.unique**2).sum(1)  # only used for euclidean

    def __len__(self) -> int:
        return len(self.X)

    def distances(self, Q: np.ndarray) -> np.ndarray:
        """(queries, n) distances from rows Q (unit rows for cosine) to every indexed row."""
        dots = Q @ self.unique.T
        if self.metric == "cosine":
            d = 1.0 - dots
        else:
            d = np.sqrt(np.maximum((Q**2).sum(1)[:, None] + self.sq_norms[None, :] - 2 * dots, 0))
        return d if self.inverse is None else d[:, self.inverse]

    def query(self, x: np.ndarray, k: int = 10, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the k nearest rows, nearest first.

        `x` is one vector (returns 1-D arrays) or a batch (returns (m, k)). `exclude` is a row index
        per query (an int for one vector) left out of its own results, e.g. the query's own id.
        """
        single = np.ndim(x) == 1
        Q = np.atleast_2d(np.asarray(x, dtype=np.float32))
        Q = unit_rows(Q) if self.metric == "cosine" else Q
        skip = None if exclude is None else np.broadcast_to(np.asarray(exclude, dtype=np.int64), (len(Q),))
        k = min(k, len(self) - (skip is not None))
        indices = np.empty((len(Q), k), dtype=np.int64)
        distances = np.empty((len(Q), k), dtype=np.float32)
        step = max(1, _CHUNK_ELEMENTS // max(len(self), 1))
        for start in range(0, len(Q), step):
            rows = slice(start, start + step)
            d = self.distances(Q[rows])
            if skip is not None:
                d[np.arange(len(d)), skip[rows]] = np.inf
            keys = order_keys(d)
            part = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(k), (len(d), 1))
            part = np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)
            indices[rows] = part
            distances[rows] = np.maximum(np.take_along_axis(d, part, axis=1), 0)
        return (indices[0], distances[0]) if single else (indices, distances)


@dataclass
class Placement:
    coords: np.ndarray  # (k_dims,) or (m, k_dims): position on the existing map
    neighbor_ids: np.ndarray  # reference rows used, nearest first
    distances: np.ndarray  # their cosine distances in the original space
    spread: np.ndarray | float  # weighted RMS distance of neighbour coords from `coords`: an uncertainty radius


class KnnPlacer:
    """Place new points on a map at the inverse-distance-weighted mean of their k nearest reference points."""

    def __init__(self, X_ref: np.ndarray, coords_ref: np.ndarray, k: int = 10):
        if len(X_ref) != len(coords_ref):
            raise ValueError("X_ref and coords_ref need one row per reference point")
        self.index = NeighborIndex(X_ref, metric="cosine")
        self.coords_ref = np.asarray(coords_ref, dtype=np.float32)
        self.k = k

    def place(self, x: np.ndarray) -> Placement:
        single = np.ndim(x) == 1
        ids, dist = self.index.query(np.atleast_2d(x), self.k)
        exact = dist <= ZERO_DISTANCE
        # A query that coincides with reference points takes their position exactly (no 1/0).
        weights = np.where(exact.any(1, keepdims=True), exact, 1.0 / np.maximum(dist, ZERO_DISTANCE))
        weights = weights / weights.sum(1, keepdims=True)
        neighbor_coords = self.coords_ref[ids]  # (m, k, dims)
        coords = np.einsum("mk,mkd->md", weights, neighbor_coords).astype(np.float32)
        sq_offsets = ((neighbor_coords - coords[:, None, :]) ** 2).sum(-1)
        spread = np.sqrt((weights * sq_offsets).sum(1)).astype(np.float32)
        if single:
            return Placement(coords[0], ids[0], dist[0], float(spread[0]))
        return Placement(coords, ids, dist, spread)


# --- Pin-and-compare two instances (numpy only). ---


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def compare_vectors(a: np.ndarray, b: np.ndarray) -> dict:
    """Cosine, L2, and whether they are the same vector up to float16 storage (a per-task method gives every input
    of a task one vector)."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    l2 = float(np.linalg.norm(a - b))
    return {"cosine": _cosine(a, b), "l2": l2, "same": l2 <= 2e-3 * max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)}


def compare_params(params_a: dict[str, np.ndarray], params_b: dict[str, np.ndarray]) -> list[dict]:
    """Per-tensor cosine and relative difference ||a-b|| / mean(||a||, ||b||), in natural layer order."""
    if set(params_a) != set(params_b):
        raise ValueError(f"parameter names differ: {sorted(set(params_a) ^ set(params_b))}")
    rows = []
    for name in sorted(params_a, key=natural_key):
        a, b = np.asarray(params_a[name]), np.asarray(params_b[name])
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes differ ({a.shape} vs {b.shape})")
        a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
        norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        mean_norm = (norm_a + norm_b) / 2
        diff = float(np.linalg.norm(a - b))
        rows.append({
            "name": name,
            "cosine": _cosine(a, b),
            "relative_diff": diff / mean_norm if mean_norm > 0 else 0.0,
            "norm_a": norm_a,
            "norm_b": norm_b,
        })
    return rows


def shared_neighbors(index: NeighborIndex, a: np.ndarray, b: np.ndarray, k: int = 10,
                     exclude: tuple[int | None, int | None] = (None, None)) -> dict:
    """The k nearest rows to vectors a and b, both lists without the rows in `exclude` (a and b's own, when they are
    rows: a typed copy of A must not count A's row as a neighbour A lacks): (ids, distances) for each, and the ids
    they share, in a's order."""
    skip = [r for r in exclude if r is not None]

    def nearest(v):
        ids, dist = index.query(v, min(k + len(skip), len(index)))
        keep = ~np.isin(ids, skip)
        return ids[keep][:k], dist[keep][:k]
    near_a, near_b = nearest(a), nearest(b)
    in_b = set(near_b[0].tolist())
    return {"a": near_a, "b": near_b, "shared": [n for n in near_a[0].tolist() if n in in_b]}
