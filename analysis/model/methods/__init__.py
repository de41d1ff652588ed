"""Methods, one module each. Adding a method is one new module here whose class is decorated with `register`
(plus its row in tests/test_methods.py): every module of this package except the shared ones is imported below."""
from __future__ import annotations

import importlib
import pkgutil

from .base import ForwardState, Method, Site, build_config, task_index
from .registry import REGISTRY, build_method, register

SHARED = {"base", "layers", "registry"}  # helpers, not methods
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in SHARED:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "ForwardState", "Method", "Site", "build_config", "build_method", "register", "task_index"]
