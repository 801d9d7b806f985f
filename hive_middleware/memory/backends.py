"""Choosing back-ends by name: how ``MemoryStore.open`` wires adapters without importing them.

The core never imports ``hive_middleware.adapters``; configuration names an
adapter (``memory.embedder = "minilm"``, ``memory.vector_index = "chroma"``) and
this module resolves the name to ``module:attribute`` with :mod:`importlib` at
open time, the way plug-ins are loaded. Unknown names raise
:class:`~hive_middleware.errors.HiveConfigError` listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveDependencyError
from hive_middleware.ports import Embedder, GraphStore, VectorIndex

__all__ = ["EMBEDDERS", "GRAPH_STORES", "VECTOR_INDEXES", "Backends", "open_backends"]

GRAPH_STORES: dict[str, str] = {"sqlite": "hive_middleware.adapters.sqlite_graph:SQLiteGraphStore"}
VECTOR_INDEXES: dict[str, str] = {
    "chroma": "hive_middleware.adapters.chroma:ChromaVectorIndex",
    "memory": "hive_middleware.testing.memory:InMemoryVectorIndex",
}
EMBEDDERS: dict[str, str] = {
    "minilm": "hive_middleware.adapters.embedders:MiniLMEmbedder",
    "minilm-int8": "hive_middleware.adapters.embedders:MiniLMInt8Embedder",
    "hashing": "hive_middleware.testing.memory:HashingEmbedder",
}


def _resolve(table: dict[str, str], name: str, key: str) -> Any:
    target = table.get(name)
    if target is None:
        raise HiveConfigError(f"memory.{key}={name!r} is unknown; use one of {sorted(table)}", key=f"memory.{key}")
    module, _, attr = target.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        raise HiveDependencyError(
            f"back-end {name!r} needs a package that is not installed ({exc.name}); "
            "install hive-middleware with its dependencies",
            backend=name,
        ) from exc


@dataclass
class Backends:
    """The opened back-ends of one data directory, plus how to close them."""

    graph: GraphStore
    vectors: VectorIndex | None
    embedder: Embedder | None
    worker_lock: Path | None
    close: Callable[[], None]


def open_backends(directory: Path, config: MemoryConfig, *, embedder: Embedder | None = None) -> Backends:
    """Open the graph store, vector index and embedder that ``config`` names, under ``directory``.

    The embedder ``config`` names is wrapped in a
    :class:`~hive_middleware.memory.embedding_cache.CachingEmbedder`; one passed in
    is used as it is.

    Layout: ``directory/graph.sqlite3`` (records, edges, keyword index, outbox),
    ``directory/chroma/`` (embedded vectors, unless ``chroma_url`` is set).
    """
    graph_cls = _resolve(GRAPH_STORES, "sqlite", "graph_store")
    graph: GraphStore = graph_cls.from_path(directory, synchronous=config.sqlite_synchronous)
    vectors: VectorIndex | None = None
    lock: Path | None = None
    if config.vector_index != "none":
        index_cls = _resolve(VECTOR_INDEXES, config.vector_index, "vector_index")
        if embedder is None:
            from hive_middleware.memory.embedding_cache import CachingEmbedder

            # Memory embeds the same texts again and again (re-sent tool outputs, queries
            # that repeat a turn just written): each distinct text is embedded once.
            embedder = CachingEmbedder(_resolve(EMBEDDERS, config.embedder, "embedder")())
        name = str(getattr(embedder, "name", config.embedder))
        if config.vector_index == "chroma" and config.chroma_url:
            vectors = index_cls.from_url(config.chroma_url, embedder_name=name)
        elif config.vector_index == "chroma":
            vectors = index_cls.from_path(directory / "chroma", embedder_name=name)
            # An embedded Chroma directory takes one writing process at a time.
            lock = directory / "embedder.lock"
        else:
            vectors = index_cls()

    def close() -> None:
        graph.close()
        closer = getattr(vectors, "close", None)
        if callable(closer):
            closer()

    return Backends(graph=graph, vectors=vectors, embedder=embedder, worker_lock=lock, close=close)
