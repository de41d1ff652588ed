"""Decode and score: per-task metrics and their GLUE-style average (mean over tasks of each task's mean
metric, 0-100). `python -m analysis evaluate CKPT [--output PATH]`."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from analysis.cli import number, split_name
from analysis.data.batching import length_sorted_batches
from analysis.data.tasks import TASKS, Example, Task, get_task, get_tasks, normalize_text
from analysis.errors import HyperLensError
from analysis.files import check_output_file, write_json
from analysis.layout import CARD, CONFIG, METRICS, PARAMS, TRAINING_LOG, WEIGHTS, extraction_dir


@torch.no_grad()
def predict(model, examples: list[Example], batch_size: int = 64, max_source_length: int = 128,
            max_new_tokens: int = 32, with_nll: bool = False, progress: bool = False, **generate):
    """Predictions in input order (greedy unless `generate` asks for beams); with_nll also returns each prediction's
    mean token NLL."""
    model.eval()
    preds, nlls = [""] * len(examples), [0.0] * len(examples)
    for idx in tqdm(length_sorted_batches(examples, batch_size), desc="decode", disable=not progress, leave=False):
        batch = [examples[i] for i in idx]
        ids, mask = model.tokenize([e.source for e in batch], max_source_length)
        out = model.generate(ids, mask, model.task_ids([e.task for e in batch]), max_new_tokens=max_new_tokens,
                             output_scores=with_nll, return_dict_in_generate=True, **generate)
        texts = model.decode(out.sequences)
        mean_nll = mean_token_nll(model, out) if with_nll else None
        for j, i in enumerate(idx):
            preds[i] = texts[j]
            nlls[i] = float(mean_nll[j]) if with_nll else 0.0
    return (preds, nlls) if with_nll else preds


def mean_token_nll(model, out) -> torch.Tensor:
    """(B,) mean NLL of each generated sequence's tokens, from generate(output_scores=True,
    return_dict_in_generate=True); padding after the end token is left out."""
    step_lp = model.backbone.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    real = step_lp.isfinite() & (out.sequences[:, 1:] != model.backbone.generation_config.pad_token_id)
    return -(step_lp.masked_fill(~real, 0).sum(1) / real.sum(1).clamp(min=1))


def is_correct(prediction: str, example: Example) -> bool:
    """Per-instance correctness for the map: exact match of the normalised output (any gold answer for QA)."""
    golds = example.extra.get("answers") or [example.target]
    return normalize_text(prediction) in {normalize_text(g) for g in golds}


def score_task(model, task: Task, examples: list[Example], **kw) -> tuple[dict[str, float], list[str]]:
    inputs = task.model_inputs(examples, model.tokenizer, kw.get("max_source_length", 128))
    kw["max_new_tokens"] = kw.get("max_new_tokens") or model.target_length(task.name)
    preds, nlls = predict(model, inputs, with_nll=True, **kw) if task.needs_nll else (predict(model, inputs, **kw), None)
    return task.score_outputs(examples, inputs, preds, nlls)


def average(per_task: dict[str, dict[str, float]]) -> float:
    return sum(sum(m.values()) / len(m) for m in per_task.values()) / max(len(per_task), 1)


def evaluate(model, tasks: list[Task | str | dict] | None = None, split: str = "validation", data_dir=None,
             max_examples: int | None = None, progress: bool = False, **kw) -> dict:
    tasks = get_tasks(tasks or model.task_specs)
    return evaluate_examples(model, tasks, {t.name: t.load(split, data_dir, max_examples) for t in tasks}, progress, **kw)


def evaluate_examples(model, tasks: list[Task], examples: dict[str, list[Example]], progress: bool = False,
                      text_generation: dict | None = None, **kw) -> dict:
    """Per-task scores; `text_generation` (num_beams, min_new_tokens, ...) applies to free-text tasks only."""
    per_task = {}
    for task in tqdm(tasks, desc="evaluate", disable=not progress):
        extra = (text_generation or {}) if task.output_type == "text" else {}
        per_task[task.name], _ = score_task(model, task, examples[task.name], **kw, **extra)
    return {"tasks": per_task, "average": round(average(per_task), 2)}


def format_table(result: dict) -> str:
    rows = [f"{'task':<14}{'metric':<14}{'value':>8}"]
    for task, metrics in sorted(result["tasks"].items()):
        rows += [f"{task:<14}{m:<14}{v:>8.2f}" for m, v in metrics.items()]
    rows.append(f"{'average':<28}{result['average']:>8.2f}")
    return "\n".join(rows)


def trained_length(model) -> int:
    """The source length the checkpoint was trained and scored with."""
    return (model.config.get("training") or {}).get("max_source_length", 128)


def trained_data_dir(model) -> str | None:
    """The --data-dir the checkpoint was trained with, which its tasks' validation files come from."""
    return (model.config.get("training") or {}).get("data_dir")


