"""Training health, logged every few steps: the spread of the encoder output across tokens, the size of each
stack's generated parameters and the loss of each task. A generated adapter can drive a post-LN encoder to
one near-constant vector per input (the final LayerNorm then hides the damage in the loss for a while); the
monitor says so the step it happens, before anyone reads the metrics."""
from __future__ import annotations

import torch
import torch.nn.functional as F

EVERY = 25            # steps between measurements
COLLAPSE_FRACTION = 0.5  # spread below this fraction of its first measurement: collapsed


@torch.no_grad()
def encoder_spread(hidden: torch.Tensor, mask: torch.Tensor) -> float:
    """Standard deviation across each input's real tokens, averaged over dimensions and inputs."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    n = m.sum(1).clamp(min=1)
    mean = (hidden * m).sum(1) / n
    var = (((hidden - mean.unsqueeze(1)) ** 2) * m).sum(1) / n
    return float(var.float().sqrt().mean())


@torch.no_grad()
def generated_norms(generated: dict) -> dict[str, float]:
    """Per stack: the mean over sites and rows of the Frobenius norm of one row's generated tensors."""
    per_stack: dict[str, list[float]] = {}
    for site, weights in generated.items():
        if not hasattr(site, "stack"):
            continue
        rows = torch.cat([t.detach().float().flatten(1) for t in weights.tensors().values()], dim=1)
        per_stack.setdefault(site.stack, []).append(float(rows.norm(dim=1).mean()))
    return {stack: round(sum(v) / len(v), 4) for stack, v in sorted(per_stack.items())}


@torch.no_grad()
def task_losses(logits: torch.Tensor, labels: torch.Tensor, tasks: list[str]) -> dict[str, float]:
    token = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    real = (labels != -100).float()
    row = (token * real).sum(1) / real.sum(1).clamp(min=1)
    out: dict[str, list[float]] = {}
    for task, value in zip(tasks, row.tolist()):
        out.setdefault(task, []).append(value)
    return {t: round(sum(v) / len(v), 4) for t, v in sorted(out.items())}


class HealthMonitor:
    def __init__(self, every: int = EVERY, fraction: float = COLLAPSE_FRACTION):
        self.every, self.fraction = every, fraction
        self.start: float | None = None
        self.collapsed_at: int | None = None

    def due(self, step: int) -> bool:
        return step == 0 or (step + 1) % self.every == 0

    def observe(self, step: int, out, batch: dict, tasks: list[str]) -> dict:
        spread = encoder_spread(out.encoder_hidden, batch["attention_mask"])
        self.start = self.start if self.start is not None else spread
        record = {"encoder_spread": round(spread, 4), "generated_norm": generated_norms(out.state.generated),
                  "task_loss": task_losses(out.logits, batch["labels"], tasks)}
        if self.collapsed_at is None and spread < self.fraction * self.start:
            self.collapsed_at = step + 1
            record["warning"] = self.warning()
        return record

    def warning(self) -> str | None:
        if self.collapsed_at is None:
            return None
        return (f"encoder output collapsed at step {self.collapsed_at}: its spread across tokens fell below "
                f"{self.fraction:.0%} of its start ({self.start:.3f}); the metrics of this run mean little")
