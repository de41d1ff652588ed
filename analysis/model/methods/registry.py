"""The method registry: each method module decorates its class with `register`; `build_method` makes one by name."""
from __future__ import annotations

from .base import Method, build_config

REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    REGISTRY[cls.name] = cls
    return cls


def build_method(name: str, config: dict | str | None, backbone, tasks: list[str]) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(REGISTRY)}")
    cls = REGISTRY[name]
    return cls(build_config(cls.Config, config), backbone, tasks)
