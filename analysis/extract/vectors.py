"""What extraction reads from one batch: the conditioning embedding, and per layer the generated parameters,
flattened, or count-sketched to a fixed size when large, with their norm."""
from __future__ import annotations

import weakref
import zlib
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from analysis.layout import natural_key
from analysis.model.methods import ForwardState
from analysis.model.methods.layers import GeneratedAdapter, masked_mean
from analysis.train.evaluate import mean_token_nll

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


class BatchVectors(NamedTuple):
    state: ForwardState       # the generated weights of this batch
    embedding: np.ndarray     # (B, k) float32 conditioning embedding
    predictions: list | None  # decoded outputs, when asked for


def batch_vectors(model, input_ids, attention_mask, task_ids, predictions: bool, max_new_tokens: int,
                  with_nll: bool = False) -> BatchVectors:
    """One encoder pass (and decoding when `predictions`); with_nll also puts each prediction's mean token NLL
    in state.extras["nll"], from the same decoding."""
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
    return BatchVectors(state, state.embedding.detach().float().cpu().numpy(), texts)
