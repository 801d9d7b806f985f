"""Reversibility: originals of compressed messages, stored under short handles.

Every message that compression distils, drops, marks stale or summarises is put
into an :class:`ArtifactStore` under a handle derived from its content
(``h-`` + 12 hex digits of its SHA-256), and the stub the model sees names the
handle and the tool to call (``hive_expand``). :func:`expand` gives the original
back byte for byte.

:class:`InMemoryArtifactStore` is the default (process-wide, bounded by total
size, oldest evicted first). To keep originals durably, pass a store that writes
through the memory engine (:class:`~hive_middleware.compression.memory_artifacts.MemoryArtifactStore`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from hive_middleware.errors import HiveNotFoundError, HiveValidationError

__all__ = [
    "EXPAND_TOOL",
    "ArtifactStore",
    "InMemoryArtifactStore",
    "default_artifact_store",
    "expand",
    "make_handle",
]

EXPAND_TOOL = "hive_expand"
"""Name of the tool an agent calls (with ``handle``) to get a compressed original back."""

HANDLE_PREFIX = "h-"
_HANDLE_HEX = 12
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def make_handle(original: str) -> str:
    """The handle of an original: ``h-`` + the first 12 hex digits of its SHA-256.

    Content-derived, so the same original always gets the same handle (compression
    stays deterministic and a re-stored original is not duplicated).
    """
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()
    return HANDLE_PREFIX + digest[:_HANDLE_HEX]


@runtime_checkable
class ArtifactStore(Protocol):
    """Where compressed-away originals live, by handle.

    Contract: after ``put(handle, original, metadata)`` returns, ``get(handle)``
    returns ``original`` exactly (same characters) until the store evicts it;
    ``put`` of a handle already stored with the same original is a no-op;
    ``get`` of an unknown or evicted handle raises
    :class:`~hive_middleware.errors.HiveNotFoundError`. ``metadata`` carries
    ``turn`` (message index), ``role``, ``content_type`` and ``label`` so a
    durable store can link the artifact to its turn.
    """

    def put(self, handle: str, original: str, metadata: Mapping[str, Any]) -> None:
        """Store ``original`` under ``handle``."""
        ...

    def get(self, handle: str) -> str:
        """The original stored under ``handle``."""
        ...


class InMemoryArtifactStore:
    """A bounded, thread-safe, in-process :class:`ArtifactStore`.

    Args:
        max_bytes: Total size (in characters) kept; the least recently stored
            originals are evicted beyond it.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise HiveValidationError(f"max_bytes must be positive, got {max_bytes}", field="max_bytes")
        self._max = max_bytes
        self._items: OrderedDict[str, str] = OrderedDict()
        self._meta: dict[str, Mapping[str, Any]] = {}
        self._size = 0
        self._lock = threading.Lock()

    def put(self, handle: str, original: str, metadata: Mapping[str, Any]) -> None:
        """Store ``original``; re-storing a known handle only refreshes its age."""
        with self._lock:
            if handle in self._items:
                self._items.move_to_end(handle)
                return
            self._items[handle] = original
            self._meta[handle] = dict(metadata)
            self._size += len(original)
            while self._size > self._max and len(self._items) > 1:
                old, text = self._items.popitem(last=False)
                self._meta.pop(old, None)
                self._size -= len(text)

    def get(self, handle: str) -> str:
        """The original under ``handle``.

        Raises:
            HiveNotFoundError: unknown or evicted handle.
        """
        with self._lock:
            try:
                return self._items[handle]
            except KeyError:
                raise HiveNotFoundError(
                    f"no compressed original under handle {handle!r}: it was never stored here or was "
                    f"evicted; pass the ArtifactStore that compress() used",
                    key=handle,
                ) from None

    def metadata(self, handle: str) -> Mapping[str, Any]:
        """The metadata stored with ``handle`` (empty when unknown)."""
        with self._lock:
            return self._meta.get(handle, {})

    def __contains__(self, handle: object) -> bool:
        with self._lock:
            return handle in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


_default: InMemoryArtifactStore | None = None
_default_lock = threading.Lock()


def default_artifact_store() -> InMemoryArtifactStore:
    """The process-wide store used when ``compress``/``expand`` get none."""
    global _default
    with _default_lock:
        if _default is None:
            _default = InMemoryArtifactStore()
        return _default


def expand(handle: str, *, artifacts: ArtifactStore | None = None) -> str:
    """The original text a compression stub stands for, byte for byte.

    Args:
        handle: The handle named in the stub (``h-...``).
        artifacts: The store ``compress`` used (default: the process-wide one).

    Returns:
        The original message content.

    Raises:
        HiveValidationError: ``handle`` is not a handle.
        HiveNotFoundError: nothing is stored under it.
    """
    if not isinstance(handle, str) or not handle.startswith(HANDLE_PREFIX):
        raise HiveValidationError(
            f"{handle!r} is not a compression handle; handles look like 'h-0123456789ab'", field="handle"
        )
    store = artifacts if artifacts is not None else default_artifact_store()
    return store.get(handle.strip())
