"""A loaded model for interactive use: one input in, its prediction, embedding and per-layer generated
parameters out (in the extraction's format, so they sit on the same map), plus the adaptation swap.
One lock serialises generation: a model is shared by every app session."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
import torch

from analysis.errors import HyperLensError
from analysis.model.hyperlens import CHARS_PER_TOKEN
from analysis.model.methods import Site

from .vectors import PARAM_DIMS, batch_vectors, layer_vectors

WAIT_SECONDS = 20  # the longest an interactive request waits for the shared model


class ModelBusy(HyperLensError, ValueError):
    """Other requests held the model too long; the page shows the message and the user retries."""


@dataclass
class LiveResult:
    source: str
    task: str
    prediction: str
    embedding: np.ndarray              # (k,)
    params: dict[str, np.ndarray]      # layer -> sketched vector, as in the extraction's params.<layer>
    norms: dict[str, float]
    nll: float = float("nan")          # mean token NLL of the prediction under the model: its confidence
    tokens: int = 0                    # input tokens the model read
    truncated: bool = False            # the input ran past max_source_length tokens: the rest was not read
    unknown: int = 0                   # tokens read that are the tokenizer's unknown token (text it cannot spell)


@dataclass
class SwapResult:
    a: str                 # A's own output
    b: str                 # B's own output
    a_with_b: str          # A decoded with B's generated decoder adapters
    b_with_a: str
    swapped_sites: int

    @property
    def changed(self) -> bool:
        return self.a != self.a_with_b


class LiveModel:
    def __init__(self, model, param_dims: int = PARAM_DIMS, max_source_length: int = 128, max_new_tokens: int | None = None):
        self.model, self.param_dims = model.eval(), param_dims
        self.max_source_length, self.max_new_tokens = max_source_length, max_new_tokens
        self.lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path, **kw) -> "LiveModel":
        from analysis.model.checkpoint import load_checkpoint
        return cls(load_checkpoint(path), **kw)

    @property
    def tasks(self) -> list[str]:
        return self.model.tasks

    @contextlib.contextmanager
    def turn(self):
        """The model for one request; a request that waits longer than WAIT_SECONDS for it gets a clear error."""
        if not self.lock.acquire(timeout=WAIT_SECONDS):
            raise ModelBusy(f"the model is busy with other requests (waited {WAIT_SECONDS} s); try again in a moment")
        try:
            yield
        finally:
            self.lock.release()

    def new_tokens(self, tasks: list[str]) -> int:
        return self.max_new_tokens or max(self.model.target_length(t) for t in tasks)

    @torch.no_grad()
    def infer(self, sources: list[str], tasks: list[str]) -> list[LiveResult]:
        if not sources or any(not s.strip() for s in sources):
            raise ValueError("type an input first: empty text has nothing to adapt to")
        with self.turn():
            ids, mask = self.model.tokenize(sources, self.max_source_length)
            task_ids = self.model.task_ids(tasks)
            state, emb, texts = batch_vectors(self.model, ids, mask, task_ids, True, self.new_tokens(tasks),
                                              with_nll=True)
            nll = state.extras["nll"].tolist()
            truncated = self.truncated(sources)  # under the lock: a fast tokenizer's truncation setting is shared state
        vectors, norms = layer_vectors(state, self.param_dims)
        reading = zip(mask.sum(1).tolist(), truncated, self.unknown(ids, mask))
        return [LiveResult(s, t, texts[i], emb[i], {k: v[i] for k, v in vectors.items()},
                           {k: float(v[i]) for k, v in norms.items()}, nll[i], *r)
                for i, (s, t, r) in enumerate(zip(sources, tasks, reading))]

    def truncated(self, sources: list[str]) -> list[bool]:
        """Inputs longer than max_source_length tokens, or than the characters `tokenize` keeps before tokenizing."""
        _, mask = self.model.tokenize(sources, self.max_source_length + 1)
        chars = self.max_source_length * CHARS_PER_TOKEN
        return [bool(long) or len(s) > chars for long, s in zip(mask.sum(1) > self.max_source_length, sources)]

    def unknown(self, ids: torch.Tensor, mask: torch.Tensor) -> list[int]:
        unk = self.model.tokenizer.unk_token_id
        return ((ids == unk) & mask.bool()).sum(1).tolist() if unk is not None else [0] * len(ids)

    @torch.no_grad()
    def swap(self, a: tuple[str, str], b: tuple[str, str]) -> SwapResult:
        """Decode A with B's generated decoder adapters (and B with A's): a causal test of what they encode."""
        (src_a, task_a), (src_b, task_b) = a, b
        with self.turn():
            ids, mask = self.model.tokenize([src_a, src_b], self.max_source_length)
            tids = self.model.task_ids([task_a, task_b])
            own, state = self.model.generate(ids, mask, tids, max_new_tokens=self.new_tokens([task_a, task_b]), return_state=True)
            flip = torch.tensor([1, 0])
            override = {s: w.select(flip) for s, w in state.generated.items() if isinstance(s, Site) and s.stack == "decoder"}
            if not override:
                from analysis.model.methods import REGISTRY
                usable = ", ".join(sorted(m for m, cls in REGISTRY.items() if cls.adapts_per != "model"))
                raise ValueError(f"{self.model.method.name} generates no decoder adapters, so there is nothing to "
                                 f"swap; use a checkpoint of a method that does ({usable})")
            swapped = self.model.generate(ids, mask, tids, override=override, max_new_tokens=self.new_tokens([task_a, task_b]))
        own_t, sw_t = self.model.decode(own), self.model.decode(swapped)
        return SwapResult(own_t[0], own_t[1], sw_t[0], sw_t[1], len(override))
