"""VectorIndex on Chroma: one cosine collection per tenant, our own embeddings.

* ``ChromaVectorIndex.from_path(dir)`` uses an embedded ``PersistentClient``;
  ``from_url("http://host:port")`` a Chroma server (``HttpClient``); or pass any
  ready client. Anonymized telemetry is off in both factories.
* One collection per tenant, so a query never needs a ``where`` filter (which
  costs ~10x a plain query at 10 K documents) and a tenant never sees another's
  ids; erasing a tenant drops its collection. Collection names are
  ``hive-<slug>-<hash>``: Chroma's name rules hold for any tenant string.
* Vectors are always passed in; Chroma never embeds. Each collection is created
  with :class:`HiveEmbeddingFunction` (registered with Chroma under
  ``"hive"``) so its stored configuration names our embedder rather than
  Chroma's default, which would try to download a model; a reopened collection
  rebuilds it from that configuration.

An embedded Chroma directory takes one writing process at a time; the memory
store's embedding worker holds a lock for that (see
:mod:`hive_middleware.memory.outbox`). Use a Chroma server for many processes:
each caches its collection handles, and a handle another process made stale (it
erased the tenant) is dropped and fetched again on first use. Every client or
server failure is raised as :class:`~hive_middleware.errors.HiveStorageError`
naming the server URL (or directory) and the tenant.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hive_middleware.errors import (
    HiveConfigError,
    HiveDependencyError,
    HiveStorageError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.ports import Embedder, VectorHit

__all__ = ["ChromaVectorIndex", "HiveEmbeddingFunction", "collection_name"]

try:
    import chromadb
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.config import Settings
    from chromadb.utils.embedding_functions import register_embedding_function
except ImportError as _exc:  # pragma: no cover - chromadb is a core dependency today
    raise HiveDependencyError(
        "the Chroma adapter needs chromadb; pip install 'chromadb>=1.0'", package="chromadb"
    ) from _exc

_SLUG = re.compile(r"[^a-zA-Z0-9_-]+")


def collection_name(tenant: str) -> str:
    """A valid, collision-free Chroma collection name for ``tenant``."""
    slug = _SLUG.sub("-", tenant).strip("-_")[:40] or "t"
    digest = hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:12]
    return f"hive-{slug}-{digest}"


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc).lower()


def _embedder_from_name(name: str) -> Embedder:
    if name == "minilm":
        from hive_middleware.adapters.embedders import MiniLMEmbedder

        embedder: Embedder = MiniLMEmbedder()
        return embedder
    if name.startswith("hashing-"):
        from hive_middleware.testing.memory import HashingEmbedder

        return HashingEmbedder(int(name.split("-", 1)[1]))
    raise HiveConfigError(f"a Chroma collection names an unknown hive embedder {name!r}", key="embedder")


@register_embedding_function
class HiveEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function wrapping a hive :class:`~hive_middleware.ports.Embedder`.

    The memory store always passes vectors, so this only runs if someone
    queries a collection by text; the embedder is built lazily from its name.

    Args:
        embedder_name: ``"minilm"`` or ``"hashing-<dim>"``.
        embedder: A ready embedder with that name (else built on first call).
    """

    def __init__(self, embedder_name: str = "minilm", embedder: Embedder | None = None) -> None:
        self._name = embedder_name
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        if self._embedder is None:
            self._embedder = _embedder_from_name(self._name)
        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed(list(input))]

    @staticmethod
    def name() -> str:
        return "hive"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> Any:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HiveEmbeddingFunction:
        return HiveEmbeddingFunction(str(config.get("embedder", "minilm")))

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._name}


def _collection_embedder(collection: Any) -> str | None:
    """The embedder name recorded in a collection's configuration, if it has one."""
    try:
        config = collection.configuration_json or {}
        recorded = (config.get("embedding_function") or {}).get("config") or {}
    except Exception:  # an older server or client without configuration_json: nothing to compare
        return None
    name = recorded.get("embedder") if isinstance(recorded, dict) else None
    return name if isinstance(name, str) else None


