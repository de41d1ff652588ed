"""Trainable-parameter counts with a per-module breakdown, checked against the papers' published numbers."""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

from analysis.cli import method_options, number
from analysis.errors import HyperLensError
from analysis.layout import PARAMS

from .backbone import PRESETS, load_backbone
from .hyperlens import HyperLensModel
from .methods import REGISTRY

GLUE_TASKS = ("cola", "mnli", "mrpc", "qnli", "qqp", "rte", "sst2", "stsb")


def parameter_report(model: HyperLensModel) -> dict:
    """Counts by top-level method module, plus the backbone weights that train (and why)."""
    new = set(model.spec.new_params)
    groups: dict[str, int] = defaultdict(int)
    seen = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if name.startswith("method."):
            groups[".".join(name.split(".")[:2])] += p.numel()
        elif name.removeprefix("backbone.") in new:
            groups["backbone (new in warm start: cross-attention, LM-head transform)"] += p.numel()
        elif model.method.trains_whole_backbone:
            groups["backbone (all weights)"] += p.numel()
        else:
            groups["backbone layer norms"] += p.numel()
    total, backbone_total, n_tasks = sum(groups.values()), model.spec.n_params, len(model.tasks)
    return {"method": model.method.name, "backbone": model.spec.name, "tasks": n_tasks, "groups": dict(groups),
            "trainable": total, "backbone_params": backbone_total,
            "percent": 100 * total / backbone_total, "percent_per_task": 100 * total / n_tasks / backbone_total,
            "notes": list(model.spec.notes)}


def format_report(r: dict) -> str:
    lines = [f"{r['method']} on {r['backbone']} ({r['tasks']} tasks)", f"{'module':<68}{'trainable':>14}"]
    lines += [f"{name:<68}{count:>14,}" for name, count in r["groups"].items()]
    lines += ["-" * 82, f"{'total trainable':<68}{r['trainable']:>14,}",
              f"{r['percent']:.2f}% of {r['backbone_params']:,} backbone parameters; "
              f"{r['percent_per_task']:.2f}% per task"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def count(method: str, backbone: str | None = None, n_tasks: int = 8, config: dict | str | None = None) -> dict:
    backbone = backbone or REGISTRY[method].paper_backbone
    tasks = list(GLUE_TASKS) if n_tasks == 8 else [f"task{i:02d}" for i in range(n_tasks)]
    meta = backbone in PRESETS
    bb = load_backbone(backbone, meta=meta)
    with torch.device("meta") if meta else torch.device("cpu"):
        model = HyperLensModel.build(bb, method, tasks, config)
    return parameter_report(model)


def save(report: dict, path: Path, overwrite: bool) -> None:
    """Write params.json; one that says something else (edited, or from other code) only with --overwrite."""
    from analysis.files import write_json
    if path.is_file() and not overwrite:
        try:
            if json.loads(path.read_text()) == json.loads(json.dumps(report)):
                print(f"{path} is up to date", file=sys.stderr)
                return
        except ValueError:
            pass
        raise HyperLensError(f"{path} already exists and differs from this count; pass --overwrite to replace it")
    print(f"wrote {write_json(report, path)}", file=sys.stderr)  # a folder in its place is refused there


def run(a) -> None:
    if a.overwrite and not a.save:
        raise ValueError("--overwrite replaces CKPT/params.json, so it goes with --save")
    if a.checkpoint:  # the exact configuration a checkpoint was trained with
        given = [f"--{k}" for k in ("method", "backbone", "tasks", "config") if getattr(a, k) is not None]
        if given:
            raise ValueError(f"--checkpoint counts the checkpoint's own configuration, so {', '.join(given)} "
                             "would be ignored: give one or the other")
        from .checkpoint import read_config
        cfg = read_config(a.checkpoint)
        r = count(cfg["method"], cfg["backbone"]["name"], len(cfg["tasks"]), cfg["method_config"])
        if a.save:
            save(r, Path(a.checkpoint) / PARAMS, a.overwrite)
    elif not a.method:
        raise ValueError("give --method (and optionally --backbone), or --checkpoint")
    elif a.save:
        raise ValueError("--save writes CKPT/params.json, so it needs --checkpoint CKPT")
    else:
        r = count(a.method, a.backbone, a.tasks or 8, method_options(a.config) if a.config else None)
    print(json.dumps(r, indent=2) if a.json else format_report(r))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="trainable parameter count and per-module breakdown")
    p.add_argument("--method", choices=sorted(REGISTRY))
    p.add_argument("--checkpoint", help="count a checkpoint's own configuration instead")
    p.add_argument("--json", action="store_true")
    p.add_argument("--save", action="store_true", help="with --checkpoint: also write CKPT/params.json")
    p.add_argument("--overwrite", action="store_true", help="with --save: replace a params.json that differs")
    p.add_argument("--backbone", help=f"a preset ({', '.join(PRESETS)}) or any backbone spec; "
                                      "default: the method's paper backbone")
    p.add_argument("--tasks", type=number(int, 1, 1000), help="number of tasks (default 8, GLUE)")
    p.add_argument("--config", help="method options as JSON, e.g. '{\"decoder_adapter_dim\": 32}', or a JSON file")
    p.set_defaults(run=run)
