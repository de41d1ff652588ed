"""A checkpoint folder's files, named once, the training time its log records, and the natural order of the layer
names inside them.

    CKPT/config.json                  method, backbone, tasks, training record, library versions, machine
    CKPT/adapter_model.safetensors    the trainable weights only
    CKPT/metrics.json                 full validation scores (train, evaluate)
    CKPT/params.json                  trainable parameter counts (params --save)
    CKPT/training_log.jsonl           loss, health and held-out scores during training
    CKPT/MODEL_CARD.md                the model card (card)
    CKPT/extraction/<split>.parquet   per-instance embedding and generated-parameter sketches (extract)
    CKPT/extraction/report.json       cluster quality with baselines (report --save)
    CKPT/extraction/projections/      cached maps (project)
"""
from __future__ import annotations

import json
import re
from pathlib import Path

CONFIG = "config.json"
WEIGHTS = "adapter_model.safetensors"
METRICS = "metrics.json"
PARAMS = "params.json"
TRAINING_LOG = "training_log.jsonl"
TRAINER_STATE = "trainer_state.json"
CARD = "MODEL_CARD.md"
EXTRACTION = "extraction"


def extraction_dir(checkpoint) -> Path:
    return Path(checkpoint) / EXTRACTION


def extraction_file(checkpoint, split: str = "validation") -> Path:
    return extraction_dir(checkpoint) / f"{split}.parquet"


def report_file(checkpoint) -> Path:
    return extraction_dir(checkpoint) / "report.json"


def projection_cache(checkpoint) -> Path:
    return extraction_dir(checkpoint) / "projections"


def training_seconds(checkpoint) -> float | None:
    """The training loop's wall time, from the last timed record of the checkpoint's training log."""
    log = Path(checkpoint) / TRAINING_LOG
    timed = [r["seconds"] for _, r in log_records(log) if type(r.get("seconds")) in (int, float)] if log.is_file() else []
    return float(timed[-1]) if timed else None


def log_records(log: Path) -> list[tuple[str, dict]]:
    """A training log's records, each with its line; a line that is not one (a run still writing its last line,
    or damage) is skipped."""
    records = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and type(record.get("step")) is int:
            records.append((line, record))
    return records


def natural_key(name: str) -> list:
    """Sort key that orders 'decoder.2' before 'decoder.10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
