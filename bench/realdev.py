"""The shipped recipes on the real-text development suite, beside each task's simple baseline.

    python bench/realdev.py                                   # train hyperdecoder and adapter, then score them
    python bench/realdev.py --methods adapter --steps 300     # a shorter probe
    python bench/realdev.py --checkpoints runs/realdev/adapter  # score existing checkpoints, no training

Each method trains within the same 30-minute budget on a 2-core CPU: 2,000 steps, or the fewer steps that
Hyperformer++ and HyperLoader fit in it (recipes.REALDEV_BUDGET_STEPS). Every baseline is recomputed in the same
run from the suite's train split. The throughput row times training steps on the suite's task mix with
length-grouped batches (the default) against plain mixed batches, interleaved; the padding row counts the tokens
each batching mode computes per real token, one task a batch (Hyperformer++'s and HyperLoader's sampling, T=10)
with and without length grouping within the task included.
The suite is read from ../shared/realdev/data (or --data-dir); it is never copied into the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.cli import number  # noqa: E402
from analysis.data.tasks import REALDEV_SUITE, get_task  # noqa: E402
from analysis.data.tasks.baseline import baseline  # noqa: E402
from analysis.errors import HyperLensError  # noqa: E402
from analysis.files import check_output_file  # noqa: E402
from analysis.layout import METRICS, training_seconds  # noqa: E402
from analysis.model.checkpoint import read_config  # noqa: E402
from analysis.train.recipes import METHOD_CONFIGS  # noqa: E402

DATA = ROOT.parent / "shared" / "realdev" / "data"


def realdev_batches(data_dir: str):
    """The adapter recipe's model and training rows on the suite, with each batching mode's sampler."""
    from analysis.data.batching import MultiTaskSampler, example_costs, target_length
    from analysis.model.backbone import load_backbone
    from analysis.model.hyperlens import HyperLensModel
    from analysis.train.loop import TrainConfig, split_selection
    from analysis.train.recipes import METHOD_CONFIGS

    cfg = TrainConfig(tasks=list(REALDEV_SUITE), data_dir=data_dir)
    tasks = [get_task(t) for t in sorted(cfg.tasks)]
    model = HyperLensModel.build(load_backbone(cfg.backbone, seed=0), "adapter", list(REALDEV_SUITE),
                                 METHOD_CONFIGS["adapter"]).train()
    examples, _ = split_selection(tasks, cfg)
    data = {t.name: t.model_inputs(examples[t.name], model.tokenizer, cfg.max_source_length, train=True) for t in tasks}
    model.target_lengths = {t: target_length(model.tokenizer, e, cfg.max_target_length) for t, e in data.items()}
    costs = {t: example_costs(model.tokenizer, e, cfg.max_source_length, model.target_lengths[t]) for t, e in data.items()}
    sizes, T, B = {t: len(e) for t, e in examples.items()}, cfg.temperature, cfg.batch_size
    samplers = {"grouped": MultiTaskSampler(data, B, costs=costs, sizes=sizes),
                "mixed": MultiTaskSampler(data, B, sizes=sizes),
                "single-grouped": MultiTaskSampler(data, B, T, mixed=False, costs=costs, sizes=sizes),
                "single": MultiTaskSampler(data, B, T, mixed=False, sizes=sizes)}
    return cfg, model, data, samplers


def throughput(data_dir: str, steps: int, rounds: int) -> dict[str, float]:
    """Training examples per second of the adapter recipe, length-grouped against plain mixed batches (best of
    interleaved rounds; both draw the same task mix, so short runs compare like with like)."""
    from analysis.data.batching import collate
    from analysis.train.loop import adamw

    cfg, model, _, samplers = realdev_batches(data_dir)
    opt = adamw([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    best = {"grouped": 0.0, "mixed": 0.0}
    for r in range(rounds):
        for mode in best:
            t0 = time.perf_counter()
            for step in range(r * steps, (r + 1) * steps):
                model(**collate(model, samplers[mode].batch(step), cfg.max_source_length)).loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            best[mode] = max(best[mode], steps * cfg.batch_size / (time.perf_counter() - t0))
    return best


def padding(data_dir: str, steps: int = 640) -> dict[str, float]:
    """Tokens a batch computes per real token (source and target, each padded to the batch's longest), over `steps`
    batches of each batching mode: exact, where timing a few one-task batches would mostly measure which tasks
    were drawn."""
    from analysis.data.batching import token_lengths

    cfg, model, data, samplers = realdev_batches(data_dir)
    lengths = {}
    for t, exs in data.items():
        src = token_lengths(model.tokenizer, [e.source for e in exs]).clip(max=cfg.max_source_length) + 2
        tgt = token_lengths(model.tokenizer, [e.target for e in exs], target=True) + 1
        tgt = tgt.clip(max=model.target_lengths[t])
        lengths.update({id(e): (int(a), int(b)) for e, a, b in zip(exs, src, tgt)})
    ratios = {}
    for mode, sampler in samplers.items():
        real = padded = 0
        for step in range(steps):
            src, tgt = zip(*(lengths[id(e)] for e in sampler.batch(step)))
            real, padded = real + sum(src) + sum(tgt), padded + len(src) * (max(src) + max(tgt))
        ratios[mode] = padded / real
    return ratios


def realdev_config(method: str, data_dir: str, steps: int | None = None):
    """The shipped recipe on the suite: the method's steps within the 30-minute budget, unless `steps` is given,
    with four held-out evaluations either way."""
    from analysis.train.loop import TrainConfig
    from analysis.train.recipes import METHOD_CONFIGS, REALDEV, REALDEV_BUDGET_STEPS, TRAINING

    steps = steps or REALDEV_BUDGET_STEPS.get(method, REALDEV["steps"])
    return TrainConfig(method=method, tasks=list(REALDEV_SUITE), data_dir=data_dir,
                       method_config=METHOD_CONFIGS[method], **TRAINING, steps=steps,
                       eval_every=max(1, steps * REALDEV["eval_every"] // REALDEV["steps"]))


def train_method(method: str, data_dir: str, out: Path, steps: int | None, overwrite: bool) -> tuple[dict, float, int]:
    from analysis.train.loop import train

    cfg = realdev_config(method, data_dir, steps)
    t0 = time.time()
    result = train(cfg, out, command=f"bench/realdev.py --methods {method}", overwrite=overwrite)
    return result, time.time() - t0, cfg.steps


def score_checkpoint(path: Path, data_dir: str) -> tuple[dict, float, int]:
    from analysis.model.checkpoint import load_checkpoint
    from analysis.train.evaluate import evaluate, trained_length

    model = load_checkpoint(path)
    seconds = training_seconds(path)
    return (evaluate(model, list(REALDEV_SUITE), "validation", data_dir, max_source_length=trained_length(model)),
            float("nan") if seconds is None else seconds, model.config.get("training", {}).get("steps", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(DATA))
    ap.add_argument("--methods", nargs="+", default=["hyperdecoder", "adapter"], choices=sorted(METHOD_CONFIGS))
    ap.add_argument("--checkpoints", nargs="+", type=Path, help="score these instead of training")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "realdev", help="where trained runs go")
    ap.add_argument("--steps", type=number(int, 1), help="override the recipe's steps (default: 2,000, or what fits "
                    "30 minutes for the one-task-a-batch methods; analysis/train/recipes.py)")
    ap.add_argument("--overwrite", action="store_true", help="retrain a method whose run already exists, and "
                    "replace an existing --json file")
    ap.add_argument("--throughput-steps", type=number(int, 0), default=8, help="0 skips the throughput row")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    if not Path(a.data_dir, "imdb").is_dir():
        sys.exit(f"no realdev data at {a.data_dir}: pass --data-dir (the suite lives in ../shared/realdev/data)")
    try:  # every argument checked before the first baseline, not after half an hour of training
        if a.json:
            check_output_file(a.json, a.overwrite)
        for path in a.checkpoints or []:
            read_config(path)
        if not a.checkpoints and not a.overwrite and (done := [m for m in a.methods if (a.out / m / METRICS).exists()]):
            sys.exit(f"{', '.join(str(a.out / m) for m in done)} already hold trained runs; pass --overwrite to train "
                     f"them again, or score them with --checkpoints")
    except HyperLensError as e:
        sys.exit(f"error: {e}")

    results = {"baselines": {t: baseline(t, a.data_dir) for t in REALDEV_SUITE}, "runs": {}}
    if a.throughput_steps:
        results["throughput"] = throughput(a.data_dir, a.throughput_steps, rounds=2)
        results["padding"] = padding(a.data_dir)
    for name, path in ([(p.name, p) for p in a.checkpoints] if a.checkpoints else [(m, a.out / m) for m in a.methods]):
        result, seconds, steps = (score_checkpoint(path, a.data_dir) if a.checkpoints
                                  else train_method(name, a.data_dir, path, a.steps, a.overwrite))
        results["runs"][name] = {"result": result, "seconds": seconds, "steps": steps}
    print(table(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2, default=str))


def table(results: dict) -> str:
    runs = results["runs"]
    lines = ["| task | metric | baseline | score | " + " | ".join(runs) + " |", "|---" * (4 + len(runs)) + "|"]
    for task, (what, metric, score) in results["baselines"].items():
        cells = []
        for run in runs.values():
            value = run["result"]["tasks"].get(task, {}).get(metric)
            cells.append("" if value is None else f"{value:.1f}" + (" **>**" if value > score else ""))
        lines.append(f"| {task} | {metric} | {what} | {score:.1f} | " + " | ".join(cells) + " |")
    lines.append("| wall time, steps | | | | " + " | ".join(f"{r['seconds'] / 60:.1f} min, {r['steps']}" for r in runs.values()) + " |")
    if "throughput" in results:
        t, p = results["throughput"], results["padding"]
        lines.append(f"\ntraining throughput on the realdev mix (adapter, batch 32): length-grouped {t['grouped']:.1f} "
                     f"examples/s, plain mixed {t['mixed']:.1f} examples/s: {t['grouped'] / t['mixed']:.2f}x")
        lines.append("tokens computed per real token: " + ", ".join(f"{m} {r:.2f}" for m, r in p.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
