"""HyperLoader: Hyperformer++ whose hypernetwork also generates LoRA for self-attention Q/V (both stacks)
and cross-attention Q/V (decoder), from one shared A head and one shared B head per stack."""
import math
from dataclasses import dataclass

from torch import nn

from .base import Site
from .hyperformer import Hyperformer, HyperformerConfig
from .layers import LoraWeights
from .registry import register

LORA_POSITIONS = ("q", "v", "cross_q", "cross_v")  # position ids 2..5; the encoder's cross rows go unused


@dataclass
class HyperloaderConfig(HyperformerConfig):
    lora_rank: int = 8
    lora_alpha: float = 8.0


@register
class Hyperloader(Hyperformer):
    name, Config = "hyperloader", HyperloaderConfig
    positions = ("ffn_serial", "attn_serial", *LORA_POSITIONS)

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        e, r = config.task_embedding_dim, config.lora_rank
        self.lora_A = nn.ModuleDict({s: nn.Linear(e, r * self.d, bias=False) for s in self.stacks})
        self.lora_B = nn.ModuleDict({s: nn.Linear(e, self.d_attn * r, bias=False) for s in self.stacks})
        for s in self.stacks:
            nn.init.kaiming_uniform_(self.lora_A[s].weight, a=math.sqrt(5))
            if config.serial_adapters == "gated":  # the zero gate starts the delta at zero; B must not be 0 too
                nn.init.normal_(self.lora_B[s].weight, std=0.01)
            else:
                nn.init.zeros_(self.lora_B[s].weight)  # the LoRA delta starts at zero

    def sites(self):
        return super().sites() + [Site(s, i, k) for s in self.stacks for i in range(self.n_layers[s])
                                  for k in (LORA_POSITIONS if s == "decoder" else LORA_POSITIONS[:2])]

    def generate_stack(self, state, stack, I, rows):
        super().generate_stack(state, stack, I, rows)
        U, L, P, e = I.shape
        r, scale = self.config.lora_rank, self.config.lora_alpha / self.config.lora_rank
        kinds = LORA_POSITIONS if stack == "decoder" else LORA_POSITIONS[:2]
        for p, kind in enumerate(kinds, start=2):
            c = I[:, :, p].reshape(U * L, e)
            weights = LoraWeights(self.lora_A[stack](c).view(U * L, r, self.d),
                                  self.lora_B[stack](c).view(U * L, self.d_attn, r), scale)
            self.assign_layers(state, stack, kind, weights, rows)

    def transform(self, site, x, out):
        if site.kind in LORA_POSITIONS:
            return self.join(site, out, self.generated(site), x)
        return super().transform(site, x, out)