class ChromaVectorIndex:
    """The Chroma :class:`~hive_middleware.ports.VectorIndex` (see the module docstring).

    Args:
        client: A ready Chroma client (``PersistentClient``, ``HttpClient``...).
        embedder_name: Recorded in each collection's configuration.
        where: Names the index in error messages (the factories pass the URL or directory).
    """

    def __init__(self, client: Any, *, embedder_name: str = "minilm", where: str = "Chroma") -> None:
        self._client = client
        self._embedder_name = embedder_name
        self._where = where
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, embedder_name: str = "minilm") -> ChromaVectorIndex:
        """An embedded, persistent index in directory ``path``."""
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
        except Exception as exc:
            raise HiveStorageError(f"cannot open the Chroma directory {path}: {exc}", path=str(path)) from exc
        return cls(client, embedder_name=embedder_name, where=f"the Chroma directory {path}")

    @classmethod
    def from_url(cls, url: str, *, embedder_name: str = "minilm", headers: dict[str, str] | None = None) -> ChromaVectorIndex:
        """A Chroma server at ``url`` (``http://host:port`` or ``https://...``)."""
        try:
            parsed = urlparse(url)
            explicit_port = parsed.port
        except ValueError as exc:
            raise HiveConfigError(f"Chroma URL {url!r} is malformed ({exc}); use http://host:port",
                                  key="memory.vectors") from exc
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise HiveConfigError(f"Chroma URL {url!r} must look like http://host:port or https://host:port",
                                  key="memory.vectors")
        port = explicit_port or (443 if parsed.scheme == "https" else 8000)
        try:
            # The client checks the server (heartbeat, tenant and database) as it is built.
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=port,
                ssl=parsed.scheme == "https",
                headers=headers,
                settings=Settings(anonymized_telemetry=False),
            )
        except Exception as exc:
            raise HiveStorageError(
                f"cannot reach the Chroma server at {url}: {exc}; start it (chroma run --port {port}) or fix "
                "memory.vectors",
                url=url,
            ) from exc
        return cls(client, embedder_name=embedder_name, where=f"the Chroma server at {url}")

    def _check_open(self) -> None:
        if self._closed:
            raise HiveUsageError(
                "this Chroma vector index is closed; build a new ChromaVectorIndex (or open a new MemoryStore)",
                closed=True,
            )

    def _collection(self, tenant: str, *, create: bool) -> Any | None:
        self._check_open()
        found = self._collections.get(tenant)
        if found is not None:
            return found
        name = collection_name(tenant)
        ef = HiveEmbeddingFunction(self._embedder_name)
        with self._lock:
            try:
                if create:
                    col = self._client.get_or_create_collection(
                        name=name,
                        configuration={"hnsw": {"space": "cosine"}},
                        metadata={"hive_tenant": tenant},
                        embedding_function=ef,
                    )
                else:
                    col = self._client.get_collection(name=name, embedding_function=ef)
            except Exception as exc:
                if not create and _is_not_found(exc):
                    return None
                raise HiveStorageError(
                    f"opening the collection of tenant {tenant!r} in {self._where} failed: {exc}", tenant=tenant
                ) from exc
            written_with = _collection_embedder(col)
            if written_with is not None and written_with != self._embedder_name:
                raise HiveConfigError(
                    f"the vectors of tenant {tenant!r} were written with embedder {written_with!r}, but this store "
                    f"embeds with {self._embedder_name!r}; set memory.embedder={written_with!r} or use a new data "
                    "directory (vectors of two models are not comparable)",
                    key="embedder",
                )
            self._collections[tenant] = col
            return col

    def upsert(self, tenant: str, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        """See :meth:`VectorIndex.upsert`."""
        if len(ids) != len(vectors):
            raise HiveValidationError(f"{len(ids)} ids but {len(vectors)} vectors", field="vectors")
        if not ids:
            return
        embeddings = [list(map(float, v)) for v in vectors]
        for attempt in (1, 2):
            col = self._collection(tenant, create=True)
            assert col is not None
            try:
                col.upsert(ids=list(ids), embeddings=embeddings)
                return
            except Exception as exc:
                if attempt == 1 and _is_not_found(exc):
                    # Another process erased the tenant (or a server was reset) after this
                    # handle was cached: forget it and create the collection again.
                    self._forget(tenant, col)
                    continue
                raise HiveStorageError(
                    f"upserting {len(ids)} vector(s) of tenant {tenant!r} into {self._where} failed: {exc}",
                    tenant=tenant,
                ) from exc

    def query(self, tenant: str, vector: Sequence[float], k: int) -> list[VectorHit]:
        """See :meth:`VectorIndex.query`."""
        if k <= 0:
            return []
        query = [list(map(float, vector))]
        for attempt in (1, 2):
            col = self._collection(tenant, create=False)
            if col is None:
                return []
            try:
                got = col.query(query_embeddings=query, n_results=k, include=["distances"])
                break
            except Exception as exc:
                if attempt == 1 and _is_not_found(exc):
                    # Erased (and perhaps recreated) by another process since it was cached.
                    self._forget(tenant, col)
                    continue
                raise HiveStorageError(
                    f"querying the vectors of tenant {tenant!r} in {self._where} failed: {exc}", tenant=tenant
                ) from exc
        ids = got["ids"][0]
        distances = got["distances"][0] if got.get("distances") else [0.0] * len(ids)
        # Cosine distance is 1 - cosine similarity.
        return [(rid, 1.0 - float(d)) for rid, d in zip(ids, distances, strict=True)]

    def delete_tenant(self, tenant: str) -> None:
        """See :meth:`VectorIndex.delete_tenant`."""
        self._check_open()
        with self._lock:
            self._collections.pop(tenant, None)
            try:
                self._client.delete_collection(name=collection_name(tenant))
            except Exception as exc:
                if _is_not_found(exc):
                    return
                raise HiveStorageError(
                    f"cannot delete the collection of tenant {tenant!r} in {self._where}: {exc}", tenant=tenant
                ) from exc

    def _forget(self, tenant: str, col: Any) -> None:
        with self._lock:
            if self._collections.get(tenant) is col:
                del self._collections[tenant]

    def close(self) -> None:
        """Forget cached collection handles (the client is the caller's); later calls raise HiveUsageError."""
        self._closed = True
        self._collections.clear()
