"""Multi-task training with accelerate: `python -m analysis train --method hyperdecoder --output DIR`.

The best checkpoint by mean validation score is written to DIR. Training state (weights, AdamW moments,
step) lives in DIR.state/ and is saved at every evaluation, so an interrupted run resumes with no lost or
repeated steps: batches and dropout depend only on (seed, step). The state is removed when the run ends.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import math
import os
import shlex
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from analysis.cli import method_options, number, out_of_range
from analysis.data.batching import MultiTaskSampler, collate, example_costs, target_length
from analysis.data.tasks import BUILTIN_SUITE, get_tasks
from analysis.errors import HyperLensError
from analysis.files import make_parent, write_json
from analysis.layout import METRICS, TRAINER_STATE, TRAINING_LOG, log_records
from analysis.model.backbone import DEFAULT_BACKBONE, load_backbone
from analysis.model.checkpoint import (
    atomic_directory,
    copy_weights,
    load_checkpoint,
    read_weights,
    recover_leftovers,
    save_checkpoint,
    save_tensors,
)
from analysis.model.hyperlens import HyperLensModel
from analysis.model.methods import REGISTRY

from .allocator import keep_freed_memory
from .evaluate import evaluate, evaluate_examples
from .monitor import HealthMonitor


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
    sampling: str | None = None           # "proportional" or "temperature" (p ~ N^(1/T)); None: the method's own
    temperature: float = 10.0
    task_weights: dict = field(default_factory=dict)  # task -> multiplier on its sampling probability
    batching: str | None = None           # "grouped" (mixed tasks, length-sorted), "mixed", "single" (one task a
                                          # batch) or "single-grouped" (one task a batch, length-sorted within the
                                          # task); None: the method's own (its paper's code)
    max_source_length: int = 128
    max_target_length: int = 96           # cap; each task trains on and decodes at most its longest target
    max_train_examples: int | None = None  # per task
    eval_every: int = 200
    eval_examples: int = 64                # per task, held out of train to select the best checkpoint
    precision: str = "auto"               # "bf16" autocast, "fp32", or "auto": bf16 where the hardware runs it fast
    save_dtype: str = "fp32"              # the best checkpoint's weights: "fp16" halves them (scored as saved)
    seed: int = 42


class TrainingError(HyperLensError, RuntimeError):
    pass


# (lowest, highest) for each numeric option; None leaves that side open
BOUNDS = {"steps": (1, None), "batch_size": (1, 4096), "lr": (1e-9, 1.0), "warmup_steps": (0, None),
          "weight_decay": (0.0, 1.0), "label_smoothing": (0.0, 0.99), "grad_clip": (0.0, None),
          "temperature": (0.01, 1000.0), "max_source_length": (16, 4096), "max_target_length": (2, 1024),
          "max_train_examples": (1, None), "eval_every": (1, None), "eval_examples": (1, 100_000), "seed": (0, 2**32 - 1)}


def check_bounds(name: str, value) -> None:
    problem = None if value is None else out_of_range(value, *BOUNDS[name])
    if problem:
        raise ValueError(f"--{name.replace('_', '-')} {problem}")


def _state_dir(output: Path) -> Path:
    return output.with_name(output.name + ".state")


def _log_path(output: Path) -> Path:
    return output.with_name(output.name + ".log.jsonl")


def save_state(state_dir: Path, model, optimizer, step: int, best: dict, cfg: TrainConfig) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    moments = {f"{names[id(p)]}::{k}": v.detach().cpu().contiguous()
               for p, s in optimizer.state.items() for k, v in s.items() if torch.is_tensor(v)}

    def write(tmp: Path):
        save_checkpoint(model, tmp / "model")
        save_tensors(moments, tmp / "optimizer.safetensors")
        (tmp / TRAINER_STATE).write_text(json.dumps({"step": step, "best": best, "config": dataclasses.asdict(cfg)}))
    atomic_directory(state_dir, write)


def load_state(state_dir: Path, model, optimizer, cfg: TrainConfig) -> tuple[int, dict]:
    """Resume: only the very run that saved the state (the same configuration), and only before its last step."""
    try:
        meta = json.loads((state_dir / TRAINER_STATE).read_text())
        moments = load_file(str(state_dir / "optimizer.safetensors"))
        if not (isinstance(meta, dict) and isinstance(meta.get("step"), int) and isinstance(meta.get("best"), dict)):
            raise ValueError(f"{TRAINER_STATE} lacks its step or best score")
    except (OSError, ValueError, SafetensorError) as e:
        raise TrainingError(f"{state_dir} is a damaged resume state ({e}); pass --overwrite to start afresh") from None
    saved = meta.get("config", {})
    changed = sorted(k for k, v in dataclasses.asdict(cfg).items() if json.loads(json.dumps(v)) != saved.get(k))
    if changed:
        raise TrainingError(f"{state_dir} holds an interrupted run with other settings ({', '.join(changed)} differ); "
                            "rerun its own command to resume it, or pass --overwrite to start afresh")
    if meta["step"] >= cfg.steps:
        raise TrainingError(f"{state_dir} is already at step {meta['step']} of {cfg.steps}; pass --overwrite to start afresh")
    copy_weights(model, read_weights(state_dir / "model"))
    params = dict(model.named_parameters())
    for key, v in moments.items():
        name, _, slot = key.partition("::")
        if name not in params:
            raise TrainingError(f"{state_dir}: optimizer state for unknown parameter {name!r}; pass --overwrite to start afresh")
        optimizer.state[params[name]][slot] = v
    return meta["step"], meta["best"]


def train(cfg: TrainConfig, output, command: str | None = None, progress: bool = True, overwrite: bool = False) -> dict:
    """Train to `output`. One run writes an output at a time (a lock); an existing checkpoint or non-empty
    directory there is refused unless `overwrite`, except this run's own resume state."""
    output = Path(output)
    for name in BOUNDS:
        check_bounds(name, getattr(cfg, name))
    if output.name in ("", ".", ".."):
        raise TrainingError(f"--output {output} names no new directory: give the checkpoint a name, e.g. runs/my-model")
    if _log_path(output).is_dir():
        raise TrainingError(f"{_log_path(output)} is a folder, where this run would write its log; move it or pick "
                            "another --output")
    make_parent(output)
    with output_lock(output):
        recover_leftovers(output)
        recover_leftovers(_state_dir(output))
        if overwrite:  # start afresh: no resume from an earlier run's state, no old log lines
            shutil.rmtree(_state_dir(output), ignore_errors=True)
            _log_path(output).unlink(missing_ok=True)
            if output.exists() and not output.is_dir():
                output.unlink()
        elif not _state_dir(output).exists() and output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise TrainingError(f"{output} already exists and is not this run's resume state; pass --overwrite to "
                                "replace it (its extraction, card and other files go too), or pick another --output")
        elif not _state_dir(output).exists() and _log_path(output).exists() and not is_training_log(_log_path(output)):
            raise TrainingError(f"{_log_path(output)} already exists and is not a training log; this run would write "
                                "its log there: move the file, pass --overwrite to replace it, or pick another --output")
        return _train(cfg, output, command, progress)


