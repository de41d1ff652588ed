"""What every method shares: adapter sites, hooks into the backbone, and the scoped forward state.

A method declares *sites* (stack, layer, kind) and rewrites the output of the module at each one:
  ffn_parallel  out + A(h), h the FFN's residual input (Hyperdecoder, PHA, adapter)
  attn_serial   y + A(y) after self-attention          (Hyperformer, task adapters)
  ffn_serial    y + A(y) after the FFN
  q, v, cross_q, cross_v   out + B A x (LoRA)
Generated weights travel in a `ForwardState` bound for one forward or `generate` call, so a hypernetwork
runs once per input, never per decoding step.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from analysis.model.backbone import Backbone

from .layers import ACTIVATIONS, Adapter, Rows

STACKS = ("encoder", "decoder")


class Site(NamedTuple):
    stack: str
    layer: int
    kind: str

    @property
    def name(self) -> str:
        return f"{self.stack}.{self.layer}.{self.kind}"


@dataclass
class ForwardState:
    """Per-call state: task ids in, generated weights and conditioning embeddings out."""
    task_ids: Tensor
    attention_mask: Tensor | None = None
    generated: dict = field(default_factory=dict)      # Site -> AdapterWeights | LoraWeights, batch-first
    embedding: Tensor | None = None                    # (B, k) the conditioning embedding
    extras: dict = field(default_factory=dict)         # other named per-instance tensors (PHA prototype, ...)


class Method(nn.Module):
    """Base class. Subclasses set `name`, `Config`, build their modules, and implement `sites`/`transform`."""
    name: ClassVar[str]
    Config: ClassVar[type]
    conditioning: ClassVar[str | None] = None  # what the exposed embedding is, for reports
    paper_backbone: ClassVar[str] = "t5-base"  # the preset of its paper's GLUE configuration
    train_layer_norms: bool = False
    norm_input: bool = False                   # feed parallel adapters LN(h) (pre-LN backbones only)
    needs_task: ClassVar[bool] = False         # conditioned on the task id: runs only the tasks it was trained on
    trains_whole_backbone: ClassVar[bool] = False  # full fine-tuning: every backbone weight trains
    adapts_per: ClassVar[str] = "model"        # one adaptation per "task", per "input", or one for the "model"
    # how its paper's code samples tasks: TrainConfig fields used when the user sets none
    batches: ClassVar[dict] = {"sampling": "proportional", "batching": "grouped"}

    def __init__(self, config, backbone: Backbone, tasks: list[str]):
        super().__init__()
        self.config, self.tasks = config, list(tasks)
        self.d, self.n_layers = backbone.d_model, dict(backbone.n_layers)
        # query/value width: heads x d_kv, which is not d_model in T5-3B and T5-11B
        self.d_attn = backbone.family.q(backbone.layers("encoder")[0]).out_features
        self._state: ForwardState | None = None
        self._inputs: dict[Site, Tensor] = {}
        self._handles: list = []

    def bottleneck(self, reduction_factor: int) -> int:
        """The adapter width d_model / reduction_factor, which must leave at least one unit."""
        if self.d // reduction_factor < 1:
            raise ValueError(f"reduction_factor {reduction_factor} leaves adapters no width on d_model {self.d}; "
                             f"use at most {self.d}")
        return self.d // reduction_factor

    # -- to implement -------------------------------------------------------------------------
    def sites(self) -> list[Site]:
        return []

    def transform(self, site: Site, x: Tensor, out: Tensor) -> Tensor:
        raise NotImplementedError

    def prepare(self, state: ForwardState, stage: str, encoder_hidden: Tensor | None = None) -> None:
        """Generate weights into `state`: stage "encoder" runs before the encoder, "decoder" after it."""

    def aux_loss(self, state: ForwardState) -> Tensor | None:
        return None

    def trains_backbone_param(self, name: str, module: nn.Module) -> bool:
        return self.trains_whole_backbone or (self.train_layer_norms and "norm" in type(module).__name__.lower())

    # -- shared machinery -----------------------------------------------------------------------
    @property
    def state(self) -> ForwardState:
        if self._state is None:
            raise RuntimeError(f"{self.name}: the backbone was called outside HyperLensModel; "
                               "use model(...) / model.generate(...) so task ids and generated weights are bound")
        return self._state

    @contextlib.contextmanager
    def bind(self, state: ForwardState):
        previous, self._state = self._state, state
        try:
            yield state
        finally:
            self._state = previous
            self._inputs.clear()

    def generated(self, site: Site):
        return self.state.generated[site]

    def assign_layers(self, state: ForwardState, stack: str, kind: str, weights, rows: Rows) -> None:
        """Weights generated for U groups x L layers (group u, layer l at row u * L + l) -> one site per layer,
        applied per row of the batch."""
        L = self.n_layers[stack]
        for layer in range(L):
            state.generated[Site(stack, layer, kind)] = rows.weights(weights, stride=L, offset=layer)

    def attach(self, backbone: Backbone) -> None:
        """Register hooks at every site. Backbone parameter names stay untouched."""
        fam = backbone.family
        for site in self.sites():
            layer = backbone.layers(site.stack)[site.layer]
            if site.kind == "ffn_parallel":
                src, dst = fam.ffn_in(layer), fam.ffn_out(layer)
                norm = fam.ffn_norm(layer) if (self.norm_input and fam.ffn_norm) else None
            else:
                src = dst = getattr(fam, {"attn_serial": "attn_proj", "ffn_serial": "ffn_proj"}.get(site.kind, site.kind))(layer)
                norm = None
            self._handles.append(src.register_forward_pre_hook(partial(self._remember, site, norm)))
            self._handles.append(dst.register_forward_hook(partial(self._rewrite, site)))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _remember(self, site, norm, module, args):
        x = args[0]
        self._inputs[site] = norm(x) if norm is not None else x

    def _rewrite(self, site, module, args, out):
        return self.transform(site, self._inputs.pop(site), out)

    @property
    def uses_task(self) -> bool:
        return self.needs_task

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)


class GeneratedDecoderMethod(Method):
    """Learned ("manual") parallel adapters in the encoder, generated ones in the decoder (Hyperdecoder, PHA).
    Subclasses fill the decoder sites in `prepare`."""

    def __init__(self, config, backbone: Backbone, tasks: list[str], encoder_adapter_dim: int):
        super().__init__(config, backbone, tasks)
        self.norm_input = config.norm_input
        self.encoder_adapters = nn.ModuleList(Adapter(self.d, encoder_adapter_dim) for _ in range(self.n_layers["encoder"]))

    def sites(self):
        return [Site(s, i, "ffn_parallel") for s in STACKS for i in range(self.n_layers[s])]

    def transform(self, site, x, out):
        if site.stack == "encoder":
            return out + self.encoder_adapters[site.layer](x)
        return out + self.generated(site)(x, "relu")


MAX_SIZE = 65_536  # the largest integer option (a width, rank or factor) a config may ask for


def build_config(cls: type, config: dict | str | None):
    """A method config from a dict or JSON text; unknown keys are an error, not silently ignored."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError as e:
            raise ValueError(f"method options are not valid JSON ({e}): {config[:80]!r}") from None
    if not isinstance(config or {}, dict):
        raise ValueError(f"method options must be a JSON object, got {type(config).__name__}")
    config = dict(config or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {cls.__name__}; known: {sorted(known)}")
    built = cls(**config)
    for f in dataclasses.fields(cls):  # sizes, ranks and weights are positive numbers; a typo is not a shape
        value, default = getattr(built, f.name), f.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(default, int) and not isinstance(value, int)):
                raise ValueError(f"option {f.name} of {cls.__name__} should be "
                                 f"{'an integer' if isinstance(default, int) else 'a number'}, got {value!r}")
            if not math.isfinite(value) or value < 0 or (value == 0 and default > 0 and isinstance(default, int)):
                raise ValueError(f"option {f.name} of {cls.__name__} must be positive, got {value}")
            if isinstance(default, int) and value > MAX_SIZE:
                raise ValueError(f"option {f.name} of {cls.__name__} is {value:,}; sizes above {MAX_SIZE:,} would not "
                                 "fit in memory")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"option {f.name} of {cls.__name__} should be true or false, got {value!r}")
        if f.name == "temperature" and value <= 0:
            raise ValueError(f"option temperature of {cls.__name__} must be above 0 (it divides similarities), got {value}")
        if f.name == "activation" and value not in ACTIVATIONS:
            raise ValueError(f"option activation of {cls.__name__} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
    return built


def task_index(tasks: list[str], names) -> Tensor:
    """Task names -> ids in the checkpoint's sorted task list."""
    lookup = {t: i for i, t in enumerate(tasks)}
    missing = [n for n in names if n not in lookup]
    if missing:
        raise ValueError(f"unknown task(s) {sorted(set(missing))}; this model knows {tasks}")
    return torch.tensor([lookup[n] for n in names], dtype=torch.long)
