"""LoRA on self-attention Q and V (both stacks) and cross-attention Q and V (decoder), HyperLoader's recipe."""
from dataclasses import dataclass

from torch import nn

from .base import STACKS, Method, Site
from .layers import LoRA
from .registry import register


@dataclass
class LoraConfig:
    rank: int = 8
    alpha: float = 8.0


def lora_sites(n_layers: dict[str, int]) -> list[Site]:
    return [Site(s, i, kind) for s in STACKS for i in range(n_layers[s])
            for kind in (("q", "v", "cross_q", "cross_v") if s == "decoder" else ("q", "v"))]


@register
class LoraMethod(Method):
    name, Config = "lora", LoraConfig
    paper_backbone = "t5-base"

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        self.lora = nn.ModuleDict({site.name.replace(".", "_"): LoRA(self.d, self.d_attn, config.rank, config.alpha)
                                   for site in self.sites()})

    def sites(self):
        return lora_sites(self.n_layers)

    def transform(self, site, x, out):
        return self.lora[site.name.replace(".", "_")](out, x)