def _train(cfg: TrainConfig, output: Path, command: str | None, progress: bool) -> dict:
    state_dir = _state_dir(output)
    keep_freed_memory()
    cfg = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision), **method_batches(cfg))
    accelerator = Accelerator(mixed_precision="bf16" if cfg.precision == "bf16" else "no")
    set_seed(cfg.seed)
    tasks = get_tasks(cfg.tasks)
    for t in tasks:  # the whole validation split is read and checked before step 1, not at the end
        validation = t.load("validation", cfg.data_dir)
        if t.output_type == "label" and (unseen := unseen_labels(t, validation, cfg.data_dir)):
            accelerator.print(f"warning: task {t.name}: {unseen} of its {len(validation)} validation examples have a "
                              "label that no training example has, so the model cannot learn to give it")
    model = HyperLensModel.build(load_backbone(cfg.backbone, seed=cfg.seed), cfg.method,
                                 [t.name for t in tasks], cfg.method_config)
    model.task_specs = [t.spec() for t in tasks]
    examples, selection = split_selection(tasks, cfg)
    tok = model.tokenizer
    train_data = {t.name: t.model_inputs(examples[t.name], tok, cfg.max_source_length, train=True) for t in tasks}
    model.target_lengths = {t: target_length(tok, exs, cfg.max_target_length) for t, exs in train_data.items()}
    costs = ({t: example_costs(tok, exs, cfg.max_source_length, model.target_lengths[t]) for t, exs in train_data.items()}
             if cfg.batching in ("grouped", "single-grouped") else None)
    sampler = MultiTaskSampler(train_data, cfg.batch_size, cfg.temperature if cfg.sampling == "temperature" else 1.0,
                               mixed=not cfg.batching.startswith("single"), seed=cfg.seed,
                               rank=accelerator.process_index, weights=cfg.task_weights, costs=costs,
                               sizes={t: len(e) for t, e in examples.items()})
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(trainable, cfg.lr, cfg.weight_decay)
    start, best = 0, {"score": -math.inf, "step": 0}
    if state_dir.exists():
        start, best = load_state(state_dir, model, optimizer, cfg)
        accelerator.print(f"resuming from step {start} ({state_dir})")
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    with warnings.catch_warnings():  # fast-forward the schedule to the resumed step
        warnings.simplefilter("ignore")
        for _ in range(start):
            scheduler.step()
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)
    sections = {"training": {**dataclasses.asdict(cfg), "command": command, "selection": selection["how"]}}
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {cfg.method}",
               disable=not (progress and accelerator.is_main_process))
    log = _log_path(output)
    earlier = 0.0  # training seconds before a resume: the log's clock runs on, so its last record is the run's time
    if log.exists():  # keep only what the resumed state has seen; later lines would be repeated
        kept = [(line, r) for line, r in log_records(log) if r["step"] <= start]
        log.write_text("".join(line + "\n" for line, _ in kept))
        earlier = max((r.get("seconds", 0.0) for _, r in kept), default=0.0)
    t0 = time.time() - earlier
    monitor = HealthMonitor()
    for step in bar:
        model.train()
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout depends on the step alone: exact resume
        rows = sampler.batch(step)
        batch = collate(core, rows, cfg.max_source_length)
        out = model(**batch, label_smoothing=cfg.label_smoothing)
        loss = out.loss
        health = monitor.observe(step, out, batch, [e.task for e in rows]) if monitor.due(step) else None
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at step {step}; stopping. {resume_advice(state_dir)}")
        accelerator.backward(loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(trainable, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": round(loss.item(), 4), "lr": scheduler.get_last_lr()[0],
                  "seconds": round(time.time() - t0, 1), **({"health": health} if health else {})}
        if health and "warning" in health:
            bar.write(f"warning: {health['warning']}")
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        done = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or done:
            result = evaluate_examples(core, tasks, selection["examples"], max_source_length=cfg.max_source_length)
            record["eval"] = result
            if not (math.isfinite(result["average"]) and all(torch.isfinite(p).all() for p in trainable)):
                raise TrainingError(f"the weights or scores stopped being finite by step {step + 1}; nothing was saved "
                                    f"from it. {resume_advice(state_dir)}")
            if accelerator.is_main_process:
                if result["average"] >= best["score"]:  # a tie goes to the later, longer-trained step
                    best = {"score": result["average"], "step": step + 1}
                    save_checkpoint(core, output, **sections, best_step=step + 1, overwrite=True,
                                    dtype=torch.float16 if cfg.save_dtype == "fp16" else None)
                bar.write(f"step {step + 1}: held-out average {result['average']:.2f} (best {best['score']:.2f} "
                          f"at step {best['step']})")
        if accelerator.is_main_process:
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if "eval" in record and not done:
                save_state(state_dir, core, optimizer, step + 1, best, cfg)
    accelerator.wait_for_everyone()
    result = finish(output, state_dir, cfg, progress)
    if monitor.warning():
        accelerator.print(f"warning: {monitor.warning()}")
    return result


def adamw(params, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW in one fused kernel: HyperLoader's 11M trainable parameters update in 16 ms a step on 2 CPU cores, against
    79 ms on the default multi-tensor path (docs/benchmarks.md)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def is_training_log(path: Path) -> bool:
    """Every line a record this loop writes (the last may be torn by a kill): the log of an earlier attempt at this
    output, not someone's file."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    records = log_records(path)
    kept = [line for line, _ in records]
    torn = [lines[-1]] if lines and lines[-1] not in kept and lines[-1].startswith('{"step": ') else []
    return kept + torn == lines and all("loss" in r for _, r in records)


def unseen_labels(task, validation, data_dir) -> int:
    """Validation examples whose target no training example has (a custom file's labels are not checked otherwise)."""
    known = set(getattr(task, "targets", ())) or {ex.target for ex in task.load("train", data_dir)}
    return sum(ex.target not in known for ex in validation)


def resume_advice(state_dir: Path) -> str:
    if not state_dir.exists():
        return "No state was saved yet: lower --lr or raise --warmup-steps and start again."
    step = json.loads((state_dir / TRAINER_STATE).read_text())["step"]
    return (f"The last good state is {state_dir} (step {step}); lower --lr or raise --warmup-steps, then run the "
            "same command to resume from it.")


@contextlib.contextmanager
def output_lock(output: Path):
    """An exclusive lock on `output` for the whole run; a second run on it fails at once, naming the first."""
    path = output.with_name(f".{output.name}.lock")
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise TrainingError(f"another training run (pid {f.read().strip() or '?'}) is writing {output}; "
                                "wait for it to finish, or pick another --output") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def method_batches(cfg: TrainConfig) -> dict:
    """Sampling and batching the user left unset, from the method: Hyperformer++ and HyperLoader draw one task
    per batch at temperature 10 as their code does; the others use proportional, length-grouped mixed batches."""
    return {k: v for k, v in REGISTRY[cfg.method].batches.items() if getattr(cfg, k) is None}


def resolve_precision(precision: str) -> str:
    """bf16 autocast (fp32 weights and optimizer) halves a CPU step where the CPU has bf16 instructions."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else "fp32"


def split_selection(tasks, cfg: TrainConfig) -> tuple[dict, dict]:
    """Each task's training examples, less a seeded `eval_examples` held out to pick the best checkpoint, so the
    reported validation scores are on examples the selection never saw. A task with too few rows to spare any
    is selected on the start of its validation split, and the checkpoint says so."""
    train, held, how = {}, {}, {}
    for t in tasks:
        examples = t.load("train", cfg.data_dir, cfg.max_train_examples)
        n = min(cfg.eval_examples, len(examples) // 5)
        if n:
            order = np.random.default_rng([cfg.seed, 7]).permutation(len(examples))
            keep = set(order[:n].tolist())
            held[t.name] = [e for i, e in enumerate(examples) if i in keep]
            train[t.name] = [e for i, e in enumerate(examples) if i not in keep]
            how[t.name] = f"{n} rows held out of train"
        else:
            held[t.name] = t.load("validation", cfg.data_dir, cfg.eval_examples)
            train[t.name] = examples
            how[t.name] = f"first {len(held[t.name])} validation rows (train too small to hold any out)"
    return train, {"examples": held, "how": how}


def finish(output: Path, state_dir: Path, cfg: TrainConfig, progress: bool) -> dict:
    """Score the best checkpoint on the full validation split, write metrics.json, drop the resume state."""
    model = load_checkpoint(output)
    result = evaluate(model, None, "validation", cfg.data_dir, progress=progress,
                      max_source_length=cfg.max_source_length)
    write_json(result, output / METRICS)
    log = _log_path(output)
    if log.exists():  # the loss curve travels with the checkpoint
        shutil.copyfile(log, output / TRAINING_LOG)
    shutil.rmtree(state_dir, ignore_errors=True)
    return result


def task_weight(text: str) -> tuple[str, float]:
    name, _, weight = text.partition("=")
    try:
        value = float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TASK=WEIGHT such as nli=3, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"a task weight must be a positive finite number, got {text!r}")
    return name, value


def config_from_args(a) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = {k: v for k, v in vars(a).items() if k in fields and v is not None}
    if a.task_weights:
        named = [name for name, _ in a.task_weights]
        if twice := sorted({n for n in named if named.count(n) > 1}):
            raise ValueError(f"--task-weights names {', '.join(twice)} more than once; give each task one weight")
        cfg["task_weights"] = dict(a.task_weights)
    if a.config:
        cfg["method_config"] = method_options(a.config)
    return TrainConfig(**cfg)


def run(a) -> None:
    from .evaluate import format_table
    command = "python -m analysis " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    result = train(config_from_args(a), a.output, command=command, overwrite=a.overwrite)
    print(format_table(result))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="multi-task training; keeps the best checkpoint by mean validation score")
    d = TrainConfig()
    p.add_argument("--method", default=d.method, choices=sorted(REGISTRY))
    p.add_argument("--backbone", default=d.backbone)
    p.add_argument("--tasks", nargs="+", help=f"task names or name=file.csv:input,target[,label] (default: {' '.join(BUILTIN_SUITE)})")
    p.add_argument("--config", help="method options as JSON text or a JSON file")
    p.add_argument("--output", required=True, help="checkpoint directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint or directory at --output")
    p.add_argument("--data-dir", help="root of local task folders (train.jsonl / validation.jsonl)")
    for name in ("steps", "batch_size", "lr", "warmup_steps", "weight_decay", "label_smoothing", "grad_clip",
                 "temperature", "max_source_length", "max_target_length", "max_train_examples", "eval_every",
                 "eval_examples", "seed"):
        default = getattr(d, name)
        p.add_argument("--" + name.replace("_", "-"), type=number(type(default) if default is not None else int, *BOUNDS[name]),
                       help=f"default {default}")
    p.add_argument("--sampling", choices=("proportional", "temperature"))
    p.add_argument("--save-dtype", choices=("fp32", "fp16"), help="weights of the saved checkpoint (fp16: half the "
                   "size; it is scored as saved)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"),
                   help="training arithmetic; auto (default): bf16 autocast where the hardware has fast bf16")
    p.add_argument("--batching", choices=("grouped", "mixed", "single", "single-grouped"),
                   help="grouped: mixed tasks in length-sorted batches; mixed: random; single: one task a batch; "
                   "single-grouped: one task a batch, length-sorted within the task (default: the method's own, "
                   "single for hyperformer and hyperloader, grouped for the rest)")
    p.add_argument("--task-weights", nargs="+", type=task_weight, metavar="TASK=W",
                   help="multiply a task's sampling probability, e.g. nli=3 paraphrase=3")
    p.set_defaults(run=run)
