"""Adapter and LoRA math shared by every method: manual modules, and batched generated weights."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = {"relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "gelu": F.gelu}


def match_batch(t: Tensor, n: int) -> Tensor:
    """Generated weights are per input; beam search runs n = beams * inputs rows."""
    if t.shape[0] == n:
        return t
    if n % t.shape[0]:
        raise RuntimeError(f"generated weights for {t.shape[0]} inputs cannot serve a batch of {n}")
    return t.repeat_interleave(n // t.shape[0], dim=0)


def rank_major(B: Tensor) -> Tensor:
    """LoRA's (d_out, r) up matrix as a contiguous (r, d_out) operand of `h @ ...`. Autograd computes a weight's
    gradient in that weight's own layout, and for B (d_out, r) that is (d_out x rows) @ (rows x r): a skinny
    product MKL runs 4-5x slower at 4096 rows than the (r x rows) @ (rows x d_out) one a row-major copy gets."""
    return B.transpose(-1, -2).contiguous()


def add_lora(out: Tensor, h: Tensor, B: Tensor) -> Tensor:
    """out + h @ rank_major(B), the add inside the product (addmm): one pass fewer over out, forward and backward.
    Where that would change out's dtype (an fp32 out under autocast) or out is not contiguous, a plain add."""
    Bt = rank_major(B)
    if out.is_contiguous() and h.dtype == out.dtype:
        return torch.addmm(out.flatten(0, -2), h.flatten(0, -2), Bt).view_as(out)
    return out + h @ Bt


class Adapter(nn.Module):
    """A(x) = up(act(down(x))), started near zero so training begins from the pretrained model."""

    def __init__(self, d: int, a: int, activation: str = "relu", gain: float = 1e-4):
        super().__init__()
        self.down, self.up, self.activation = nn.Linear(d, a), nn.Linear(a, d), activation
        for lin in (self.down, self.up):
            nn.init.xavier_uniform_(lin.weight, gain=gain)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.up(ACTIVATIONS[self.activation](self.down(x)))


class LoRA(nn.Module):
    """out + scale * B A x for the frozen projection's output `out`, with B = 0 at the start."""

    def __init__(self, d_in: int, d_out: int, rank: int, alpha: float):
        super().__init__()
        self.A, self.B, self.scale = nn.Linear(d_in, rank, bias=False), nn.Linear(rank, d_out, bias=False), alpha / rank
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.B.weight)

    def forward(self, out: Tensor, x: Tensor) -> Tensor:
        return add_lora(out, self.A(x), self.B.weight * self.scale)


