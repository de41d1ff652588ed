"""Per-task serial adapters after self-attention and after the FFN, each followed by a LayerNorm shared by the tasks
(gamma 1), weights drawn from N(0, 0.01^2), trainable backbone layer norms: Hyperformer's Adapter† baseline as its
code builds it. A training batch (rows sorted by task) runs one matmul per task."""
from dataclasses import dataclass

import torch
from torch import nn

from .base import STACKS, Method, Site
from .layers import AdapterWeights, Rows
from .registry import register


@dataclass
class TaskAdaptersConfig:
    reduction_factor: int = 32
    activation: str = "gelu_new"
    train_layer_norms: bool = True


class PerTaskAdapter(nn.Module):
    def __init__(self, n_tasks: int, d: int, a: int, std: float = 1e-2):
        super().__init__()
        self.down = nn.Parameter(torch.empty(n_tasks, d, a).normal_(0, std))
        self.down_bias = nn.Parameter(torch.zeros(n_tasks, a))
        self.up = nn.Parameter(torch.empty(n_tasks, a, d).normal_(0, std))
        self.up_bias = nn.Parameter(torch.zeros(n_tasks, d))

    def forward(self, rows: Rows):
        return rows.weights(AdapterWeights(self.down, self.down_bias, self.up, self.up_bias))


@register
class TaskAdapters(Method):
    name, Config = "task_adapters", TaskAdaptersConfig
    adapts_per = "task"
    paper_backbone = "t5-base"
    needs_task = True

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        self.train_layer_norms = config.train_layer_norms
        a = self.bottleneck(config.reduction_factor)
        self.adapters = nn.ModuleDict({site.name.replace(".", "_"): PerTaskAdapter(len(tasks), self.d, a)
                                       for site in self.sites()})
        self.norms = nn.ModuleDict({site.name.replace(".", "_"): nn.LayerNorm(self.d) for site in self.sites()})

    def sites(self):
        return [Site(s, i, k) for s in STACKS for i in range(self.n_layers[s]) for k in ("attn_serial", "ffn_serial")]

    def prepare(self, state, stage, encoder_hidden=None):
        if stage == "encoder":
            rows = Rows.of(state.task_ids, self.training)
            for site in self.sites():
                state.generated[site] = self.adapters[site.name.replace(".", "_")](rows)

    def transform(self, site, x, out):
        return out + self.norms[site.name.replace(".", "_")](self.generated(site)(out, self.config.activation))
