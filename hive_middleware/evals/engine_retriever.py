"""The memory engine as a :class:`~hive_middleware.evals.retrievers.Retriever`, for the memory evals.

``hive eval locomo`` and ``hive eval long-horizon`` find this module by name and
call :func:`make_retriever`. The retriever drives a real :class:`MemoryStore`
on the embedded defaults (SQLite graph + Chroma + packaged MiniLM) in the
evaluation's work directory:

* each eval namespace (one conversation) is its own tenant, so it has its own
  Chroma collection and keyword statistics;
* each item is remembered as an episodic memory with its valid time, its
  speaker as ``metadata["author"]`` and, within a dated session, the turn
  before it as ``metadata["context"]`` (embedded after the content and keyword-
  matched as a lesser field, so a reply such as "Sure, I can mail it" is found
  by what it answers), in one
  ``remember_many`` per ingest call. Items without a valid time get no
  context: nothing marks where one exchange ends and the next begins (on the
  long-horizon dialogue, whose meetings change topic every few turns, context
  from the previous turn cost one hit and one current-first answer);
* consecutive items that share a valid time (the turns of one session, or of one
  block without times) are linked ``related_to``, which is what graph expansion
  follows to bring the turn before or after a strong hit;
* ``ingest`` returns once every vector is indexed, so searches see all signals;
* ``search`` is :meth:`MemoryStore.search` with the store's configured weights:
  nothing here reads answers, evidence or ground-truth facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveStorageError
from hive_middleware.memory.records import MAX_CONTEXT_CHARS, check_weights
from hive_middleware.memory.store import MemoryDraft, MemoryStore
from hive_middleware.memory.writes import AddEdges
from hive_middleware.types import EdgeKind, MemoryKind

if TYPE_CHECKING:
    from hive_middleware.evals.retrievers import RetrievalItem

__all__ = ["AblatedRetriever", "MemoryEngineRetriever", "make_retriever"]

_INDEX_TIMEOUT_S = 1800.0


class MemoryEngineRetriever:
    """A :class:`~hive_middleware.evals.retrievers.Retriever` over a :class:`MemoryStore`.

    Args:
        store: The store to drive (it is closed by :meth:`close`).
    """

    name = "hive-memory"

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._item_of: dict[str, dict[str, str]] = {}

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        """Remember ``items`` under tenant ``namespace``, link neighbours, wait for the vectors."""
        if not items:
            return
        ns = (namespace,)
        drafts = []
        for prev, item in zip((None, *items), items, strict=False):
            metadata: dict[str, str] = {"item_id": item.id}
            if item.author:
                metadata["author"] = item.author
            if prev is not None and prev.valid_time is not None and prev.valid_time == item.valid_time:
                metadata["context"] = prev.text[:MAX_CONTEXT_CHARS]
            drafts.append(
                MemoryDraft(
                    content=item.text,
                    kind=MemoryKind.EPISODIC,
                    namespace=ns,
                    valid_from=item.valid_time,
                    metadata=metadata,
                )
            )
        records = self.store.remember_many(drafts)
        item_of = self._item_of.setdefault(namespace, {})
        for item, record in zip(items, records, strict=True):
            item_of.setdefault(record.id, item.id)
        edges = tuple(
            (prev_rec.id, EdgeKind.RELATED_TO, rec.id)
            for prev_item, item, prev_rec, rec in zip(items, items[1:], records, records[1:], strict=False)
            if prev_item.valid_time == item.valid_time and prev_rec.id != rec.id
        )
        if edges:
            self.store.graph.commit([AddEdges(namespace, edges)], self.store.clock)
        if not self.store.wait_indexed(_INDEX_TIMEOUT_S):
            raise HiveStorageError(
                f"embedding {len(items)} items of {namespace!r} did not finish in {_INDEX_TIMEOUT_S:.0f} s",
                namespace=namespace,
            )

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        """Item ids of the ``k`` best memories of ``namespace`` for ``query``, best first."""
        return self._search(namespace, query, k, None)

    def _search(self, namespace: str, query: str, k: int, weights: dict[str, float] | None) -> list[str]:
        item_of = self._item_of.get(namespace)
        if not item_of or not query.strip():
            return []
        hits = self.store.search(query, k=k, namespace=(namespace,), weights=weights)
        return [item_of[h.record.id] for h in hits if h.record.id in item_of]

    def without(self, *signals: str) -> AblatedRetriever:
        """The same store searched with ``signals`` switched off (``records.SEARCH_SIGNALS``).

        The variant does not ingest: evaluate it after this retriever, on the same data.
        """
        return AblatedRetriever(self, check_weights(dict.fromkeys(signals, 0.0)))

    def close(self) -> None:
        """Close the store."""
        self.store.close()


class AblatedRetriever:
    """A :class:`MemoryEngineRetriever`'s store searched with some signals switched off.

    ``ingest`` does nothing (the parent already holds the data); ``close`` leaves
    the parent's store open.
    """

    def __init__(self, parent: MemoryEngineRetriever, weights: dict[str, float]) -> None:
        self.parent = parent
        self.signals = tuple(weights)
        self.name = f"{parent.name} without {'+'.join(self.signals)}"
        self._weights = weights

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        """Nothing to do: the parent retriever ingested the same items."""

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        """As the parent, with the ablated signals' weights at 0."""
        return self.parent._search(namespace, query, k, self._weights)

    def close(self) -> None:
        """The parent owns the store."""


def make_retriever(workdir: Path) -> MemoryEngineRetriever:
    """Open a memory store in ``workdir`` with the configured memory settings (embedded defaults)."""
    config = HiveConfig.load()
    return MemoryEngineRetriever(MemoryStore.open(Path(workdir), config=config, namespace=("eval",)))
