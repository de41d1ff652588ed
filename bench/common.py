"""Shared benchmark helpers: repeated, interleaved timing and a ratio table."""
from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ratio_table(title: str, rows: list[tuple[str, float]], baseline: str, unit: str = "s",
                targets: dict[str, float] | None = None) -> str:
    """rows: (name, seconds). Ratios are against `baseline`, measured in the same run."""
    base = dict(rows)[baseline]
    targets = targets or {}
    lines = [title, f"{'case':<34}{unit:>12}{'ratio':>9}{'target':>9}"]
    for name, t in rows:
        target = f"<={targets[name]:.2f}" if name in targets else ""
        ok = "" if name not in targets else ("  ok" if t / base <= targets[name] else "  MISS")
        lines.append(f"{name:<34}{t:>12.4f}{t / base:>9.3f}{target:>9}{ok}")
    return "\n".join(lines)
