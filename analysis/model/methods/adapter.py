"""One shared bottleneck adapter per layer, parallel to the FFN (the "Single Adapter" baseline)."""
from dataclasses import dataclass

from torch import nn

from .base import STACKS, Method, Site
from .layers import Adapter
from .registry import register


@dataclass
class AdapterConfig:
    adapter_dim: int = 230      # parameter-matched to Hyperdecoder on T5 v1.1 large (Ivison & Peters, 2022)
    activation: str = "relu"
    norm_input: bool = False    # x = LN(h) instead of h (pre-LN backbones)


@register
class AdapterMethod(Method):
    name, Config = "adapter", AdapterConfig
    paper_backbone = "t5-v1_1-large"

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks)
        self.norm_input = config.norm_input
        self.adapters = nn.ModuleDict({s: nn.ModuleList(Adapter(self.d, config.adapter_dim, config.activation)
                                                        for _ in range(self.n_layers[s])) for s in STACKS})

    def sites(self):
        return [Site(s, i, "ffn_parallel") for s in STACKS for i in range(self.n_layers[s])]

    def transform(self, site, x, out):
        return out + self.adapters[site.stack][site.layer](x)
