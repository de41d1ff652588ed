"""Full fine-tuning: no adapters, every backbone weight trains."""
from dataclasses import dataclass

from .base import Method
from .registry import register


@dataclass
class FullFinetuneConfig:
    pass


@register
class FullFinetune(Method):
    name, Config = "full_finetune", FullFinetuneConfig
    paper_backbone = "t5-base"
    trains_whole_backbone = True
