"""The memory engine: causal, bi-temporal memory over three ports.

Modules: ``clock`` (hybrid logical clock), ``records`` (input checks, ids),
``writes`` (ops a graph store commits atomically), ``store`` (:class:`MemoryStore`
and :class:`AsyncMemoryStore`), ``outbox`` (background embedding worker),
``retrieval`` (hybrid search fused by reciprocal rank), ``backends`` (adapters
chosen by configuration), plus conflict resolution, cognitive kinds and
snapshots. Names below load on first use so importing this package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["AsyncMemoryStore", "MemoryDraft", "MemoryStore", "ProvenanceStep", "SearchResult"]

_LAZY = {
    "AsyncMemoryStore": "hive_middleware.memory.store",
    "MemoryDraft": "hive_middleware.memory.store",
    "MemoryStore": "hive_middleware.memory.store",
    "ProvenanceStep": "hive_middleware.memory.store",
    "SearchResult": "hive_middleware.memory.retrieval",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hive_middleware.memory' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
