"""Hyperformer++: one hypernetwork per stack turns [task; layer; position] embeddings into serial adapters
and their LayerNorm gamma/beta. Weights are generated once per task in the batch, then gathered per row."""
from dataclasses import dataclass

import torch
from torch import nn

from . import register
from .base import STACKS, Method, Site
from .layers import AdapterHeads

POSITIONS = ("ffn_serial", "attn_serial")  # position ids 0 and 1, as in the original


@dataclass
class HyperformerConfig:
    task_embedding_dim: int = 64
    projector_hidden: int = 128
    reduction_factor: int = 32      # adapter dim = d / 32 (24 on t5-base)
    activation: str = "gelu_new"
    train_layer_norms: bool = True  # the backbone's own layer norms train too


class TaskHypernet(nn.Module):
    """[z_task; l_layer; p_position] -> projector -> LayerNorm -> I (the per-site conditioning)."""

    def __init__(self, n_layers: int, n_positions: int, e: int, hidden: int):
        super().__init__()
        self.layer_embedding, self.position_embedding = nn.Embedding(n_layers, e), nn.Embedding(n_positions, e)
        self.projector = nn.Sequential(nn.Linear(3 * e, hidden), nn.ReLU(), nn.Linear(hidden, e))
        self.norm = nn.LayerNorm(e)

    def forward(self, z):
        """z: (U, e) task embeddings -> I: (U, L, P, e)."""
        U, e = z.shape
        L, P = self.layer_embedding.num_embeddings, self.position_embedding.num_embeddings
        parts = (z[:, None, None].expand(U, L, P, e),
                 self.layer_embedding.weight[None, :, None].expand(U, L, P, e),
                 self.position_embedding.weight[None, None].expand(U, L, P, e))
        return self.norm(self.projector(torch.cat(parts, dim=-1)))


@register
class Hyperformer(Method):
    name, Config = "hyperformer", HyperformerConfig
    paper_backbone = "t5-base"
    conditioning = "task embedding after the projector (decoder hypernetwork, mean over layers and positions)"
    positions = POSITIONS
    needs_task = True
    batches = {"sampling": "temperature", "batching": "single"}  # one task a batch, T = 10 (TrainConfig's default)

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        self.train_layer_norms = config.train_layer_norms
        e, a = config.task_embedding_dim, self.d // config.reduction_factor
        self.task_embedding = nn.Embedding(len(tasks), e)
        self.hypernets = nn.ModuleDict({s: TaskHypernet(self.n_layers[s], len(self.positions), e, config.projector_hidden)
                                        for s in STACKS})
        self.adapter_heads = nn.ModuleDict({s: AdapterHeads(e, self.d, a, layer_norm=True, init="normal") for s in STACKS})
        for emb in (self.task_embedding, *(m for h in self.hypernets.values() for m in (h.layer_embedding, h.position_embedding))):
            nn.init.normal_(emb.weight)

    def sites(self):
        return [Site(s, i, k) for s in STACKS for i in range(self.n_layers[s]) for k in POSITIONS]

    def prepare(self, state, stage, encoder_hidden=None):
        if stage != "encoder":
            return
        tasks, rows = torch.unique(state.task_ids, return_inverse=True)  # generate once per task, gather per row
        if len(tasks) == 1 and self.training:  # a single-task batch (this method's default) shares one set
            rows = rows[:1]
        z = self.task_embedding(tasks)
        for stack in STACKS:
            I = self.hypernets[stack](z)                                   # (U, L, P, e)
            self.generate_stack(state, stack, I, rows)
            if stack == "decoder":
                state.embedding = I.mean(dim=(1, 2))[rows]

    def generate_stack(self, state, stack, I, rows):
        U, L, P, e = I.shape
        for p, kind in enumerate(POSITIONS):
            weights = self.adapter_heads[stack](I[:, :, p].reshape(U * L, e))
            for layer in range(L):
                state.generated[Site(stack, layer, kind)] = weights.select(rows * L + layer)

    def transform(self, site, x, out):
        return out + self.generated(site)(out, self.config.activation)
