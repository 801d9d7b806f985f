"""Concurrent query embeddings ride one forward pass.

A search embeds its query on the request path. Alone, one text takes the
embedder's one-text path; under load, many searches want a vector at once and
one padded batch is far cheaper per text (all-MiniLM-L6-v2 on one CPU thread,
measured: ~8 ms for one query, ~3.5 ms each in a batch of 8). :class:`QueryBatcher`
gathers them without a thread of its own and without waiting on a timer: the
first caller to find the embedder idle leads, embedding every query waiting at
that moment (up to ``max_batch``) in one call; the others wait for their vector,
and one of those still waiting leads the next batch. A caller alone pays
nothing extra; under load the batch grows by itself to what arrived during the
previous pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hive_middleware.errors import HiveUsageError

__all__ = ["QueryBatcher"]

EmbedFn = Callable[[Sequence[str]], list[list[float]]]


@dataclass
class _Slot:
    text: str
    vector: list[float] | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class QueryBatcher:
    """Embeds concurrent one-text requests in shared batches.

    Args:
        embed: The batch embedding call (an :class:`~hive_middleware.ports.Embedder`'s ``embed``).
        max_batch: Most texts per call.

    Raises:
        HiveUsageError: ``max_batch`` below 1.
    """

    def __init__(self, embed: EmbedFn, *, max_batch: int = 32) -> None:
        if max_batch < 1:
            raise HiveUsageError(f"max_batch must be at least 1, got {max_batch}")
        self._embed = embed
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._waiting: list[_Slot] = []
        self._leading = False
        self.batches = 0
        """Embedding calls made (for tests and metrics)."""
        self.texts = 0
        """Texts embedded through those calls."""

    def embed(self, text: str) -> list[float]:
        """The vector of ``text``, embedded alone or alongside concurrent callers' texts.

        Raises:
            Whatever the embedder raised for the batch ``text`` rode in.
        """
        slot = _Slot(text)
        with self._cond:
            self._waiting.append(slot)
            while not slot.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        assert slot.vector is not None
        return slot.vector

    def _run(self, batch: list[_Slot]) -> None:
        try:
            vectors = self._embed([slot.text for slot in batch])
            if len(vectors) != len(batch):
                raise HiveUsageError(f"the embedder returned {len(vectors)} vectors for {len(batch)} texts")
        except BaseException as exc:  # every rider of the batch sees the failure
            for slot in batch:
                slot.error, slot.done = exc, True
            return
        self.batches += 1
        self.texts += len(batch)
        for slot, vector in zip(batch, vectors, strict=True):
            slot.vector, slot.done = vector, True
