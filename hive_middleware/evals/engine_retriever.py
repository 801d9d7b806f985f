"""The memory engine as a :class:`~hive_middleware.evals.retrievers.Retriever`, for the memory evals.

``hive eval locomo`` and ``hive eval long-horizon`` find this module by name and
call :func:`make_retriever`. The retriever drives a real :class:`MemoryStore`
on the embedded defaults (SQLite graph + Chroma + packaged MiniLM) in the
evaluation's work directory:

* each eval namespace (one conversation) is its own tenant, so it has its own
  Chroma collection and keyword statistics;
* items are written exactly as the integrations write a conversation: the
  consecutive items that share a valid time (the turns of one session, or of
  one block without times) are one thread, read as user messages named by their
  speaker and handed to the product's ingestion function
  (:func:`hive_middleware.pipeline.conversation_items`) and its durable writer
  (:class:`hive_middleware.pipeline.MemoryWriter`). So each turn is an episodic
  memory with its valid time, its speaker as ``metadata["author"]``, the turn
  before it as ``metadata["context"]`` (embedded after the content and keyword-
  matched as a lesser field, so a reply such as "Sure, I can mail it" is found
  by what it answers) and a ``related_to`` link from the turn before it, which
  graph expansion follows to bring the turn before or after a strong hit.
  Items without a valid time get no context: nothing marks where one exchange
  ends and the next begins (on the long-horizon dialogue, whose meetings change
  topic every few turns, context from the previous turn cost one hit and one
  current-first answer);
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
from hive_middleware.memory.records import check_weights
from hive_middleware.memory.store import MemoryStore
from hive_middleware.pipeline import Identity, MemoryItem, MemoryWriter, conversation_items

if TYPE_CHECKING:
    from hive_middleware.evals.retrievers import RetrievalItem

__all__ = ["AblatedRetriever", "MemoryEngineRetriever", "make_retriever"]

_INDEX_TIMEOUT_S = 1800.0
_EVAL_AGENT = "eval"


def _sessions(items: Sequence[RetrievalItem]) -> list[list[RetrievalItem]]:
    """Consecutive items sharing a valid time: the threads of the conversation."""
    groups: list[list[RetrievalItem]] = []
    for item in items:
        if groups and groups[-1][0].valid_time == item.valid_time:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _index_of(memory_item: MemoryItem, group: Sequence[RetrievalItem]) -> int:
    # Turn keys end with the item id they were given as local id.
    local = memory_item.key.rsplit("/", 1)[-1]
    return next(i for i, item in enumerate(group) if _quoted(item.id) == local)


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


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
        """Remember ``items`` under tenant ``namespace`` as the integrations would, wait for the vectors."""
        if not items:
            return
        writer = MemoryWriter(self.store)
        item_of = self._item_of.setdefault(namespace, {})
        try:
            for session, group in enumerate(_sessions(items)):
                identity = Identity(namespace, _EVAL_AGENT, f"session-{session}")
                messages = [{"role": "user", "content": item.text} | ({"name": item.author} if item.author else {})
                            for item in group]
                dated = group[0].valid_time is not None
                memory_items = conversation_items(messages, identity, valid_from=group[0].valid_time,
                                                  context=dated, local_ids=[item.id for item in group])
                by_key = {m.key: m for m in memory_items}
                records = writer.write(memory_items)
                for memory_item, record in zip(memory_items, records, strict=True):
                    item_of.setdefault(record.id, group[_index_of(by_key[memory_item.key], group)].id)
        finally:
            writer.close()
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
