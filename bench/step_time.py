"""Training-step time per method on the MiniLM backbone (batch 32, source 128, target 16), as a ratio
to the shared-adapter baseline measured in the same run.
Run: python bench/step_time.py [--configs shipped] [--precision bf16]

--configs bottleneck (default): every method with the same adapter width (64), so a method with more adapter sites
                                does more work (Hyperformer++: 24 serial sites against the adapter's 12 parallel ones)
--configs shipped:              each method's shipped options (analysis/train/recipes.py), within 3% of each other in
                                trainable parameters: the cost at the budget the methods are compared at

--batches own (default):        each method's batches as `train` draws them: one task a batch for Hyperformer++ and
                                HyperLoader (their papers' recipe), 4-task batches sorted by task for the others
--batches mixed:                4-task batches for every method (per-task weights then apply per task group)

Each measurement runs in a fresh process, as each training run does, in interleaved rounds: in one process a second
model's steps run up to 25% slower than the first's (the allocator's state, not the method), which would bias the
ratio by the order of the methods. Each keeps freed memory as `train` does (analysis/train/allocator.py);
`--allocator glibc` times glibc's defaults instead, where a fresh process page-faults its steps' memory back in."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.model.backbone import load_backbone  # noqa: E402
from analysis.model.hyperlens import HyperLensModel  # noqa: E402
from analysis.train.allocator import keep_freed_memory  # noqa: E402
from analysis.train.loop import adamw  # noqa: E402
from analysis.train.recipes import METHOD_CONFIGS  # noqa: E402
from bench.common import median_time, ratio_table  # noqa: E402

ADAPTER_DIM = 64  # the same bottleneck for every method
CONFIGS = {
    "adapter": {"adapter_dim": ADAPTER_DIM},
    "hyperdecoder": {"encoder_adapter_dim": ADAPTER_DIM, "decoder_adapter_dim": ADAPTER_DIM},
    "hyperformer": {"reduction_factor": 384 // ADAPTER_DIM},
    "hyperloader": {"reduction_factor": 384 // ADAPTER_DIM},
    "pha": {"adapter_dim": ADAPTER_DIM},
    "lora": {},
}
TARGETS = {"hyperdecoder": 1.15, "hyperformer": 1.10, "hyperloader": 1.10}
SHIPPED = {m: METHOD_CONFIGS.get(m, {}) for m in CONFIGS}
TASKS = ["a", "b", "c", "d"]


def batch_task_ids(method: str, batch: int, batches: str = "own") -> torch.Tensor:
    """Each row's task: one task for a method that trains one task a batch (with `own`), else 4 sorted groups."""
    from analysis.model.methods import REGISTRY
    if batches == "own" and REGISTRY[method].batches["batching"].startswith("single"):
        return torch.zeros(batch, dtype=torch.long)
    return torch.arange(batch) * len(TASKS) // batch


def make_step(method: str, batch: int, src: int, tgt: int, config: dict, precision: str = "fp32",
              batches: str = "own"):
    torch.manual_seed(0)
    model = HyperLensModel.build(load_backbone("minilm"), method, TASKS, config).train()
    opt = adamw([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.backbone.config.decoder.vocab_size
    ids = torch.randint(1000, vocab, (batch, src))
    mask = torch.ones_like(ids)
    labels = torch.randint(1000, vocab, (batch, tgt))
    task_ids = batch_task_ids(method, batch, batches)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):  # as training on a bf16 CPU
            loss = model(ids, mask, task_ids, labels, label_smoothing=0.1).loss
        loss.backward()
        opt.step()
    return step


def time_one(method: str, a) -> float:
    """One method's median step time, measured in a fresh process."""
    args = [sys.executable, __file__, "--one", method, "--configs", a.configs, "--batch", str(a.batch),
            "--source-length", str(a.source_length), "--target-length", str(a.target_length),
            "--repeats", str(a.repeats), "--precision", a.precision, "--allocator", a.allocator, "--batches", a.batches]
    return float(subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--source-length", type=int, default=128)
    ap.add_argument("--target-length", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds over all methods (noise control)")
    ap.add_argument("--methods", nargs="+", default=list(CONFIGS))
    ap.add_argument("--configs", choices=("bottleneck", "shipped"), default="bottleneck")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="bf16: autocast, as `train` runs on a CPU with fast bf16")
    ap.add_argument("--allocator", choices=("kept", "glibc"), default="kept",
                    help="kept: freed memory stays in the process, as `train` sets it; glibc: its defaults")
    ap.add_argument("--batches", choices=("own", "mixed"), default="own",
                    help="own: each method's batches as train draws them; mixed: 4-task batches for every method")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: time this method here and print seconds
    a = ap.parse_args()
    configs = CONFIGS if a.configs == "bottleneck" else SHIPPED
    if a.one:
        if a.allocator == "kept":
            keep_freed_memory()
        print(median_time(make_step(a.one, a.batch, a.source_length, a.target_length, configs[a.one], a.precision,
                                    a.batches), a.repeats))
        return
    times = {m: [] for m in a.methods}
    for _ in range(a.rounds):  # interleave so drift in machine load hits every method alike
        for m in a.methods:
            times[m].append(time_one(m, a))
    best = {m: min(t) for m, t in times.items()}
    print(ratio_table(f"training step, MiniLM bert2bert, {a.configs} configs, batch {a.batch}, source "
                      f"{a.source_length}, target {a.target_length}, {a.precision}, {a.allocator} allocator, {a.batches} batches "
                      f"({torch.get_num_threads()} threads, "
                      "a fresh process per measurement)",
                      [(m, best[m]) for m in a.methods], baseline="adapter", targets=TARGETS))
    if "adapter" in times and a.rounds > 1:  # the spread a single run's ratio carries on this machine
        print("each round against that round's adapter: " + "; ".join(
            f"{m} " + ", ".join(f"{t / b:.3f}" for t, b in zip(times[m], times["adapter"]))
            for m in a.methods if m != "adapter"))


if __name__ == "__main__":
    main()
