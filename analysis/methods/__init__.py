"""The method registry. Adding a method = one new module here that calls `register`, plus its import below."""
from __future__ import annotations

from .base import ForwardState, Method, Site, build_config, task_index

REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    REGISTRY[cls.name] = cls
    return cls


def build_method(name: str, config: dict | str | None, backbone, tasks: list[str]) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(REGISTRY)}")
    cls = REGISTRY[name]
    return cls(build_config(cls.Config, config), backbone, tasks)


# The registry entries: importing a module registers its method.
from . import adapter, full_finetune, hyperdecoder, hyperformer, hyperloader, lora, pha, task_adapters  # noqa: E402,F401

__all__ = ["REGISTRY", "ForwardState", "Method", "Site", "build_method", "register", "task_index"]
