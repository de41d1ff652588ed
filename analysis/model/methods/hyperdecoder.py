"""Hyperdecoder: manual encoder adapters; the pooled encoder output of each input, through an MLP,
conditions one shared generator that writes that input's decoder adapters (parallel to the FFN)."""
from dataclasses import dataclass

import torch
from torch import nn

from .base import GeneratedDecoderMethod, Site
from .layers import AdapterHeads, GeneratedAdapter, masked_mean
from .registry import register


@dataclass
class HyperdecoderConfig:
    encoder_adapter_dim: int = 64
    decoder_adapter_dim: int = 64
    generator_hidden: int = 128
    layer_embedding_dim: int = 10
    norm_input: bool = False     # x = h (main configs); True: x = LN(h) (pre-LN backbones)


class AdapterGenerator(nn.Module):
    """[v; e_layer] -> Linear -> ReLU -> heads, for all decoder layers in one batched call."""

    def __init__(self, d: int, n_layers: int, e: int, hidden: int, a: int):
        super().__init__()
        self.layer_embedding = nn.Embedding(n_layers, e)
        self.hidden = nn.Sequential(nn.Linear(d + e, hidden), nn.ReLU())
        self.heads = AdapterHeads(hidden, d, a, init="hyperfan")

    def forward(self, v) -> list[GeneratedAdapter]:
        """v: (B, d) -> one GeneratedAdapter per decoder layer, each for the whole batch."""
        B, L = v.shape[0], self.layer_embedding.num_embeddings
        x = torch.cat([v[:, None].expand(B, L, -1), self.layer_embedding.weight[None].expand(B, L, -1)], dim=-1)
        codes = self.hidden(x)                                              # (B, L, hidden)
        return [GeneratedAdapter(self.heads, codes[:, layer]) for layer in range(L)]


@register
class Hyperdecoder(GeneratedDecoderMethod):
    name, Config = "hyperdecoder", HyperdecoderConfig
    adapts_per = "input"
    paper_backbone = "t5-v1_1-large"
    conditioning = "MLP(masked mean of the encoder output)"

    def __init__(self, config, backbone, tasks):
        super().__init__(config, backbone, tasks, config.encoder_adapter_dim)
        d, L = self.d, self.n_layers["decoder"]
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.generator = AdapterGenerator(d, L, config.layer_embedding_dim, config.generator_hidden, config.decoder_adapter_dim)

    def prepare(self, state, stage, encoder_hidden=None):
        if stage != "decoder":
            return
        state.embedding = self.mlp(masked_mean(encoder_hidden, state.attention_mask))
        for layer, weights in enumerate(self.generator(state.embedding)):
            state.generated[Site("decoder", layer, "ffn_parallel")] = weights
