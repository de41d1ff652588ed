"""Per-instance extraction: one parquet row per instance with its metadata, conditioning embedding and,
per layer, the generated adapter parameters (a fixed count-sketch of them when large) and their norm.

    python -m analysis extract CKPT [--tasks ...] [--split validation] [--no-predictions]

Embeddings and generated weights need the encoder pass only; the decoder runs only for predictions.
Rows stream to shard files of `shard_size` rows (atomic, skipped on resume), then merge into
CKPT/extraction/<split>.parquet, so memory stays bounded at any size.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from analysis.cli import checkpoint_command, number
from analysis.data.tasks import get_task
from analysis.files import atomic_path, write_json
from analysis.layout import extraction_dir
from analysis.train.evaluate import is_correct

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
    tasks = [get_task(t) for t in (tasks or model.task_specs)]
    examples = [e for t in sorted(tasks, key=lambda t: t.name) for e in t.load(split, data_dir, max_examples)]
    by_name = {t.name: t for t in tasks}
    parts = out_dir / f"{split}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    shards = range(0, len(examples), shard_size)
    bar = tqdm(total=len(examples), desc=f"extract {split}", disable=not progress)
    for s0 in shards:
        shard = parts / f"part-{s0 // shard_size:05d}.parquet"
        chunk = examples[s0:s0 + shard_size]
        if shard.exists():  # resumable: finished shards are kept
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
    final = out_dir / f"{split}.parquet"
    shard_files = sorted(parts.glob("part-*.parquet"))
    with atomic_path(final) as tmp:
        writer = None
        for f in shard_files:  # one shard in memory at a time
            t = pq.read_table(f)
            writer = writer or pq.ParquetWriter(tmp, t.schema, compression=COMPRESSION)
            writer.write_table(t)
        writer.close()
    schema = pq.read_schema(final)
    info = {"split": split, "n": len(examples), "method": model.method.name,
            "conditioning": model.method.conditioning or "masked mean of the encoder output (no hypernetwork)",
            "embedding_dim": schema.field("embedding").type.list_size, "param_dims": param_dims,
            "param_columns": [n for n in schema.names if n.startswith("params.")], "vector_dtype": vector_dtype,
            "predictions": predictions, "tasks": sorted(by_name), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(info, out_dir / f"{split}.json")
    shutil.rmtree(parts)
    return final


def run(a) -> None:
    from analysis.model.checkpoint import load_checkpoint
    model = load_checkpoint(a.checkpoint)
    out = extract(model, extraction_dir(a.checkpoint), a.tasks, a.split, a.data_dir, a.max_examples,
                  a.batch_size, predictions=not a.no_predictions, param_dims=a.param_dims, vector_dtype=a.vector_dtype)
    print(f"wrote {out}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = checkpoint_command(sub, "extract", "per-instance embeddings and generated adapter parameters to parquet", run,
                           vector=False)
    p.add_argument("--tasks", nargs="+", help="default: the checkpoint's tasks")
    p.add_argument("--data-dir")
    p.add_argument("--max-examples", type=number(int, 1), help="per task")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=64)
    p.add_argument("--param-dims", type=number(int, 1, 4096), default=PARAM_DIMS, help="sketch size of each layer's parameters")
    p.add_argument("--no-predictions", action="store_true", help="encoder pass only: no decoding")
    p.add_argument("--vector-dtype", choices=VECTOR_DTYPES, default="float16",
                   help="how embeddings and parameter sketches are stored (read back as float32)")