def data_dir_for(model, tasks: list[Task], given: str | None) -> str | None:
    """--data-dir as given; else the folder the checkpoint was trained from, when a task here reads one."""
    stored = trained_data_dir(model)
    if given or stored is None or not any(t.reads_data_dir for t in tasks):
        return given
    if not Path(stored).is_dir():
        raise HyperLensError(f"this checkpoint was trained on data from {stored}, which is no longer a folder; pass "
                             "--data-dir with where that data is now")
    return stored


def _same_folder(a, b) -> bool:
    return a is None and b is None or a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


def _differs_from_training(args, model) -> str:
    """The options that make this evaluation other than train's final one (all tasks, the whole validation split,
    its source length, each task's own target length, greedy decoding), or "" when none do."""
    checks = {"--tasks": args.tasks and sorted(args.tasks) != sorted(model.tasks), "--max-examples": args.max_examples,
              "--split": args.split != "validation",
              "--max-source-length": args.max_source_length not in (None, trained_length(model)),
              "--max-target-length": args.max_target_length, "--num-beams": (args.num_beams or 1) > 1,
              "--min-new-tokens": args.min_new_tokens,
              "--data-dir": args.data_dir is not None and not _same_folder(args.data_dir, trained_data_dir(model))}
    return " ".join(option for option, differs in checks.items() if differs)


def _data_of(spec: dict) -> dict:
    """A task spec with its defaults filled in and its files as absolute paths, to compare where data comes from."""
    spec = {**get_task(spec["name"]).spec(), **spec} if spec["name"] in TASKS and "path" not in spec else dict(spec)
    return {k: str(Path(v).resolve()) if k in ("path", "validation_path") and v else v for k, v in spec.items()}


def reused_task_weights(model, tasks: list[Task], data_dir) -> list[str]:
    """Trained tasks scored on other data than training read them from (another file, or another --data-dir for a
    task read from one): a task-conditioned method still applies what it learned for each name."""
    if not model.method.uses_task:
        return []
    trained = {s["name"]: _data_of(s) for s in model.task_specs}
    moved = not _same_folder(data_dir, trained_data_dir(model))
    return [t.name for t in tasks
            if t.name in trained and (_data_of(t.spec()) != trained[t.name] or moved and t.reads_data_dir)]


def run(args) -> None:
    from analysis.model.checkpoint import load_checkpoint
    if args.output:  # checked before the evaluation, not after it
        check_output_file(args.output, args.overwrite)
        own = {Path(args.checkpoint, f).resolve() for f in (CONFIG, WEIGHTS, PARAMS, CARD, TRAINING_LOG)}
        out = Path(args.output).resolve()
        if out in own or extraction_dir(args.checkpoint).resolve() in out.parents:
            raise HyperLensError(f"--output {args.output} is one of the checkpoint's own files or in its extraction; "
                                 "choose another path")
    model = load_checkpoint(args.checkpoint)
    text = {"num_beams": args.num_beams, "min_new_tokens": args.min_new_tokens}
    tasks = get_tasks(args.tasks or model.task_specs)
    data_dir = data_dir_for(model, tasks, args.data_dir)
    result = evaluate(model, tasks, args.split, data_dir, args.max_examples,
                      progress=True, batch_size=args.batch_size,
                      max_source_length=args.max_source_length or trained_length(model),
                      max_new_tokens=args.max_target_length, text_generation={k: v for k, v in text.items() if v})
    print(format_table(result))
    if reused := reused_task_weights(model, tasks, data_dir):
        print(f"note: {', '.join(reused)} scored on other data than training read, with the task-specific weights "
              f"{model.method.name} learned for {'that name' if len(reused) == 1 else 'each name'}")
    differs = _differs_from_training(args, model)
    if differs and not args.output:  # CKPT/metrics.json holds the full validation scores that train wrote
        print(f"not saved: scored otherwise than train scored this checkpoint ({differs}), so the result does not "
              "replace CKPT/metrics.json; pass --output FILE to keep it")
        return
    out = Path(args.output) if args.output else Path(args.checkpoint) / METRICS
    write_json(result, out)
    print(f"wrote {out}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="per-task metrics and their average, as a table and JSON")
    p.add_argument("checkpoint")
    p.add_argument("--output", help="JSON path (default: CKPT/metrics.json)")
    p.add_argument("--overwrite", action="store_true", help="replace the file at --output")
    p.add_argument("--tasks", nargs="+", help="default: the checkpoint's tasks")
    p.add_argument("--split", default="validation", type=split_name)
    p.add_argument("--data-dir", help="default: the folder it was trained from")
    p.add_argument("--max-examples", type=number(int, 1))
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=64)
    p.add_argument("--max-source-length", type=number(int, 16, 4096), help="default: the length it was trained with")
    p.add_argument("--max-target-length", type=number(int, 1, 1024), help="tokens to decode at most (default: each task's own)")
    p.add_argument("--num-beams", type=number(int, 1, 16), help="beam search for free-text tasks (the summarisation "
                   "papers use 4-6); others stay greedy")
    p.add_argument("--min-new-tokens", type=number(int, 0, 1024), help="free-text tasks: decode at least this many tokens")
    p.set_defaults(run=run)
