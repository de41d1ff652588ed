"""Per-instance extraction: one parquet row per instance with its metadata, conditioning embedding and,
per layer, the generated adapter parameters (a fixed count-sketch of them when large) and their norm.

    python -m analysis extract CKPT [--tasks ...] [--split validation] [--no-predictions]

Embeddings and generated weights need the encoder pass only; the decoder runs only for predictions.
Rows stream to shard files of `shard_size` rows (atomic, skipped on resume), then merge into
CKPT/extraction/<split>.parquet, so memory stays bounded at any size.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from analysis.cli import checkpoint_command, number
from analysis.data.tasks import get_tasks
from analysis.errors import HyperLensError
from analysis.files import atomic_path, write_json
from analysis.layout import extraction_dir, extraction_file, report_file
from analysis.train.evaluate import data_dir_for, is_correct, trained_length

from .reader import META_COLUMNS
from .vectors import PARAM_DIMS, batch_vectors, layer_vectors

COMPRESSION = "zstd"
VECTOR_DTYPES = ("float16", "float32")  # float16 halves a shipped extraction; maps and kNN do not need more


def _table(rows: list[dict], embedding: np.ndarray, vectors: dict, norms: dict, dtype: str = "float16") -> pa.Table:
    cols = {c: pa.array([r[c] for r in rows]) for c in META_COLUMNS}
    cols["correct"] = pa.array([r["correct"] for r in rows], pa.bool_())
    cols["prediction"] = pa.array([r["prediction"] for r in rows], pa.string())
    cols["label"] = pa.array([r["label"] for r in rows], pa.string())

    def fixed(a: np.ndarray):
        values = a.astype(dtype)
        if not np.isfinite(values).all():  # float16 tops out at 65504
            raise ValueError(f"generated vectors overflow {dtype}; extract with --vector-dtype float32")
        return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), a.shape[1])
    cols["embedding"] = fixed(embedding)
    for layer in vectors:
        cols[f"params.{layer}"] = fixed(vectors[layer])
        cols[f"norm.{layer}"] = pa.array(norms[layer].astype(np.float32))
    return pa.table(cols)


@torch.no_grad()
def extract(model, out_dir, tasks=None, split: str = "validation", data_dir=None, max_examples: int | None = None,
            batch_size: int = 64, predictions: bool = True, param_dims: int = PARAM_DIMS,
            max_source_length: int = 128, max_new_tokens: int | None = None, shard_size: int = 2048,
            progress: bool = True, vector_dtype: str = "float16") -> Path:
    model.eval()
    out_dir = Path(out_dir)
    tasks = get_tasks(tasks or model.task_specs)
    model.task_ids([t.name for t in tasks])  # a task-conditioned method refuses an unseen task before any folder
    examples = [e for t in tasks for e in t.load(split, data_dir, max_examples)]
    settings = dict(split=split, predictions=predictions, param_dims=param_dims, max_source_length=max_source_length,
                    max_new_tokens=max_new_tokens, vector_dtype=vector_dtype)
    parts = _shard_folder(out_dir / f"{split}.parts", {
        **settings, "weights": _weights_hash(model), "tasks": [t.spec() for t in tasks], "data_dir": str(data_dir),
        "max_examples": max_examples, "n": len(examples), "shard_size": shard_size})
    try:
        _write_shards(model, examples, parts, shard_size, batch_size, progress, **settings)
    except BaseException:
        if not any(parts.glob("part-*.parquet")):  # nothing finished to resume from
            shutil.rmtree(parts, ignore_errors=True)
        raise
    final = out_dir / f"{split}.parquet"
    with atomic_path(final) as tmp:
        writer = None
        for f in sorted(parts.glob("part-*.parquet")):  # one shard in memory at a time
            t = pq.read_table(f)
            writer = writer or pq.ParquetWriter(tmp, t.schema, compression=COMPRESSION)
            writer.write_table(t)
        writer.close()
    schema = pq.read_schema(final)
    info = {"split": split, "n": len(examples), "method": model.method.name,
            "conditioning": model.method.conditioning or "masked mean of the encoder output (no hypernetwork)",
            "embedding_dim": schema.field("embedding").type.list_size, "param_dims": param_dims,
            "param_columns": [n for n in schema.names if n.startswith("params.")], "vector_dtype": vector_dtype,
            "predictions": predictions, "tasks": [t.name for t in tasks], "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(info, out_dir / f"{split}.json")
    shutil.rmtree(parts)
    return final


def _write_shards(model, examples, parts: Path, shard_size: int, batch_size: int, progress: bool, split: str,
                  predictions: bool, param_dims: int, max_source_length: int, max_new_tokens: int | None,
                  vector_dtype: str) -> None:
    """Rows to shard files of `shard_size` rows each, atomically; a shard already there is kept (resume)."""
    bar = tqdm(total=len(examples), desc=f"extract {split}", disable=not progress)
    for s0 in range(0, len(examples), shard_size):
        shard = parts / f"part-{s0 // shard_size:05d}.parquet"
        chunk = examples[s0:s0 + shard_size]
        if shard.exists():
            bar.update(len(chunk))
            continue
        tables = []
        for b0 in range(0, len(chunk), batch_size):
            batch = chunk[b0:b0 + batch_size]
            ids, mask = model.tokenize([e.source for e in batch], max_source_length)
            state, emb, texts = batch_vectors(model, ids, mask, model.task_ids([e.task for e in batch]),
                                             predictions, max_new_tokens or max(model.target_length(e.task) for e in batch))
            vectors, norms = layer_vectors(state, param_dims)
            rows = [dict(row=s0 + b0 + i, id=e.id, task=e.task, source=e.source, target=e.target,
                         prediction=texts[i] if texts else None,
                         correct=is_correct(texts[i], e) if texts else None,
                         label=e.label, output_type=e.output_type, split=split) for i, e in enumerate(batch)]
            tables.append(_table(rows, emb, vectors, norms, vector_dtype))
            bar.update(len(batch))
        with atomic_path(shard) as tmp:
            pq.write_table(pa.concat_tables(tables), tmp, compression=COMPRESSION)
    bar.close()


def _weights_hash(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.trainable_state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _shard_folder(parts: Path, run: dict) -> Path:
    """The folder of finished shards, resumed only by a run of the same checkpoint weights, data and settings;
    shards of any other run are discarded, never merged into this one."""
    record = parts / "run.json"
    if parts.exists():
        try:
            same = json.loads(record.read_text()) == json.loads(json.dumps(run))
        except (OSError, ValueError):
            same = False
        if not same:
            print(f"discarding {parts}: its shards come from another checkpoint or other settings", file=sys.stderr)
            shutil.rmtree(parts)
    if not parts.exists():
        parts.mkdir(parents=True)
        write_json(run, record)
    return parts


def run(a) -> None:
    from analysis.model.checkpoint import load_checkpoint
    existing = extraction_file(a.checkpoint, a.split)
    if existing.parent.exists() and not existing.parent.is_dir():
        raise HyperLensError(f"{existing.parent} is a file, where the extraction folder goes; move it away first")
    if existing.exists() and not a.overwrite:
        raise HyperLensError(f"{existing} already exists; pass --overwrite to replace it (its saved report goes with "
                             "it), or extract into a copy of the checkpoint")
    for companion in (existing.with_suffix(".json"), report_file(a.checkpoint)):  # written or removed at the end
        if companion.is_dir():
            raise HyperLensError(f"{companion} is a folder, where the extraction's {companion.suffix[1:]} file goes; "
                                 "move it away first")
    model = load_checkpoint(a.checkpoint)
    data_dir = data_dir_for(model, get_tasks(a.tasks or model.task_specs), a.data_dir)
    out = extract(model, extraction_dir(a.checkpoint), a.tasks, a.split, data_dir,
                  a.max_examples, a.batch_size, predictions=not a.no_predictions, param_dims=a.param_dims,
                  max_source_length=trained_length(model), vector_dtype=a.vector_dtype)
    report = report_file(a.checkpoint)
    if report.exists() and _report_split(report) in (a.split, None):
        report.unlink()  # it scored the extraction just replaced; `report --save` scores the new one
        print(f"removed {report}, which scored the replaced extraction: rerun `report --save`")
    print(f"wrote {out}")


def _report_split(report: Path) -> str | None:
    try:
        return json.loads(report.read_text()).get("split", "validation")
    except (OSError, ValueError, AttributeError):
        return None  # unreadable: stale either way


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = checkpoint_command(sub, "extract", "per-instance embeddings and generated adapter parameters to parquet", run,
                           vector=False)
    p.add_argument("--tasks", nargs="+", help="default: the checkpoint's tasks")
    p.add_argument("--data-dir", help="default: the folder it was trained from")
    p.add_argument("--max-examples", type=number(int, 1), help="per task")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=64)
    p.add_argument("--param-dims", type=number(int, 1, 4096), default=PARAM_DIMS, help="sketch size of each layer's parameters")
    p.add_argument("--no-predictions", action="store_true", help="encoder pass only: no decoding")
    p.add_argument("--overwrite", action="store_true", help="replace an existing extraction of this split")
    p.add_argument("--vector-dtype", choices=VECTOR_DTYPES, default="float16",
                   help="how embeddings and parameter sketches are stored (read back as float32)")
