"""An :class:`~hive_middleware.compression.artifacts.ArtifactStore` on the memory engine.

Each compressed-away original becomes an ``artifact`` memory whose key is its
handle, linked ``artifact --attached_to--> turn`` to a small episodic record of
the turn it came from (key ``turn:<conversation>:<index>``, created on first
use). Originals are then durable, searchable and tenant-scoped like every other
memory, and ``expand(handle, artifacts=MemoryArtifactStore(store))`` reads them
back byte for byte.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.types import EdgeKind, MemoryKind

if TYPE_CHECKING:
    from hive_middleware.memory.store import MemoryStore

__all__ = ["LazyMemoryArtifactStore", "MemoryArtifactStore"]

_REMEMBERED_HANDLES = 65_536


def _fingerprint(text: str) -> tuple[int, str, str]:
    # Handles are content-derived (make_handle: a SHA-256 prefix), so the handle
    # already names the content; length and both ends guard against a caller that
    # reuses a handle for other text, without hashing every re-sent original again.
    return len(text), text[:64], text[-64:]


class MemoryArtifactStore:
    """Keep compression originals in a :class:`~hive_middleware.memory.store.MemoryStore`.

    Args:
        store: An open memory store.
        namespace: Where artifacts go (default: the store's namespace).
        conversation: Names the conversation the turns belong to (part of the
            turn records' keys, so several conversations can share a namespace).

    Originals must fit the memory engine's ``max_content_chars``; a larger one
    raises :class:`~hive_middleware.errors.HiveValidationError` from ``put``.
    """

    def __init__(
        self, store: MemoryStore, *, namespace: Sequence[str] | None = None, conversation: str = "default"
    ) -> None:
        self._store = store
        self._namespace = tuple(namespace) if namespace is not None else None
        self._conversation = conversation
        # Handles this object stored (or found stored), with a fingerprint of their content:
        # an agent resends the same list every turn, and a re-sent original needs no read.
        self._stored: OrderedDict[str, tuple[int, str, str]] = OrderedDict()

    def put(self, handle: str, original: str, metadata: Mapping[str, Any]) -> None:
        """Store ``original`` as an artifact memory keyed by ``handle``, attached to its turn."""
        fingerprint = _fingerprint(original)
        if self._stored.get(handle) == fingerprint:
            self._stored.move_to_end(handle)
            return
        existing = self._store.recall(handle, namespace=self._namespace)
        if existing is not None and existing.content == original:
            self._note(handle, fingerprint)
            return
        turn = metadata.get("turn")
        turn_key = f"turn:{self._conversation}:{turn}"
        turn_record = self._store.recall(turn_key, namespace=self._namespace)
        if turn_record is None:
            turn_record = self._store.remember(
                f"{metadata.get('role', 'message')} turn {turn} of {self._conversation} "
                f"({metadata.get('content_type', 'message')})",
                key=turn_key,
                # Part of the artifact machinery, not a memory of its own: recall skips it.
                kind=MemoryKind.ARTIFACT,
                namespace=self._namespace,
                metadata={"turn": turn, "conversation": self._conversation},
            )
        record = self._store.remember(
            original,
            key=handle,
            kind=MemoryKind.ARTIFACT,
            namespace=self._namespace,
            metadata={**{k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}, "handle": handle},
        )
        self._store.link(record.id, EdgeKind.ATTACHED_TO, turn_record.id, tenant=record.tenant)
        self._note(handle, fingerprint)

    def _note(self, handle: str, fingerprint: tuple[int, str, str]) -> None:
        self._stored[handle] = fingerprint
        while len(self._stored) > _REMEMBERED_HANDLES:
            self._stored.popitem(last=False)

    def get(self, handle: str) -> str:
        """The original stored under ``handle``.

        Raises:
            HiveNotFoundError: no artifact memory has this handle as its key.
        """
        record = self._store.recall(handle, namespace=self._namespace)
        if record is None or record.kind is not MemoryKind.ARTIFACT:
            raise HiveNotFoundError(
                f"no artifact memory under handle {handle!r} in this namespace; pass the store and "
                "namespace compress() wrote to",
                key=handle,
            )
        return record.content


class LazyMemoryArtifactStore:
    """A :class:`MemoryArtifactStore` over a store opened on first use.

    A stack that compresses before anything else touched its memory must still
    keep originals durable: this opens the memory store when the first original
    is stored or read, never before (compressing a list that drops nothing
    opens nothing).

    Args:
        open_store: Returns the memory store (called once, on first use).
        namespace: See :class:`MemoryArtifactStore`.
    """

    def __init__(self, open_store: Callable[[], MemoryStore], *, namespace: Sequence[str] | None = None) -> None:
        self._open_store = open_store
        self._namespace = namespace
        self._inner: MemoryArtifactStore | None = None
        self._lock = threading.Lock()

    def _store(self) -> MemoryArtifactStore:
        with self._lock:
            if self._inner is None:
                self._inner = MemoryArtifactStore(self._open_store(), namespace=self._namespace)
            return self._inner

    def put(self, handle: str, original: str, metadata: Mapping[str, Any]) -> None:
        """See :meth:`MemoryArtifactStore.put`."""
        self._store().put(handle, original, metadata)

    def get(self, handle: str) -> str:
        """See :meth:`MemoryArtifactStore.get`."""
        return self._store().get(handle)
