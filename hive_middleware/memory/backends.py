"""Choosing back-ends by configuration: how ``MemoryStore.open`` wires adapters without importing them.

The core never imports ``hive_middleware.adapters``; configuration names an
adapter and this module resolves the name to ``module:attribute`` with
:mod:`importlib` at open time, the way plug-ins are loaded.

Where memory lives:

* ``memory.graph``: ``"sqlite"`` (the default: ``data_dir/graph.sqlite3``),
  ``"sqlite:///abs/dir"`` (SQLite in that directory, which processes on one
  machine may share) or ``"postgres://..."``/``"postgresql://..."`` (one
  database shared by every process and machine; the ``[postgres]`` extra).
* ``memory.vectors``: ``None`` (an embedded Chroma directory beside the SQLite
  graph, or under ``data_dir`` for a Postgres graph) or ``"http://host:port"``/
  ``"https://..."`` (a Chroma server). ``memory.chroma_url`` is the older
  spelling of the same setting.

An embedded Chroma directory takes one writing process at a time, so its
embedding worker holds a lock file beside it; with a Chroma server there is no
lock and every process runs the worker: the graph store leases outbox rows, so
two workers never embed the same row at once and a crashed worker's rows come
back when their lease ends.

Unknown names and schemes raise :class:`~hive_middleware.errors.HiveConfigError`
naming the accepted forms; a missing driver raises
:class:`~hive_middleware.errors.HiveDependencyError` naming the extra.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveDependencyError
from hive_middleware.memory.sealed_graph import seal_graph
from hive_middleware.ports import Embedder, GraphStore, VectorIndex

__all__ = [
    "EMBEDDERS",
    "GRAPH_STORES",
    "VECTOR_INDEXES",
    "Backends",
    "GraphLocation",
    "graph_location",
    "make_embedder",
    "open_backends",
    "open_graph",
    "open_vectors",
    "redact_url",
    "vectors_url",
]

_log = logging.getLogger(__name__)

GRAPH_STORES: dict[str, str] = {
    "sqlite": "hive_middleware.adapters.sqlite_graph:SQLiteGraphStore",
    "postgres": "hive_middleware.adapters.postgres_graph:PostgresGraphStore",
}
VECTOR_INDEXES: dict[str, str] = {
    "chroma": "hive_middleware.adapters.chroma:ChromaVectorIndex",
    "memory": "hive_middleware.testing.memory:InMemoryVectorIndex",
}
EMBEDDERS: dict[str, str] = {
    "minilm": "hive_middleware.adapters.embedders:MiniLMEmbedder",
    "minilm-int8": "hive_middleware.adapters.embedders:MiniLMInt8Embedder",
    "hashing": "hive_middleware.testing.memory:HashingEmbedder",
}
# The pip extra that brings each back-end's driver (named in HiveDependencyError).
_EXTRAS: dict[str, str] = {"postgres": "postgres"}

GRAPH_FORMS = "'sqlite', 'sqlite:///abs/dir', 'postgres://user@host:port/db' or 'postgresql://...'"
VECTOR_FORMS = "None (embedded Chroma) or a Chroma server 'http://host:port' / 'https://host:port'"


def _resolve(table: dict[str, str], name: str, key: str) -> Any:
    target = table.get(name)
    if target is None:
        raise HiveConfigError(f"memory.{key}={name!r} is unknown; use one of {sorted(table)}", key=f"memory.{key}")
    module, _, attr = target.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        if exc.name == module:
            raise HiveDependencyError(
                f"back-end {name!r} is not part of this installation (no module {module}); "
                "upgrade hive-middleware",
                backend=name,
                package=module,
            ) from exc
        extra = _EXTRAS.get(name)
        hint = f"install hive-middleware[{extra}]" if extra else "install hive-middleware with its dependencies"
        raise HiveDependencyError(
            f"back-end {name!r} needs a package that is not installed ({exc.name}); {hint}",
            backend=name,
            package=exc.name,
        ) from exc


@dataclass(frozen=True, slots=True)
class GraphLocation:
    """Where ``memory.graph`` puts the graph store.

    Attributes:
        kind: ``"sqlite"`` or ``"postgres"``.
        directory: The SQLite directory (``None`` for Postgres).
        url: The Postgres URL (``None`` for SQLite).
    """

    kind: Literal["sqlite", "postgres"]
    directory: Path | None = None
    url: str | None = None

    @property
    def shared(self) -> bool:
        """Whether processes on other machines may use this graph (a database server)."""
        return self.kind == "postgres"

    def describe(self) -> str:
        """A printable location (the Postgres password hidden)."""
        if self.url is not None:
            return redact_url(self.url)
        return f"sqlite:///{self.directory}"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def graph_location(graph: str, data_dir: Path) -> GraphLocation:
    """Parse a ``memory.graph`` value.

    Args:
        graph: ``"sqlite"``, ``"sqlite:///abs/dir"``, ``"postgres://..."`` or ``"postgresql://..."``.
        data_dir: The data directory (where bare ``"sqlite"`` lives).

    Raises:
        HiveConfigError: an unknown scheme or a ``sqlite://`` URL without a directory.
    """
    value = graph.strip()
    if value == "sqlite":
        return GraphLocation("sqlite", directory=Path(data_dir))
    scheme, sep, rest = value.partition("://")
    if sep and scheme == "sqlite":
        # sqlite:///abs/dir -> rest = "/abs/dir"; a relative path is relative to the working directory.
        if not rest or rest == "/":
            raise HiveConfigError(
                f"memory.graph={graph!r} names no directory; use 'sqlite:///abs/dir' (three slashes before an "
                "absolute path)",
                key="memory.graph",
            )
        return GraphLocation("sqlite", directory=Path(rest).expanduser())
    if sep and scheme in ("postgres", "postgresql") and rest:
        return GraphLocation("postgres", url=value)
    raise HiveConfigError(
        f"memory.graph={redact_url(graph)!r} is not a graph store location; use {GRAPH_FORMS}",
        key="memory.graph",
    )


def vectors_url(config: MemoryConfig) -> str | None:
    """The Chroma server URL that ``memory.vectors`` (or the older ``memory.chroma_url``) names.

    Returns:
        The URL, or ``None`` for the embedded Chroma directory.

    Raises:
        HiveConfigError: both settings are given and differ, the URL is not
            ``http(s)://host[:port]``, or ``memory.vector_index`` is not ``"chroma"``
            while a server is named.
    """
    vectors, legacy = config.vectors, config.chroma_url
    if vectors is not None and legacy is not None and vectors.rstrip("/") != legacy.rstrip("/"):
        raise HiveConfigError(
            f"memory.vectors={vectors!r} and memory.chroma_url={legacy!r} disagree; set only memory.vectors "
            "(chroma_url is its older spelling)",
            key="memory.vectors",
        )
    url = vectors if vectors is not None else legacy
    if url is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise HiveConfigError(f"memory.vectors={url!r} is not a valid URL ({exc}); use {VECTOR_FORMS}",
                              key="memory.vectors") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HiveConfigError(f"memory.vectors={url!r} is not a vector index location; use {VECTOR_FORMS}",
                              key="memory.vectors")
    if config.vector_index != "chroma":
        raise HiveConfigError(
            f"memory.vectors names a Chroma server ({url}) but memory.vector_index={config.vector_index!r}; "
            "set memory.vector_index='chroma' or leave memory.vectors unset",
            key="memory.vectors",
        )
    return url.strip()


def open_graph(location: GraphLocation, config: MemoryConfig) -> GraphStore:
    """Open the graph store at ``location`` (SQLite directory or Postgres database).

    Raises:
        HiveDependencyError: the Postgres driver is not installed (``install hive-middleware[postgres]``).
        HiveStorageError: the store cannot be opened or reached.
    """
    cls = _resolve(GRAPH_STORES, location.kind, "graph")
    if location.kind == "postgres":
        store: GraphStore = cls.from_url(location.url)
        return store
    assert location.directory is not None
    sqlite_store: GraphStore = cls.from_path(location.directory, synchronous=config.sqlite_synchronous)
    return sqlite_store


def open_vectors(
    config: MemoryConfig, *, embedder_name: str, directory: Path | None
) -> tuple[VectorIndex | None, Path | None]:
    """Open the vector index ``config`` names; returns it and the embedder lock file it needs.

    Args:
        config: Memory settings (``vector_index``, ``vectors``/``chroma_url``).
        embedder_name: Recorded in each Chroma collection (vectors of two models never mix).
        directory: Where an embedded Chroma directory and its lock live.

    Returns:
        ``(index, lock)``: the lock is set only for an embedded Chroma directory,
        which takes one writing process at a time.
    """
    if config.vector_index == "none":
        vectors_url(config)  # still refuse a contradictory setting
        return None, None
    url = vectors_url(config)
    index_cls = _resolve(VECTOR_INDEXES, config.vector_index, "vector_index")
    if config.vector_index != "chroma":
        memory_index: VectorIndex = index_cls()
        return memory_index, None
    if url is not None:
        server: VectorIndex = index_cls.from_url(url, embedder_name=embedder_name)
        return server, None
    if directory is None:
        raise HiveConfigError("an embedded Chroma index needs a directory; set memory.vectors to a server URL",
                              key="memory.vectors")
    embedded: VectorIndex = index_cls.from_path(directory / "chroma", embedder_name=embedder_name)
    return embedded, directory / "embedder.lock"


@dataclass
class Backends:
    """The opened back-ends of one store, plus how to close them."""

    graph: GraphStore
    vectors: VectorIndex | None
    embedder: Embedder | None
    worker_lock: Path | None
    close: Callable[[], None]


def make_embedder(config: MemoryConfig) -> Embedder:
    """The embedder ``memory.embedder`` names, wrapped in a :class:`CachingEmbedder`."""
    from hive_middleware.memory.embedding_cache import CachingEmbedder

    # Memory embeds the same texts again and again (re-sent tool outputs, queries
    # that repeat a turn just written): each distinct text is embedded once.
    return CachingEmbedder(_resolve(EMBEDDERS, config.embedder, "embedder")())


def open_backends(directory: Path, config: MemoryConfig, *, embedder: Embedder | None = None) -> Backends:
    """Open the graph store, vector index and embedder that ``config`` names.

    The embedder ``config`` names is wrapped in a
    :class:`~hive_middleware.memory.embedding_cache.CachingEmbedder`; one passed in
    is used as it is.

    Layout: with ``memory.graph="sqlite"`` everything lives in ``directory``
    (``graph.sqlite3``, ``chroma/``, ``embedder.lock``); with ``sqlite:///dir``
    the embedded vectors live beside that graph in ``dir`` (one index per graph,
    whichever data directory opened it); with Postgres they live in ``directory``.
    With ``memory.encryption_key_env`` set, the graph store is wrapped in a
    :class:`~hive_middleware.memory.sealed_graph.SealedGraphStore` (memory text
    sealed at rest; see :func:`~hive_middleware.memory.sealed_graph.seal_graph`).

    Args:
        directory: The data directory.
        config: Memory settings.
        embedder: Use this embedder instead of ``config.embedder``.

    Raises:
        HiveConfigError: ``memory.graph`` or ``memory.vectors`` is malformed or contradictory;
            or the sealing key is missing, malformed or not the store's (``memory.encryption_key_env``).
        HiveDependencyError: a back-end's driver is not installed.
        HiveStorageError: a back-end cannot be opened or reached.
    """
    location = graph_location(config.graph, Path(directory))
    url = vectors_url(config)  # checked before anything is opened
    graph = open_graph(location, config)
    try:
        graph = seal_graph(graph, config, where=location.describe())
        vectors: VectorIndex | None = None
        lock: Path | None = None
        if config.vector_index != "none":
            if embedder is None:
                embedder = make_embedder(config)
            name = str(getattr(embedder, "name", config.embedder))
            vector_dir = location.directory if location.directory is not None else Path(directory)
            vectors, lock = open_vectors(config, embedder_name=name, directory=vector_dir)
            if location.shared and url is None and config.vector_index == "chroma":
                _log.warning(
                    "memory.graph is a shared database but the vectors are an embedded Chroma directory in %s: "
                    "records another machine's worker embeds are found there by keyword only; set "
                    "memory.vectors to a Chroma server URL to share them",
                    vector_dir,
                )
    except BaseException:
        graph.close()
        raise

    def close() -> None:
        graph.close()
        closer = getattr(vectors, "close", None)
        if callable(closer):
            closer()

    return Backends(graph=graph, vectors=vectors, embedder=embedder, worker_lock=lock, close=close)
