"""Multi-task batching: a seeded, stateless sampler (batch k depends only on (seed, k), so a resumed run
sees exactly the batches an uninterrupted one would) and a collator that tokenizes with the model."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .tasks import Example


def task_probabilities(sizes: dict[str, int], temperature: float = 1.0,
                       weights: dict[str, float] | None = None) -> dict[str, float]:
    """p_t proportional to w_t * N_t^(1/T): T=1 is size-proportional, T=10 is Hyperformer's near-uniform mix;
    the optional weights w_t (default 1) up- or down-weight single tasks."""
    weights = weights or {}
    unknown = sorted(set(weights) - set(sizes))
    if unknown:
        raise ValueError(f"task weights name unknown task(s) {unknown}; the tasks are {sorted(sizes)}")
    if any(not (w > 0 and math.isfinite(w)) for w in weights.values()):
        raise ValueError(f"task weights must be positive finite numbers, got {weights}")
    weights = {t: weights.get(t, 1.0) * n ** (1.0 / temperature) for t, n in sorted(sizes.items())}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


@dataclass
class MultiTaskSampler:
    data: dict[str, list[Example]]   # task -> training examples
    batch_size: int
    temperature: float = 1.0
    mixed: bool = True               # mixed-task batches; False: one task per batch
    seed: int = 0
    rank: int = 0                    # data-parallel process index: each rank draws its own rows
    weights: dict[str, float] | None = None  # per-task multipliers on the sampling probability
    costs: dict[str, list[float]] | None = None  # per-example cost (tokens); set: length-grouped batches
    group: int = 32                  # batches per length-sorted group
    sizes: dict[str, int] | None = None  # task sizes for sampling (default: rows); QA counts questions, not windows

    def __post_init__(self):
        empty = sorted(t for t, exs in self.data.items() if not exs)
        if empty:
            raise ValueError(f"no training examples for task(s) {empty}")
        self.tasks = sorted(self.data)
        sizes = self.sizes or {t: len(self.data[t]) for t in self.tasks}
        self.probs = np.array([task_probabilities({t: sizes[t] for t in self.tasks}, self.temperature, self.weights)[t]
                               for t in self.tasks])

    def batch(self, step: int) -> list[Example]:
        """Batch `step`, its rows sorted by task (stable), so per-task weights apply to contiguous slices."""
        return sorted(self._draw(step), key=lambda e: e.task)

    def _draw(self, step: int) -> list[Example]:
        if self.costs:
            return self._grouped(step)
        rng = np.random.default_rng([self.seed, step, self.rank])
        if self.mixed:
            chosen = rng.choice(len(self.tasks), size=self.batch_size, p=self.probs)
        else:
            chosen = np.full(self.batch_size, rng.choice(len(self.tasks), p=self.probs))
        return [self.data[self.tasks[t]][rng.integers(len(self.data[self.tasks[t]]))] for t in chosen]

    def _grouped(self, step: int) -> list[Example]:
        """As HF Trainer's group_by_length: draw `group` batches at once, sort their rows by cost, cut them into
        batches and shuffle those. Task proportions stay those of the sampling; padding mostly goes. With one task
        a batch, each batch's task comes from the same distribution as ungrouped, and rows are sorted within it."""
        group, k = divmod(step, self.group)
        rng = np.random.default_rng([self.seed, group, self.rank, 1])
        if self.mixed:
            chosen = rng.choice(len(self.tasks), size=self.batch_size * self.group, p=self.probs)
        else:
            chosen = np.repeat(np.sort(rng.choice(len(self.tasks), size=self.group, p=self.probs)), self.batch_size)
        rows = [(self.tasks[t], int(rng.integers(len(self.data[self.tasks[t]])))) for t in chosen]
        rows.sort(key=lambda r: self.costs[r[0]][r[1]] if self.mixed else (r[0], self.costs[r[0]][r[1]]))
        order = rng.permutation(self.group)
        return [self.data[t][i] for t, i in rows[order[k] * self.batch_size:(order[k] + 1) * self.batch_size]]


def collate(model, examples: list[Example], max_source_length: int, max_target_length: int | None = None) -> dict:
    """Tensors for one batch; targets are cut at the batch's longest per-task target length by default."""
    ids, mask = model.tokenize([e.source for e in examples], max_source_length)
    max_target_length = max_target_length or max(model.target_length(e.task) for e in examples)
    return {"input_ids": ids, "attention_mask": mask, "task_ids": model.task_ids([e.task for e in examples]),
            "labels": model.tokenize_targets([e.target for e in examples], max_target_length)}


def token_lengths(tokenizer, texts: list[str], target: bool = False) -> np.ndarray:
    key = "text_target" if target else "text"
    return np.array([len(x) for x in tokenizer(**{key: texts}, add_special_tokens=False, verbose=False)["input_ids"]])


def target_length(tokenizer, examples: list[Example], cap: int, quantile: float = 1.0) -> int:
    """Tokens a task's targets need (the longest training target, plus the end token), at most `cap`. Cutting at a
    lower percentile looked cheaper but cost CoNLL-2003 12% of its entities, which sit in a few long lists."""
    lengths = token_lengths(tokenizer, [e.target for e in examples], target=True)
    return int(min(cap, max(2, np.ceil(np.quantile(lengths, quantile)) + 1)))


def example_costs(tokenizer, examples: list[Example], max_source_length: int, max_target_length: int) -> list[float]:
    """Sort keys that put rows of similar target length (in steps of 8 tokens), then source length, together: a
    batch pads both to its longest member."""
    src = np.minimum(token_lengths(tokenizer, [e.source for e in examples]), max_source_length)
    tgt = np.minimum(token_lengths(tokenizer, [e.target for e in examples], target=True), max_target_length)
    return (tgt // 8 * 10_000 + src).tolist()


def length_sorted_batches(examples: list[Example], batch_size: int) -> list[list[int]]:
    """Index batches of similar source length (less padding); callers restore the original order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].source))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
