"""MemoryStore methods for the cognitive kinds' lifecycles.

The rules live in :mod:`~hive_middleware.memory.kinds` (pure, time injected);
these methods read what a rule needs, apply its answer in one commit and
return what changed. Write-time rules (slots, trigger and step checks,
conflict resolution) run in :mod:`~hive_middleware.memory.resolve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.cues import normalize_text
from hive_middleware.memory.kinds import (
    consolidate,
    effective_confidence,
    expired_sensory,
    lru_evictions,
    matching_prospective,
    record_use,
    sensory_expired,
    working_clear,
)
from hive_middleware.memory.records import namespace_has_prefix, new_record_id
from hive_middleware.memory.resolve import last_confirmed_ms, plan_write, working_slot_key
from hive_middleware.memory.writes import AddEdges, Expire, SetConfidence, SetMetadata, WriteOp
from hive_middleware.types import EdgeKind, MemoryKind, MemoryRecord

if TYPE_CHECKING:
    from hive_middleware.config import MemoryConfig
    from hive_middleware.memory.clock import HybridClock
    from hive_middleware.ports import GraphStore

__all__ = ["KindRulesMixin", "SweepResult"]


class _Store(Protocol):
    graph: GraphStore
    config: MemoryConfig
    clock: HybridClock
    _embed_queued: bool

    def _ns(self, namespace: Sequence[str] | None) -> tuple[str, ...]: ...

    def _commit(self, ops: Sequence[WriteOp]) -> tuple[MemoryRecord, ...]: ...

    def _resolve(self, ref: str, ns: tuple[str, ...]) -> MemoryRecord: ...


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What :meth:`KindRulesMixin.sweep` expired.

    Attributes:
        sensory_expired: Ids of sensory records past their TTL.
        evicted: Ids of least recently used records beyond the namespace limit.
    """

    sensory_expired: tuple[str, ...]
    evicted: tuple[str, ...]


def _now_ms(store: _Store, now: datetime | None) -> int:
    if now is None:
        return store.clock.now_ms()
    if now.tzinfo is None or now.utcoffset() is None:
        raise HiveValidationError(f"now={now.isoformat()} is naive; pass an aware datetime", field="now")
    return int(now.timestamp() * 1000)


@dataclass
class _ProspectiveIndex:
    """Prospective records of one tenant seen so far, and the stamp scanned up to."""

    stamp: int = -1
    records: dict[str, MemoryRecord] | None = None


