"""Action routing: templates, features, a small calibrated policy, model files.

Light on import: :class:`RouterPolicy` and :func:`load_policy` load their
modules on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["RouterPolicy", "load_policy"]

_LAZY = {"RouterPolicy": "hive_middleware.routing.policy", "load_policy": "hive_middleware.routing.policy"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hive_middleware.routing' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
