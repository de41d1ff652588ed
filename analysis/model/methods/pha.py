"""PHA: an instance retriever (MLP on the pooled encoder output) trained with supervised-contrastive and
prototype InfoNCE losses, learnable task prototypes, and a prototype-conditioned generator of decoder adapters."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import GeneratedDecoderMethod
from .layers import AdapterHeads, Rows, masked_mean
from .registry import register


@dataclass
class PHAConfig:
    adapter_dim: int = 64           # the generated decoder adapters' width
    encoder_adapter_dim: int = 0    # the learned encoder adapters' width; 0: adapter_dim, as in the paper
    retriever_hidden: int = 128
    embedding_dim: int = 64
    hyper_hidden: int = 128
    instance_loss_weight: float = 0.1
    prototype_loss_weight: float = 0.1
    temperature: float = 0.1
    prototype: str = "gold"     # "gold": the gold task's prototype (the original); "retrieved": nearest to v
    norm_input: bool = True     # encoder adapters read LN(h)
    decoder_adapters: str = "auto"  # "paper", or "gated": each layer's generated adapter joins through a learned
                                    # gate from 0; "auto": gated on post-LN backbones (docs/findings.md), else paper


def supcon_loss(v, groups, tau):
    """Supervised contrastive loss: positives are other rows of the same group; anchors without one are skipped."""
    v = F.normalize(v, dim=-1)
    eye = torch.eye(len(v), dtype=torch.bool, device=v.device)
    logits = (v @ v.T / tau).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (groups[:, None] == groups[None, :]) & ~eye
    n_pos = positives.sum(1)
    keep = n_pos > 0
    if not keep.any():
        return v.sum() * 0
    per_anchor = -(log_prob.masked_fill(~positives, 0).sum(1)[keep] / n_pos[keep])
    return per_anchor.mean()


def prototype_loss(v, prototypes, groups, tau):
    """InfoNCE against all prototypes, the denominator excluding the positive (as in the original)."""
    if prototypes.shape[0] < 2:
        return v.sum() * 0
    logits = F.normalize(v, dim=-1) @ F.normalize(prototypes, dim=-1).T / tau      # (B, T)
    positive = logits.gather(1, groups[:, None]).squeeze(1)
    negatives = logits.scatter(1, groups[:, None], float("-inf"))
    return (torch.logsumexp(negatives, dim=1) - positive).mean()


@register
class PHA(GeneratedDecoderMethod):
    name, Config = "pha", PHAConfig
    adapts_per = "task"
    paper_backbone = "t5-base"
    conditioning = "retriever embedding v = MLP(masked mean of the encoder output); extras: chosen prototype"

    @property
    def uses_task(self) -> bool:  # the gold prototype is the task's; a retrieved one comes from the input alone
        return self.config.prototype == "gold"

    def __init__(self, config, backbone, tasks):
        if config.prototype not in ("gold", "retrieved"):
            raise ValueError(f"prototype must be 'gold' or 'retrieved', not {config.prototype!r}")
        if config.decoder_adapters == "auto":  # resolved here, so config.json records what was built
            config.decoder_adapters = "gated" if backbone.family.post_ln else "paper"
        if config.decoder_adapters not in ("paper", "gated"):
            raise ValueError(f"decoder_adapters must be 'paper', 'gated' or 'auto', not {config.decoder_adapters!r}")
        config.encoder_adapter_dim = config.encoder_adapter_dim or config.adapter_dim  # recorded as built
        super().__init__(config, backbone, tasks, config.encoder_adapter_dim)
        d, e, L = self.d, config.embedding_dim, self.n_layers["decoder"]
        if config.decoder_adapters == "gated":
            self.gates = nn.Parameter(torch.zeros(L))
        self.retriever = nn.Sequential(nn.Linear(d, config.retriever_hidden), nn.ReLU(), nn.Linear(config.retriever_hidden, e))
        self.prototypes = nn.Embedding(len(tasks), e)
        self.layer_embedding = nn.Embedding(L, e)
        self.hypernet = nn.Sequential(nn.Linear(2 * e, config.hyper_hidden), nn.ReLU(),
                                      nn.Linear(config.hyper_hidden, e), nn.LayerNorm(e))
        self.heads = AdapterHeads(e, d, config.adapter_dim, init="hyperfan")

    def choose_prototypes(self, v, task_ids):
        if self.config.prototype == "gold":
            return task_ids
        return (F.normalize(v, dim=-1) @ F.normalize(self.prototypes.weight, dim=-1).T).argmax(1)

    def prepare(self, state, stage, encoder_hidden=None):
        if stage != "decoder":
            return
        v = state.embedding = self.retriever(masked_mean(encoder_hidden, state.attention_mask))
        chosen = self.choose_prototypes(v, state.task_ids)
        state.extras.update(prototype=self.prototypes(chosen), prototype_id=chosen)
        ids, rows = torch.unique(chosen, return_inverse=True)   # generate once per prototype, gather per row
        U, L = len(ids), self.n_layers["decoder"]
        k = self.prototypes(ids)[:, None].expand(U, L, -1)
        c = self.hypernet(torch.cat([k, self.layer_embedding.weight[None].expand(U, L, -1)], dim=-1))
        self.assign_layers(state, "decoder", "ffn_parallel", self.heads(c.reshape(U * L, -1)),
                           Rows.of(rows, self.training))

    def transform(self, site, x, out):
        if site.stack == "decoder" and self.config.decoder_adapters == "gated":
            return out + self.generated(site).scaled(self.gates[site.layer])(x, "relu")
        return super().transform(site, x, out)

    def aux_loss(self, state):
        cfg, v, y = self.config, state.embedding, state.task_ids
        return (cfg.instance_loss_weight * supcon_loss(v, y, cfg.temperature)
                + cfg.prototype_loss_weight * prototype_loss(v, self.prototypes.weight, y, cfg.temperature))