class KindRulesMixin:
    """Kind lifecycles on :class:`~hive_middleware.memory.store.MemoryStore`."""

    def sensory_hidden(self: _Store, record: MemoryRecord, as_of_ms: int | None = None) -> bool:
        """Whether ``record`` is a sensory memory past its TTL (at ``as_of_ms``, default now).

        Search and recall hide such records even before :meth:`sweep` expires them.
        """
        if record.kind is not MemoryKind.SENSORY:
            return False
        now = self.clock.now_ms() if as_of_ms is None else as_of_ms
        return sensory_expired(record, now, self.config.sensory_ttl_s)

    def prospective_matches(
        self: _Store, content: str, *, namespace: Sequence[str] | None = None
    ) -> list[MemoryRecord]:
        """Current prospective memories of the namespace (and below) whose trigger ``content`` fires.

        Call it with each arriving message: reminders come back when their
        keywords or regex appear. Reads only records written since the last
        call, plus a batched status check of the known reminders.

        Args:
            content: The arriving text.
            namespace: Namespace prefix (default: the store's).

        Returns:
            The fired reminders, oldest first.
        """
        ns = self._ns(namespace)
        tenant = ns[0]
        cache: dict[str, _ProspectiveIndex] = self.__dict__.setdefault("_prospective_index", {})
        index = cache.setdefault(tenant, _ProspectiveIndex())
        known = index.records if index.records is not None else {}
        new_stamp = index.stamp
        for record in self.graph.scan(tenant, since=index.stamp if index.stamp >= 0 else None):
            new_stamp = max(new_stamp, record.recorded_at)
            if record.kind is MemoryKind.PROSPECTIVE:
                known[record.id] = record
        if known:
            # Expiry changes rows in place; refresh the known reminders' state.
            known = dict(self.graph.get(tenant, list(known)))
        index.records, index.stamp = known, new_stamp
        scoped = [r for r in known.values() if namespace_has_prefix(r.namespace, ns)]
        return matching_prospective(content, scoped)

    def end_task(self: _Store, task: str, *, namespace: Sequence[str] | None = None, reason: str | None = None) -> list[str]:
        """Clear ``task``'s working memory (its slots); returns the expired ids."""
        ns = self._ns(namespace)
        slots = [self.graph.current(ns, working_slot_key(task, i)) for i in range(self.config.working_slots)]
        ids = working_clear([r for r in slots if r is not None], task)
        if ids:
            self._commit([Expire(ns, reason or f"task {task!r} ended", record_ids=tuple(ids))])
        return ids

    def sweep(
        self: _Store, *, namespace: Sequence[str] | None = None, now: datetime | None = None
    ) -> SweepResult:
        """Expire sensory records past ``sensory_ttl_s`` and evict beyond ``max_records_per_namespace``.

        Reads every record of the tenant (a maintenance call, not a hot path).
        Nothing is deleted: both rules set ``expired_at`` with a reason.

        Args:
            namespace: Namespace prefix to sweep (default: the store's).
            now: The time to judge by (default: the store clock).
        """
        ns = self._ns(namespace)
        now_ms = _now_ms(self, now)
        records = [r for r in self.graph.scan(ns[0]) if namespace_has_prefix(r.namespace, ns)]
        stale = expired_sensory(records, now_ms, self.config.sensory_ttl_s)
        gone = set(stale)
        live = [r for r in records if r.id not in gone]
        evicted = lru_evictions(live, self.config.max_records_per_namespace)
        ops: list[WriteOp] = []
        if stale:
            ops.append(Expire(ns, f"sensory TTL of {self.config.sensory_ttl_s:g} s passed", record_ids=tuple(stale)))
        if evicted:
            limit = self.config.max_records_per_namespace
            ops.append(Expire(ns, f"evicted: least recently used beyond {limit} records", record_ids=tuple(evicted)))
        if ops:
            self._commit(ops)
        return SweepResult(tuple(stale), tuple(evicted))

    def consolidate(
        self: _Store, *, namespace: Sequence[str] | None = None, min_support: int = 1
    ) -> list[MemoryRecord]:
        """Turn the namespace's episodes into semantic facts linked ``derived_from`` them.

        Episodes stating the same entity/attribute cue are grouped; the latest
        value becomes (or supersedes) the fact keyed ``fact:<entity>:<attribute>``.
        Idempotent: a fact already current with the same value only gains the
        new episodes as sources and its agreement ratio as confidence.

        Returns:
            The facts written or refreshed.
        """
        ns = self._ns(namespace)
        tenant = ns[0]
        episodes = [r for r in self.graph.scan(tenant) if r.namespace == ns]
        ops: list[WriteOp] = []
        touched: list[str] = []
        now_ms = self.clock.now_ms()
        for fact in consolidate(episodes, min_support=min_support):
            metadata: dict[str, Any] = {
                "entity": fact.entity, "attribute": fact.attribute, "value": fact.value,
                "support": len(fact.derived_from),
            }
            current = self.graph.current(ns, fact.key)
            if current is not None and normalize_text(current.content) == normalize_text(fact.content):
                have = {e.dst for e in self.graph.edges(tenant, current.id)
                        if e.src == current.id and e.kind is EdgeKind.DERIVED_FROM}
                new_sources = [rid for rid in fact.derived_from if rid not in have]
                if new_sources:
                    ops.append(AddEdges(tenant, tuple((current.id, EdgeKind.DERIVED_FROM, rid) for rid in new_sources)))
                if new_sources or current.confidence != fact.confidence:
                    ops.append(SetConfidence(tenant, current.id, fact.confidence))
                    touched.append(current.id)
                continue
            record = MemoryRecord(
                id=new_record_id(), namespace=ns, kind=MemoryKind.SEMANTIC, content=fact.content, recorded_at=0,
                key=fact.key, metadata=metadata, confidence=fact.confidence, valid_from=fact.valid_from,
            )
            links = tuple((EdgeKind.DERIVED_FROM, rid) for rid in fact.derived_from)
            plan = plan_write(self.graph, self.config, record, links, embed=self._embed_queued, now_ms=now_ms)
            ops.extend(plan.ops)
            touched.append(plan.returns or plan.record.id)
        if not ops:
            return []
        self._commit(ops)
        found = self.graph.get(tenant, touched)
        return [found[rid] for rid in touched if rid in found]

    def confidence(
        self: _Store, key: str, *, namespace: Sequence[str] | None = None, now: datetime | None = None
    ) -> float:
        """Confidence of ``key`` (a key or record id) now: semantic records decay with
        ``semantic_half_life_days`` since they were written or last confirmed."""
        record = self._resolve(key, self._ns(namespace))
        confirmed = last_confirmed_ms(self.graph, record) if record.kind is MemoryKind.SEMANTIC else None
        return effective_confidence(record, _now_ms(self, now), self.config.semantic_half_life_days, confirmed)

    def use_procedure(
        self: _Store, key: str, *, namespace: Sequence[str] | None = None, now: datetime | None = None
    ) -> MemoryRecord:
        """Count one use of a procedural memory (``usage_count`` + 1, ``last_used_ms``).

        Raises:
            HiveNotFoundError: no such key or id.
            HiveValidationError: the record is not procedural.
        """
        record = self._resolve(key, self._ns(namespace))
        if record.kind is not MemoryKind.PROCEDURAL:
            raise HiveValidationError(
                f"{key!r} is a {record.kind.value} memory; use_procedure() counts procedural ones", field="key"
            )
        metadata = record_use(record.metadata, _now_ms(self, now))
        self._commit([SetMetadata(record.tenant, record.id, metadata)])
        return self.graph.get(record.tenant, [record.id])[record.id]

