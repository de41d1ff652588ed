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
import weakref
import zlib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from .cli import number
from .evaluate import is_correct, mean_token_nll
from .extraction import META_COLUMNS, Extraction, extraction_path, load_extraction  # noqa: F401 (re-exported)
from .export import atomic_path, write_json
from .methods import ForwardState
from .methods.layers import GeneratedAdapter, masked_mean
from .neighbors import natural_key
from .tasks import get_task

PARAM_DIMS = 256


@lru_cache(maxsize=256)
def _sketch_hashes(name: str, size: int, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(zlib.crc32(f"{name}:{size}".encode()))
    return torch.from_numpy(rng.integers(dims, size=size)), torch.from_numpy(rng.choice(np.float32([-1, 1]), size=size))


def layer_vectors(state: ForwardState, dims: int = PARAM_DIMS) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Generated parameters grouped per layer ("decoder.3"): flattened (sketched when large) and their L2 norm.

    Weights that come straight out of linear heads (w = W c + b, a `GeneratedAdapter`) are never built: the
    sketch is linear, so sketch(w) = (S W) c + S b, and |w|^2 = c'(W'W)c + 2(W'b)'c + b'b."""
    blocks: dict[str, list] = {}
    for site, weights in state.generated.items():
        if isinstance(weights, GeneratedAdapter):
            code = weights.code.detach().float().cpu()
            parts = {k: HeadPart(code, w, b, _HEAD_CACHE.setdefault(weights.heads, {}))
                     for k, (w, b) in weights.linear_parts().items()}
        else:
            parts = {k: t.detach().float().flatten(1).cpu() for k, t in weights.tensors().items()}
        for k, part in parts.items():
            blocks.setdefault(f"{site.stack}.{site.layer}", []).append((f"{site.name}.{k}", part))
    vectors, norms = {}, {}
    for layer, named in sorted(blocks.items(), key=lambda kv: natural_key(kv[0])):
        parts = [part for _, part in sorted(named, key=lambda item: item[0])]
        size = sum(p.shape[1] for p in parts)
        norms[layer] = torch.stack([p.square_norm() if isinstance(p, HeadPart) else p.square().sum(1)
                                    for p in parts]).sum(0).clamp(min=0).sqrt().numpy()
        if size <= dims:
            vectors[layer] = torch.cat([p.dense() if isinstance(p, HeadPart) else p for p in parts], dim=1).numpy()
            continue
        bucket, sign = _sketch_hashes(layer, size, dims)
        out, start = torch.zeros(parts[0].shape[0], dims), 0
        for p in parts:
            end = start + p.shape[1]
            if isinstance(p, HeadPart):
                p.add_sketch(out, bucket[start:end], sign[start:end], (layer, start, end, dims))
            else:
                out.index_add_(1, bucket[start:end], p * sign[start:end])
            start = end
        vectors[layer] = out.numpy()
    return vectors, norms


_HEAD_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # heads module -> {key: tensors}


class HeadPart(NamedTuple):
    """One generated block as code @ weight.T + bias, never materialised unless asked. The per-head
    matrices (W'W, S W, ...) are cached on the heads module, keyed by the parameters' version counters."""
    code: torch.Tensor    # (B, c)
    weight: torch.Tensor  # (P, c) a head's parameter
    bias: torch.Tensor    # (P,)
    cache: dict

    @property
    def shape(self) -> tuple[int, int]:
        return self.code.shape[0], self.weight.shape[0]

    def _cached(self, key: tuple, compute):
        key = (id(self.weight), self.weight._version, self.bias._version, *key)
        if key not in self.cache:
            if len(self.cache) > 1024:
                self.cache.clear()
            w, b = self.weight.detach().float().cpu(), self.bias.detach().float().cpu()
            self.cache[key] = compute(w, b)
        return self.cache[key]

    def dense(self) -> torch.Tensor:
        return torch.addmm(self.bias.detach().float().cpu(), self.code, self.weight.detach().float().cpu().T)

    def square_norm(self) -> torch.Tensor:
        gram, wb, bb = self._cached(("gram",), lambda w, b: (w.T @ w, w.T @ b, b @ b))
        return ((self.code @ gram) * self.code).sum(1) + 2 * self.code @ wb + bb

    def add_sketch(self, out: torch.Tensor, bucket, sign, key: tuple) -> None:
        def compute(w, b):
            dims = out.shape[1]
            return (torch.zeros(dims, w.shape[1]).index_add_(0, bucket, w * sign[:, None]),
                    torch.zeros(dims).index_add_(0, bucket, b * sign))
        sw, sb = self._cached(("sketch", *key), compute)
        out.addmm_(self.code, sw.T).add_(sb)


def conditioning_vectors(model, input_ids, attention_mask, task_ids, predictions: bool, max_new_tokens: int,
                         with_nll: bool = False):
    """(state, embedding (B, k) float32, predictions or None) from one encoder pass (+ decoding if asked);
    with_nll also puts each prediction's mean token NLL in state.extras["nll"], from the same decoding."""
    if predictions:
        out, state = model.generate(input_ids, attention_mask, task_ids, max_new_tokens=max_new_tokens,
                                    return_state=True, output_scores=with_nll, return_dict_in_generate=True)
        texts = model.decode(out.sequences)
        if with_nll:
            state.extras["nll"] = mean_token_nll(model, out)
    else:
        state, texts = model.conditioning(input_ids, attention_mask, task_ids), None
    if state.embedding is None:  # methods without a conditioning network: the raw pooled encoder output
        enc = model.backbone.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        state.embedding = masked_mean(enc, attention_mask)
    return state, state.embedding.detach().float().cpu().numpy(), texts


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
            state, emb, texts = conditioning_vectors(model, ids, mask, model.task_ids([e.task for e in batch]),
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
    from .checkpoint import load_checkpoint
    model = load_checkpoint(a.checkpoint)
    out = extract(model, Path(a.checkpoint) / "extraction", a.tasks, a.split, a.data_dir, a.max_examples,
                  a.batch_size, predictions=not a.no_predictions, param_dims=a.param_dims, vector_dtype=a.vector_dtype)
    print(f"wrote {out}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="per-instance embeddings and generated adapter parameters to parquet")
    p.add_argument("checkpoint")
    p.add_argument("--tasks", nargs="+", help="default: the checkpoint's tasks")
    p.add_argument("--split", default="validation")
    p.add_argument("--data-dir")
    p.add_argument("--max-examples", type=number(int, 1), help="per task")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=64)
    p.add_argument("--param-dims", type=number(int, 1, 4096), default=PARAM_DIMS, help="sketch size of each layer's parameters")
    p.add_argument("--no-predictions", action="store_true", help="encoder pass only: no decoding")
    p.add_argument("--vector-dtype", choices=VECTOR_DTYPES, default="float16",
                   help="how embeddings and parameter sketches are stored (read back as float32)")
    p.set_defaults(run=run)