@dataclass
class AdapterWeights:
    """Per-instance adapter weights; leading dim N is the batch (or tasks, before `select`)."""
    down: Tensor                     # (N, d, a)
    down_bias: Tensor                # (N, a)
    up: Tensor                       # (N, a, d)
    up_bias: Tensor                  # (N, d)
    ln_weight: Tensor | None = None  # (N, d) generated post-adapter LayerNorm (Hyperformer)
    ln_bias: Tensor | None = None

    def __call__(self, x: Tensor, activation: str) -> Tensor:
        """x: (B, T, d) -> (B, T, d) with one bmm per projection, no loop over the batch. One set of weights for
        the whole batch (a single-task batch) is a plain matmul: no per-row copies, forward or backward."""
        n = x.shape[0]
        if self.down.shape[0] == 1 and n > 1:  # fused bias and LayerNorm affine: fewer passes over (B, T, d)
            h = F.linear(x, self.down[0].T, self.down_bias[0])
            y = F.linear(ACTIVATIONS[activation](h), self.up[0].T, self.up_bias[0])
            if self.ln_weight is not None:
                y = F.layer_norm(y, y.shape[-1:], self.ln_weight[0], self.ln_bias[0])
            return y
        h = torch.baddbmm(match_batch(self.down_bias, n).unsqueeze(1), x, match_batch(self.down, n))
        y = torch.baddbmm(match_batch(self.up_bias, n).unsqueeze(1), ACTIVATIONS[activation](h), match_batch(self.up, n))
        if self.ln_weight is not None:  # addcmul is outside CPU autocast: keep y's dtype, not the fp32 affine's
            y = torch.addcmul(match_batch(self.ln_bias, n).unsqueeze(1).to(y.dtype), F.layer_norm(y, y.shape[-1:]),
                              match_batch(self.ln_weight, n).unsqueeze(1).to(y.dtype))
        return y

    def added_to(self, out: Tensor, x: Tensor, activation: str) -> Tensor:
        return out + self(x, activation)

    def tensors(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def select(self, index: Tensor) -> "AdapterWeights":
        return type(self)(**{k: v.index_select(0, index) for k, v in self.tensors().items()})

    def scaled(self, gain: Tensor) -> "AdapterWeights":
        """The same adapter with its output times `gain` (a learned gate), folded into the output side's small
        tensors (the LayerNorm affine, else the up projection): no extra pass over (B, T, d), forward or backward."""
        if self.ln_weight is not None:
            return dataclasses.replace(self, ln_weight=self.ln_weight * gain, ln_bias=self.ln_bias * gain)
        return dataclasses.replace(self, up=self.up * gain, up_bias=self.up_bias * gain)

    def row(self, i: int) -> "AdapterWeights":
        return type(self)(**{k: v[i:i + 1] for k, v in self.tensors().items()})


@dataclass
class LoraWeights:
    A: Tensor       # (N, r, d_in)
    B: Tensor       # (N, d_out, r)
    scale: float | Tensor = 1.0

    def __call__(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if self.A.shape[0] == 1 < n:  # the scale goes into B's (d_out, r) matrix, not over (B, T, d_out)
            return F.linear(x, self.A[0]) @ rank_major(self.B[0] * self.scale)
        return torch.bmm(torch.bmm(x, match_batch(self.A, n).transpose(1, 2)),
                         match_batch(self.B * self.scale, n).transpose(1, 2))

    def added_to(self, out: Tensor, x: Tensor) -> Tensor:
        if self.A.shape[0] == 1 < x.shape[0]:
            return add_lora(out, F.linear(x, self.A[0]), self.B[0] * self.scale)
        return out + self(x)

    def tensors(self) -> dict[str, Tensor]:
        return {"lora_A": self.A, "lora_B": self.B}

    def select(self, index: Tensor) -> "LoraWeights":
        return LoraWeights(self.A.index_select(0, index), self.B.index_select(0, index), self.scale)

    def row(self, i: int) -> "LoraWeights":
        return LoraWeights(self.A[i:i + 1], self.B[i:i + 1], self.scale)

    def scaled(self, gain: Tensor) -> "LoraWeights":
        return LoraWeights(self.A, self.B, self.scale * gain)


@dataclass
class TaskGroups:
    """Per-task weights for a batch whose rows are sorted by task: each task's slice of the batch runs one matmul
    with that task's weights, so no weights are copied per row, forward or backward."""
    weights: AdapterWeights | LoraWeights  # (U, ...) one set per group
    sizes: list[int]                       # rows in each group, in batch order

    def __call__(self, x: Tensor, *args) -> Tensor:
        if len(self.sizes) == 1:  # a single-task batch (one task per batch, as Hyperformer++ trains): no split or copy
            return self.weights(x, *args)
        if len(set(self.sizes)) == 1:  # equal groups: one batched matmul over them, (U, rows * T, d)
            y = self.weights(x.reshape(len(self.sizes), -1, x.shape[-1]), *args)
            return y.reshape(*x.shape[:-1], y.shape[-1])
        parts = x.split(self.sizes)
        return torch.cat([self.weights.row(u)(part, *args) for u, part in enumerate(parts)])

    def added_to(self, out: Tensor, *args) -> Tensor:
        return self.weights.added_to(out, *args) if len(self.sizes) == 1 else out + self(*args)

    def tensors(self) -> dict[str, Tensor]:
        return self.weights.tensors()

    def scaled(self, gain: Tensor) -> "TaskGroups":
        return TaskGroups(self.weights.scaled(gain), self.sizes)


class Rows(NamedTuple):
    """Each row's group (task or prototype) in a batch, with the runs of equal groups found once per forward when
    the rows come sorted by group (training batches): per-group weights then apply to each run's slice with one
    matmul, and nothing is copied per row."""
    index: Tensor                           # (B,) each row's group
    runs: tuple[Tensor, list[int]] | None   # (each run's group, run lengths) when sorted, else None

    @classmethod
    def of(cls, index: Tensor, grouped: bool) -> "Rows":
        if grouped and bool((index[1:] >= index[:-1]).all()):
            values, counts = torch.unique_consecutive(index, return_counts=True)
            return cls(index, (values, counts.tolist()))
        return cls(index, None)

    def weights(self, weights, stride: int = 1, offset: int = 0):
        """Weights for each row: row i uses set `index[i] * stride + offset` of `weights`."""
        if self.runs is not None:
            values, sizes = self.runs
            return TaskGroups(weights.select(values * stride + offset), sizes)
        return weights.select(self.index * stride + offset)


class AdapterHeads(nn.Module):
    """Linear heads from a conditioning vector c to a full bottleneck adapter (and optionally its LayerNorm).

    init="hyperfan": Hyperdecoder/PHA, U(+-1e-3*sqrt(3/(c*m))) weights, zero head biases.
    init="normal":   Hyperformer, N(0, 0.01^2) weights, zero biases (so generated gamma ~ 0).
    """

    def __init__(self, c: int, d: int, a: int, layer_norm: bool = False, init: str = "hyperfan"):
        super().__init__()
        self.d, self.a = d, a
        self.weight_down, self.bias_down = nn.Linear(c, d * a), nn.Linear(c, a)
        self.weight_up, self.bias_up = nn.Linear(c, a * d), nn.Linear(c, d)
        self.ln_weight = nn.Linear(c, d) if layer_norm else None
        self.ln_bias = nn.Linear(c, d) if layer_norm else None
        for name, head in self.named_children():
            if init == "normal":
                nn.init.normal_(head.weight, std=0.01)
            else:
                fan = {"weight_down": d, "weight_up": a}.get(name, 1)
                bound = 1e-3 * math.sqrt(3 / (c * fan))
                nn.init.uniform_(head.weight, -bound, bound)
            nn.init.zeros_(head.bias)

    def forward(self, c: Tensor) -> AdapterWeights:
        n, d, a = c.shape[0], self.d, self.a
        return AdapterWeights(
            down=self.weight_down(c).view(n, d, a), down_bias=self.bias_down(c),
            up=self.weight_up(c).view(n, a, d), up_bias=self.bias_up(c),
            ln_weight=self.ln_weight(c) if self.ln_weight is not None else None,
            ln_bias=self.ln_bias(c) if self.ln_bias is not None else None)


class GeneratedAdapter:
    """Adapter weights heads(code) for a batch of codes (N, c), built on first use.

    The heads are linear, so anything linear in the weights (a sketch, a norm's Gram form) can be computed
    from `linear_parts` and the codes without materialising N full adapters: extraction does that."""

    def __init__(self, heads: AdapterHeads, code: Tensor):
        self.heads, self.code = heads, code
        self._weights: AdapterWeights | None = None

    @property
    def weights(self) -> AdapterWeights:
        if self._weights is None:
            self._weights = self.heads(self.code)
        return self._weights

    def __call__(self, x: Tensor, activation: str) -> Tensor:
        return self.weights(x, activation)

    def tensors(self) -> dict[str, Tensor]:
        return self.weights.tensors()

    def select(self, index: Tensor) -> "GeneratedAdapter":
        return GeneratedAdapter(self.heads, self.code.index_select(0, index))

    def linear_parts(self) -> dict[str, tuple[Tensor, Tensor]]:
        """name -> (weight (P, c), bias (P,)) with tensors()[name].flatten(1) == code @ weight.T + bias."""
        h = self.heads
        pairs = {"down": h.weight_down, "down_bias": h.bias_down, "up": h.weight_up, "up_bias": h.bias_up,
                 "ln_weight": h.ln_weight, "ln_bias": h.ln_bias}
        return {k: (lin.weight, lin.bias) for k, lin in pairs.items() if lin is not None}


def masked_mean(hidden: Tensor, mask: Tensor) -> Tensor:
    """(B, T, d), (B, T) -> (B, d): the mean over real tokens only."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
