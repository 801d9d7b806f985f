"""An embedder wrapper that embeds each distinct text once.

The same text always gives the same vector (the :class:`~hive_middleware.ports.Embedder`
contract), and memory embeds the same text again and again: agents re-send the
same tool outputs, many conversations open alike, a query is the turn just
written. :class:`CachingEmbedder` keeps the vectors of the texts embedded lately
(keyed by a 128-bit digest of the text, stored as float32, which loses nothing:
the models return float32) and embeds only the texts it has not seen, in one
batch.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence

from hive_middleware.errors import HiveUsageError
from hive_middleware.ports import Embedder

__all__ = ["DEFAULT_EMBEDDING_CACHE", "CachingEmbedder"]

DEFAULT_EMBEDDING_CACHE = 8_192
"""Vectors kept (384-dim float32: about 1.6 KB each, ~13 MB in all)."""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CachingEmbedder:
    """An :class:`~hive_middleware.ports.Embedder` that embeds each distinct text once (LRU).

    Args:
        inner: The embedder doing the work.
        max_entries: Vectors kept; the least recently used go first.

    Attributes:
        hits: Texts answered from the cache.
        misses: Texts the inner embedder embedded.
    """

    def __init__(self, inner: Embedder, *, max_entries: int = DEFAULT_EMBEDDING_CACHE) -> None:
        if max_entries < 1:
            raise HiveUsageError(f"max_entries must be >= 1, got {max_entries}")
        self.inner = inner
        self.max_entries = max_entries
        self._vectors: OrderedDict[bytes, array[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        """The inner embedder's name (the vectors are its own)."""
        return self.inner.name

    @property
    def dim(self) -> int:
        """The inner embedder's dimension."""
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts`` in order; only texts not cached reach the inner embedder (once each)."""
        keys = [_digest(text) for text in texts]
        found: dict[bytes, array[float]] = {}
        missing: dict[bytes, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                vector = self._vectors.get(key)
                if vector is not None:
                    self._vectors.move_to_end(key)
                    found[key] = vector
                elif key not in found:
                    missing[key] = text
            self.hits += len(keys) - len(missing)  # a text repeated in ``texts`` is embedded once
        if missing:
            vectors = self.inner.embed(list(missing.values()))
            with self._lock:
                self.misses += len(missing)
                for key, fresh in zip(missing, vectors, strict=True):
                    stored = array("f", fresh)
                    found[key] = stored
                    self._vectors[key] = stored
                    self._vectors.move_to_end(key)
                while len(self._vectors) > self.max_entries:
                    self._vectors.popitem(last=False)
        return [found[key].tolist() for key in keys]
