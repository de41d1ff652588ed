"""Projection and placement benchmarks on synthetic blobs.

    python -m bench.projection_bench [--quick]

Each bench_* function returns rows; `ratio` is seconds divided by the baseline row's seconds of the same run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class Row:
    name: str
    seconds: float
    ratio: float | None = None  # vs the baseline measured in the same run; None where no baseline applies


def _blobs(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=n, n_features=dim, centers=12, cluster_std=4.0, random_state=seed)
    return X.astype(np.float32)


def _seconds_per_call(fn, inputs) -> float:
    fn(inputs[0])  # first call pays one-off costs (allocation, lazy imports)
    start = time.perf_counter()
    for x in inputs:
        fn(x)
    return (time.perf_counter() - start) / len(inputs)


def bench_knn_placement(n_ref: int = 20_000, dim: int = 384, k: int = 10, n_queries: int = 100, seed: int = 0) -> list[Row]:
    """Per-point KnnPlacer latency vs one brute-force sklearn NearestNeighbors query per point."""
    from sklearn.neighbors import NearestNeighbors

    from analysis.maps.neighbors import KnnPlacer

    X = _blobs(n_ref, dim, seed)
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n_ref, 2)).astype(np.float32)
    queries = X[rng.choice(n_ref, n_queries, replace=False)] + rng.normal(0, 1, (n_queries, dim)).astype(np.float32)

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(X)
    baseline = _seconds_per_call(lambda q: nn.kneighbors(q[None]), queries)
    start = time.perf_counter()
    placer = KnnPlacer(X, coords, k=k)
    build = time.perf_counter() - start
    place = _seconds_per_call(placer.place, queries)
    size = f"{n_ref // 1000}k x {dim}"
    return [
        Row(f"sklearn NearestNeighbors brute query, 1 point, {size} (baseline)", baseline, 1.0),
        Row(f"KnnPlacer.place, 1 point, {size}", place, place / baseline),
        Row(f"KnnPlacer build, {size}", build),
    ]


def bench_umap_fit(sizes: tuple[int, ...] = (10_000, 50_000), dim: int = 384, seed: int | None = 0) -> list[Row]:
    """UMAP fit time after warm-up, per size without (baseline) and with PCA-50 pre-reduction."""
    from analysis.maps.projection import ProjectionSettings, project, warmup_umap

    start = time.perf_counter()
    warmup_umap(seed=seed)
    rows = [Row("UMAP warm-up (numba compile; 0 if already warm)", time.perf_counter() - start)]
    for n in sizes:
        X = _blobs(n, dim, seed or 0)
        fits = {pca: project(X, ProjectionSettings(pca_dims=pca, seed=seed)).seconds for pca in (None, 50)}
        label = f"UMAP fit {n // 1000}k x {dim}, seed={seed}"
        rows.append(Row(f"{label} (baseline)", fits[None], 1.0))
        rows.append(Row(f"{label}, PCA-50 first", fits[50], fits[50] / fits[None]))
    return rows


def format_rows(rows: list[Row]) -> str:
    width = max(len(r.name) for r in rows) + 2
    lines = ["benchmark".ljust(width) + "seconds".rjust(12) + "ratio".rjust(10)]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.3f}"
        lines.append(r.name.ljust(width) + f"{r.seconds:12.4f}" + ratio.rjust(10))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 50k UMAP fits")
    args = parser.parse_args(argv)
    print(format_rows(bench_knn_placement()) + "\n", flush=True)
    print(format_rows(bench_umap_fit(sizes=(10_000,) if args.quick else (10_000, 50_000))))


if __name__ == "__main__":
    main()
