"""Multi-task training with accelerate: `python -m analysis train --method hyperdecoder --output DIR`.

The best checkpoint by mean validation score is written to DIR. Training state (weights, AdamW moments,
step) lives in DIR.state/ and is saved at every evaluation, so an interrupted run resumes with no lost or
repeated steps: batches and dropout depend only on (seed, step). The state is removed when the run ends.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .backbone import DEFAULT_BACKBONE, load_backbone
from .checkpoint import atomic_directory, load_checkpoint, read_weights, save_checkpoint
from .data import MultiTaskSampler, collate
from .evaluate import evaluate
from .export import write_json
from .methods import REGISTRY
from .model import HyperLensModel
from .tasks import BUILTIN_SUITE, get_task


@dataclass
class TrainConfig:
    method: str = "hyperdecoder"
    backbone: str = DEFAULT_BACKBONE
    tasks: list = field(default_factory=lambda: list(BUILTIN_SUITE))  # names, specs or custom CLI strings
    method_config: dict = field(default_factory=dict)
    data_dir: str | None = None
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    sampling: str = "proportional"        # or "temperature": p ~ N^(1/T)
    temperature: float = 10.0
    task_weights: dict = field(default_factory=dict)  # task -> multiplier on its sampling probability
    batching: str = "mixed"               # or "single": one task per batch
    max_source_length: int = 128
    max_target_length: int = 32
    max_train_examples: int | None = None  # per task
    eval_every: int = 200
    eval_examples: int = 100               # per task, for the periodic evaluation
    seed: int = 42


class TrainingError(RuntimeError):
    pass


def _state_dir(output: Path) -> Path:
    return output.with_name(output.name + ".state")


def save_state(state_dir: Path, model, optimizer, step: int, best: dict) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    moments = {f"{names[id(p)]}::{k}": v.detach().cpu().contiguous()
               for p, s in optimizer.state.items() for k, v in s.items() if torch.is_tensor(v)}

    def write(tmp: Path):
        save_checkpoint(model, tmp / "model")
        save_file(moments, str(tmp / "optimizer.safetensors"))
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "best": best}))
    atomic_directory(state_dir, write)


def load_state(state_dir: Path, model, optimizer) -> tuple[int, dict]:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, v in read_weights(state_dir / "model").items():
            params[k].copy_(v)
    for key, v in load_file(str(state_dir / "optimizer.safetensors")).items():
        name, slot = key.split("::")
        optimizer.state[params[name]][slot] = v
    meta = json.loads((state_dir / "trainer_state.json").read_text())
    return meta["step"], meta["best"]


def train(cfg: TrainConfig, output, command: str | None = None, progress: bool = True) -> dict:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    state_dir = _state_dir(output)
    accelerator = Accelerator()
    set_seed(cfg.seed)
    tasks = sorted((get_task(t) for t in cfg.tasks), key=lambda t: t.name)
    model = HyperLensModel.build(load_backbone(cfg.backbone, seed=cfg.seed), cfg.method,
                                 [t.name for t in tasks], cfg.method_config)
    model.task_specs = [t.spec() for t in tasks]
    train_data = {t.name: t.load("train", cfg.data_dir, cfg.max_train_examples) for t in tasks}
    sampler = MultiTaskSampler(train_data, cfg.batch_size, cfg.temperature if cfg.sampling == "temperature" else 1.0,
                               mixed=cfg.batching == "mixed", seed=cfg.seed, rank=accelerator.process_index,
                               weights=cfg.task_weights)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, best = 0, {"score": -math.inf, "step": 0}
    if state_dir.exists():
        start, best = load_state(state_dir, model, optimizer)
        accelerator.print(f"resuming from step {start} ({state_dir})")
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    with warnings.catch_warnings():  # fast-forward the schedule to the resumed step
        warnings.simplefilter("ignore")
        for _ in range(start):
            scheduler.step()
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)
    sections = {"training": {**dataclasses.asdict(cfg), "command": command}}
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {cfg.method}",
               disable=not (progress and accelerator.is_main_process))
    log = state_dir.with_name(output.name + ".log.jsonl")
    if log.exists():  # keep only what the resumed state has seen; later lines would be repeated
        kept = [line for line in log.read_text().splitlines() if json.loads(line)["step"] <= start]
        log.write_text("".join(line + "\n" for line in kept))
    t0 = time.time()
    for step in bar:
        model.train()
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout depends on the step alone: exact resume
        batch = collate(core, sampler.batch(step), cfg.max_source_length, cfg.max_target_length)
        loss = model(**batch, label_smoothing=cfg.label_smoothing).loss
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at step {step}; stopping. The last good state is "
                                f"{state_dir if state_dir.exists() else 'not saved yet'} (best checkpoint: {output}). "
                                "Lower --lr or raise --warmup-steps, then run the same command to resume.")
        accelerator.backward(loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(trainable, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": round(loss.item(), 4), "lr": scheduler.get_last_lr()[0],
                  "seconds": round(time.time() - t0, 1)}
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        done = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or done:
            result = evaluate(core, tasks, "validation", cfg.data_dir, cfg.eval_examples,
                              max_source_length=cfg.max_source_length, max_new_tokens=cfg.max_target_length)
            record["eval"] = result
            if accelerator.is_main_process:
                if result["average"] > best["score"]:
                    best = {"score": result["average"], "step": step + 1}
                    save_checkpoint(core, output, **sections, best_step=step + 1)
                bar.write(f"step {step + 1}: validation average {result['average']:.2f} (best {best['score']:.2f} "
                          f"at step {best['step']})")
        if accelerator.is_main_process:
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if "eval" in record and not done:
                save_state(state_dir, core, optimizer, step + 1, best)
    accelerator.wait_for_everyone()
    return finish(output, state_dir, cfg, progress)


def finish(output: Path, state_dir: Path, cfg: TrainConfig, progress: bool) -> dict:
    """Score the best checkpoint on the full validation split, write metrics.json, drop the resume state."""
    model = load_checkpoint(output)
    result = evaluate(model, None, "validation", cfg.data_dir, progress=progress,
                      max_source_length=cfg.max_source_length, max_new_tokens=cfg.max_target_length)
    write_json(result, output / "metrics.json")
    log = state_dir.with_name(output.name + ".log.jsonl")
    if log.exists():  # the loss curve travels with the checkpoint
        shutil.copyfile(log, output / "training_log.jsonl")
    shutil.rmtree(state_dir, ignore_errors=True)
    return result


def task_weight(text: str) -> tuple[str, float]:
    name, _, weight = text.partition("=")
    try:
        return name, float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TASK=WEIGHT such as nli=3, got {text!r}") from None


def config_from_args(a) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = {k: v for k, v in vars(a).items() if k in fields and v is not None}
    if a.task_weights:
        cfg["task_weights"] = dict(a.task_weights)
    if a.config:
        cfg["method_config"] = json.loads(Path(a.config).read_text() if Path(a.config).is_file() else a.config)
    return TrainConfig(**cfg)


def run(a) -> None:
    from .evaluate import format_table
    command = "python -m analysis " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    result = train(config_from_args(a), a.output, command=command)
    print(format_table(result))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="multi-task training; keeps the best checkpoint by mean validation score")
    d = TrainConfig()
    p.add_argument("--method", default=d.method, choices=sorted(REGISTRY))
    p.add_argument("--backbone", default=d.backbone)
    p.add_argument("--tasks", nargs="+", help=f"task names or name=file.csv:input,target[,label] (default: {' '.join(BUILTIN_SUITE)})")
    p.add_argument("--config", help="method options as JSON text or a JSON file")
    p.add_argument("--output", required=True, help="checkpoint directory to write")
    p.add_argument("--data-dir", help="root of local task folders (train.jsonl / validation.jsonl)")
    for name in ("steps", "batch_size", "lr", "warmup_steps", "weight_decay", "label_smoothing", "grad_clip",
                 "temperature", "max_source_length", "max_target_length", "max_train_examples", "eval_every",
                 "eval_examples", "seed"):
        default = getattr(d, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(default) if default is not None else int,
                       help=f"default {default}")
    p.add_argument("--sampling", choices=("proportional", "temperature"))
    p.add_argument("--batching", choices=("mixed", "single"))
    p.add_argument("--task-weights", nargs="+", type=task_weight, metavar="TASK=W",
                   help="multiply a task's sampling probability, e.g. nli=3 paraphrase=3")
    p.set_defaults(run=run)
