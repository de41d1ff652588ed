"""Hyperformer++: one hypernetwork per stack turns [task; layer; position] embeddings into serial adapters
and their LayerNorm gamma/beta. Weights are generated once per task in the batch; a training batch (its rows
sorted by task) applies them per task, with no copy per row."""
from dataclasses import dataclass

import torch
from torch import nn

from .base import STACKS, Method, Site
from .layers import AdapterHeads, Rows
from .registry import register

POSITIONS = ("ffn_serial", "attn_serial")  # position ids 0 and 1, as in the original
# How the generated serial adapters join the sublayer output y (docs/findings.md has the ablation):
#   paper     y + A(y), as published; the default on pre-LN backbones (T5)
#   gated     y + g A(y), g a learned scalar per site that starts at 0
#   relative  y + rms(y) A(y): A's generated LayerNorm sets the change relative to y, not in absolute size
#   decoder   generated adapters in the decoder only; the encoder stays the pretrained one
SERIAL_ADAPTERS = ("paper", "gated", "relative", "decoder")
POST_LN_DEFAULT = "gated"  # chosen by the ablation in docs/findings.md


@dataclass
class HyperformerConfig:
    task_embedding_dim: int = 64
    projector_hidden: int = 128
    reduction_factor: int = 32      # adapter dim = d / 32 (24 on t5-base)
    activation: str = "gelu_new"
    train_layer_norms: bool = True  # the backbone's own layer norms train too
    serial_adapters: str = "auto"   # one of SERIAL_ADAPTERS; "auto": paper on pre-LN, POST_LN_DEFAULT on post-LN


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
    adapts_per = "task"
    paper_backbone = "t5-base"
    conditioning = "task embedding after the projector (decoder hypernetwork, mean over layers and positions)"
    positions = POSITIONS
    needs_task = True
    batches = {"sampling": "temperature", "batching": "single"}  # one task a batch, T = 10 (TrainConfig's default)

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        if config.serial_adapters == "auto":  # resolved here, so config.json records what was built
            config.serial_adapters = POST_LN_DEFAULT if backbone.family.post_ln else "paper"
        if config.serial_adapters not in SERIAL_ADAPTERS:
            raise ValueError(f"serial_adapters must be one of {SERIAL_ADAPTERS} or 'auto', not {config.serial_adapters!r}")
        self.stacks = ("decoder",) if config.serial_adapters == "decoder" else STACKS
        self.train_layer_norms = config.train_layer_norms
        e, a = config.task_embedding_dim, self.bottleneck(config.reduction_factor)
        self.task_embedding = nn.Embedding(len(tasks), e)
        self.hypernets = nn.ModuleDict({s: TaskHypernet(self.n_layers[s], len(self.positions), e, config.projector_hidden)
                                        for s in self.stacks})
        self.adapter_heads = nn.ModuleDict({s: AdapterHeads(e, self.d, a, layer_norm=True, init="normal") for s in self.stacks})
        if config.serial_adapters == "gated":
            self.gates = nn.ParameterDict({s: nn.Parameter(torch.zeros(self.n_layers[s], len(self.positions)))
                                           for s in STACKS})
        for emb in (self.task_embedding, *(m for h in self.hypernets.values() for m in (h.layer_embedding, h.position_embedding))):
            nn.init.normal_(emb.weight)

    def sites(self):
        return [Site(s, i, k) for s in self.stacks for i in range(self.n_layers[s]) for k in POSITIONS]

    def prepare(self, state, stage, encoder_hidden=None):
        if stage != "encoder":
            return
        tasks, index = torch.unique(state.task_ids, return_inverse=True)  # generate once per task
        rows, z = Rows.of(index, self.training), self.task_embedding(tasks)
        for stack in self.stacks:
            I = self.hypernets[stack](z)                                   # (U, L, P, e)
            self.generate_stack(state, stack, I, rows)
            if stack == "decoder":
                state.embedding = I.mean(dim=(1, 2))[index]

    def generate_stack(self, state, stack, I, rows):
        U, L, P, e = I.shape
        for p, kind in enumerate(POSITIONS):
            self.assign_layers(state, stack, kind, self.adapter_heads[stack](I[:, :, p].reshape(U * L, e)), rows)

    def transform(self, site, x, out):
        return self.join(site, out, self.generated(site), out, self.config.activation)

    def join(self, site, out, weights, *inputs):
        """out + the change the generated `weights` make of `inputs`, as `serial_adapters` says."""
        if self.config.serial_adapters == "gated":
            weights = weights.scaled(self.gates[site.stack][site.layer, self.positions.index(site.kind)])
        if self.config.serial_adapters == "relative":
            return out + weights(*inputs) * out.float().pow(2).mean(-1, keepdim=True).sqrt().to(out.dtype)
        return weights.added_to(out, *inputs)
