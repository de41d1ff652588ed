"""Extraction throughput against a bare encoder pass (same batches, same run), kNN placement latency at
20k points, and UMAP fit times for 10k / 50k points with and without PCA-50.

    python bench/extract.py [--quick]     (--quick: no UMAP fits)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.data.tasks import BUILTIN_SUITE, get_task  # noqa: E402
from analysis.extract.vectors import layer_vectors  # noqa: E402
from analysis.model.backbone import load_backbone  # noqa: E402
from analysis.model.hyperlens import HyperLensModel  # noqa: E402
from analysis.train.recipes import METHOD_CONFIGS  # noqa: E402
from bench.common import median_time, ratio_table  # noqa: E402
from bench.projection_bench import bench_knn_placement, bench_umap_fit, format_rows  # noqa: E402


def extraction_vs_encoder(n_per_task: int = 64, batch_size: int = 64, repeats: int = 3, rounds: int = 3) -> str:
    model = HyperLensModel.build(load_backbone("minilm"), "hyperdecoder", list(BUILTIN_SUITE),
                                 METHOD_CONFIGS["hyperdecoder"]).eval()  # the shipped options
    examples = [e for t in BUILTIN_SUITE for e in get_task(t).load("validation", max_examples=n_per_task)]
    batches = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        ids, mask = model.tokenize([e.source for e in chunk])
        batches.append((ids, mask, model.task_ids([e.task for e in chunk])))
    bare_encoder = load_backbone("minilm").model.get_encoder().eval()  # same weights, no adapters or hooks

    @torch.no_grad()
    def bare():
        for ids, mask, _ in batches:
            bare_encoder(input_ids=ids, attention_mask=mask)

    @torch.no_grad()
    def hyperdecoder():  # adapted encoder + MLP + generator + per-layer sketches; no decoder
        for ids, mask, tids in batches:
            layer_vectors(model.conditioning(ids, mask, tids))
    best = {"bare encoder forward": float("inf"), "hyperdecoder extraction": float("inf")}
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        for name, fn in (("bare encoder forward", bare), ("hyperdecoder extraction", hyperdecoder)):
            best[name] = min(best[name], median_time(fn, repeats))
    rows = list(best.items())
    n = len(examples)
    table = ratio_table(f"extraction, MiniLM, {n} inputs, batch {batch_size} (time ratio; target means "
                        "throughput >= 0.9x the bare encoder)", rows, baseline="bare encoder forward",
                        targets={"hyperdecoder extraction": 1 / 0.9})
    return table + "\n" + "\n".join(f"{name}: {n / t:,.0f} inputs/s" for name, t in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the UMAP fits")
    a = ap.parse_args()
    print(extraction_vs_encoder())
    print()
    print(format_rows(bench_knn_placement()))
    if not a.quick:
        print()
        print(format_rows(bench_umap_fit()))


if __name__ == "__main__":
    main()
