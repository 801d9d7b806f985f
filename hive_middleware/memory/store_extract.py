"""Remembering what the optional LLM extractor finds in a conversation.

Off unless ``MemoryConfig.extractor_model`` is set (or an extractor is passed).
Each extracted fact is written as a semantic memory keyed
``fact:<entity>:<attribute>`` through the normal write path, so conflict
resolution confirms repeats and supersedes changed values; each relation is
written as a semantic memory ``source relation target`` linked ``related_to``
the facts of its two ends. One call makes at most ``extractor_max_calls`` model
calls.

:meth:`MemoryStore.remember_extracted <hive_middleware.memory.store.MemoryStore.remember_extracted>`
calls :func:`remember_extracted` with itself: this module works on any object
with the store's ``config``, namespace resolution and ``remember_many`` and never
imports :mod:`hive_middleware.memory.store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from hive_middleware.errors import HiveConfigError
from hive_middleware.memory.drafts import MemoryDraft
from hive_middleware.memory.extractor import Extraction, LLMExtractor
from hive_middleware.types import MemoryKind, MemoryRecord

if TYPE_CHECKING:
    from hive_middleware.config import MemoryConfig

__all__ = ["extraction_drafts", "remember_extracted"]


class _Store(Protocol):
    """What extraction needs of a memory store."""

    config: MemoryConfig

    def _ns(self, namespace: Sequence[str] | None) -> tuple[str, ...]: ...

    def remember_many(self, drafts: Iterable[MemoryDraft | Mapping[str, Any]]) -> list[MemoryRecord]: ...


def extraction_drafts(found: Extraction, namespace: tuple[str, ...], caused_by: tuple[str, ...]) -> list[MemoryDraft]:
    """The drafts an extraction writes: its facts first (keyed), then its relations.

    Args:
        found: What the extractor returned.
        namespace: Where the memories go.
        caused_by: Ids of records the facts come from (``caused_by`` edges).
    """
    drafts = [
        MemoryDraft(
            content=fact.content, key=fact.key, kind=MemoryKind.SEMANTIC, namespace=namespace, caused_by=caused_by,
            metadata={"entity": fact.entity, "attribute": fact.attribute, "value": fact.value,
                      "source": "llm-extractor"},
        )
        for fact in found.facts
    ]
    drafts += [
        MemoryDraft(
            content=f"{rel.source} {rel.relation.replace('_', ' ')} {rel.target}", kind=MemoryKind.SEMANTIC,
            namespace=namespace, caused_by=caused_by,
            metadata={"source_entity": rel.source, "relation": rel.relation, "target_entity": rel.target,
                      "source": "llm-extractor"},
        )
        for rel in found.relations
    ]
    return drafts


def remember_extracted(
    store: _Store,
    conversation: str | Sequence[Mapping[str, Any]],
    *,
    namespace: Sequence[str] | None = None,
    extractor: LLMExtractor | None = None,
    caused_by: Iterable[str] = (),
) -> tuple[list[MemoryRecord], Extraction]:
    """Extract facts and relations from ``conversation`` and remember them in ``store`` (one transaction).

    The body of :meth:`MemoryStore.remember_extracted` (arguments, returns and
    errors are documented there); ``store`` is the store written to.
    """
    chosen = extractor or LLMExtractor.from_config(store.config)
    if chosen is None:
        raise HiveConfigError(
            "no fact extractor: set memory.extractor_model (e.g. HIVE_MEMORY__EXTRACTOR_MODEL) "
            "or pass extractor=",
            key="extractor_model",
        )
    ns = store._ns(namespace)
    found = chosen.extract(conversation)
    drafts = extraction_drafts(found, ns, tuple(caused_by))
    return (store.remember_many(drafts) if drafts else []), found
