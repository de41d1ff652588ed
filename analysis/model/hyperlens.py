"""HyperLensModel: a frozen backbone, one method, and a sorted task list.

forward   encoder -> method generates -> decoder, with a label-smoothed loss plus the method's aux loss
generate  the encoder and every hypernetwork run once per input; decoding steps reuse the weights
conditioning  the embedding and generated weights for a batch, from the encoder pass alone
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import Backbone, uses_wordpiece
from .methods import ForwardState, Method, build_method, task_index

DEFAULT_TARGET_LENGTH = 32  # for tasks a checkpoint has no measured target length for
CHARS_PER_TOKEN = 32  # text is cut at this many characters per token of the limit before tokenizing


@dataclass
class Output:
    loss: Tensor | None
    lm_loss: Tensor | None
    logits: Tensor
    state: ForwardState
    encoder_hidden: Tensor | None = None  # the encoder's last hidden states (the health monitor reads them)


class HyperLensModel(nn.Module):
    def __init__(self, backbone: Backbone, method: Method):
        super().__init__()
        self.spec = backbone            # what was loaded: name, family, tokenizer, warm start, new parameters
        self.backbone = backbone.model  # its HF seq2seq module (frozen, apart from spec.new_params)
        self.method = method
        self.tasks = list(method.tasks)
        if self.tasks != sorted(self.tasks):
            raise ValueError(f"task list must be sorted, got {self.tasks}")
        self.task_specs: list[dict] = [{"name": t} for t in self.tasks]  # how to rebuild each task's data
        self.config: dict = {}  # the checkpoint's config.json, once loaded
        self.target_lengths: dict[str, int] = {}  # task -> target tokens it trains on and decodes at most
        method.attach(backbone)
        self._freeze()

    @classmethod
    def build(cls, backbone: Backbone, method: str, tasks, config: dict | str | None = None) -> "HyperLensModel":
        return cls(backbone, build_method(method, config, backbone, sorted(tasks)))

    @property
    def tokenizer(self):
        return self.spec.tokenizer

    def _freeze(self) -> None:
        """Backbone frozen except weights new to a warm start and what the method trains (e.g. layer norms).
        Decided per tensor over all its names, since tied weights have several."""
        new, train = set(self.spec.new_params), set()
        for mname, module in self.backbone.named_modules(remove_duplicate=False):
            for pname, p in module.named_parameters(recurse=False):
                full = f"{mname}.{pname}" if mname else pname
                if full in new or self.method.trains_backbone_param(full, module):
                    train.add(id(p))
        for p in self.backbone.parameters():
            p.requires_grad_(id(p) in train)

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Exactly the weights that train, keyed `method.*` / `backbone.*` (tied duplicates once)."""
        seen, out = set(), {}
        for name, p in self.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out[name] = p.detach()
        return out

    def target_length(self, task: str) -> int:
        return self.target_lengths.get(task, DEFAULT_TARGET_LENGTH)

    def task_ids(self, names) -> Tensor:
        """Ids in the sorted task list. A method that does not condition on the task reads any task (as the
        Hyperdecoder paper's out-of-domain runs do): an unknown task gets a placeholder id it never reads."""
        names = list(names)
        unknown = sorted({n for n in names if n not in self.tasks})
        if unknown and self.method.uses_task:
            raise ValueError(f"{self.method.name} conditions on the task, so it runs only the tasks it was trained "
                             f"on ({', '.join(self.tasks)}), not {', '.join(unknown)}; a hyperdecoder or adapter "
                             "checkpoint reads any task")
        return task_index(self.tasks, [n if n in self.tasks else self.tasks[0] for n in names]).to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- passes ---------------------------------------------------------------------------------
    def encode(self, input_ids: Tensor, attention_mask: Tensor, task_ids: Tensor):
        state = ForwardState(task_ids=task_ids, attention_mask=attention_mask)
        with self.method.bind(state):
            self.method.prepare(state, "encoder")
            enc = self.backbone.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
            self.method.prepare(state, "decoder", enc.last_hidden_state)
        return state, enc

    def forward(self, input_ids, attention_mask, task_ids, labels, label_smoothing: float = 0.0) -> Output:
        state, enc = self.encode(input_ids, attention_mask, task_ids)
        with self.method.bind(state):
            logits = self.backbone(encoder_outputs=enc, attention_mask=attention_mask,  # no KV cache to fill
                                   decoder_input_ids=self.shift_right(labels), use_cache=False).logits
        lm_loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100,
                                  label_smoothing=label_smoothing)
        aux = self.method.aux_loss(state) if self.training else None
        return Output(lm_loss + aux if aux is not None else lm_loss, lm_loss, logits, state, enc.last_hidden_state)

    def shift_right(self, labels: Tensor) -> Tensor:
        cfg = self.backbone.generation_config
        start = torch.full_like(labels[:, :1], cfg.decoder_start_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        return shifted.masked_fill(shifted == -100, cfg.pad_token_id)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, task_ids, *, override: dict | None = None,
                 max_new_tokens: int = 32, return_state: bool = False, **kwargs):
        """Greedy by default. `override` replaces generated weights (Site -> weights): the adaptation swap."""
        state, enc = self.encode(input_ids, attention_mask, task_ids)
        if override:
            state.generated.update(override)
        with self.method.bind(state):
            out = self.backbone.generate(input_ids=input_ids, attention_mask=attention_mask, encoder_outputs=enc,
                                         max_new_tokens=max_new_tokens, **kwargs)
        return (out, state) if return_state else out

    @torch.no_grad()
    def conditioning(self, input_ids, attention_mask, task_ids) -> ForwardState:
        """Embedding and generated parameters from the encoder pass only: the decoder does not run."""
        state, _ = self.encode(input_ids, attention_mask, task_ids)
        return state

    # -- text in, text out ----------------------------------------------------------------------
    def tokenize(self, sources: list[str], max_length: int = 128):
        sources = [s[:max_length * CHARS_PER_TOKEN] for s in sources]  # a 20 MB line costs nothing past the cut
        enc = self.tokenizer(sources, max_length=max_length, truncation=True, padding=True, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def tokenize_targets(self, targets: list[str], max_length: int = 32) -> Tensor:
        targets = [t[:max_length * CHARS_PER_TOKEN] for t in targets]
        ids = self.tokenizer(text_target=targets, max_length=max_length + 1, truncation=True)["input_ids"]
        if uses_wordpiece(self.tokenizer):  # decoding starts from [CLS] itself; targets end at [SEP]
            ids = [x[1:] for x in ids]
        width = max(map(len, ids))
        return torch.tensor([x + [-100] * (width - len(x)) for x in ids], device=self.device)

    def decode(self, sequences: Tensor) -> list[str]:
        return [s.strip() for s in self.tokenizer.batch_decode(sequences, skip_special_tokens=True)]
