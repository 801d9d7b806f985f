"""From one new memory to graph-store write ops: kind rules, then conflict resolution.

:func:`plan_write` is what ``MemoryStore.remember`` runs before committing. It
reads the closest current records (the same key; the top keyword matches of the
same namespace and kind; earlier drafts of the same batch), asks
:func:`~hive_middleware.memory.conflicts.decide` what to do, and turns the
answer into ops that one transaction applies:

* ``ADD``: store the record (its key, if it has a current version, is superseded).
* ``UPDATE``: store it as the new version of the target: under the target's key
  when the target has one (the adapter closes the old version and links
  ``supersedes``), else by expiring the target and linking ``supersedes``.
* ``INVALIDATE``: expire the target (or supersede it, when it holds the same
  key) and store the negating statement with a ``contradicts`` edge to it.
* ``NOOP``: the duplicate is kept as an expired observation that confirms the
  target (``target --confirmed_by--> observation``) and the target's confidence
  rises (``remember`` returns the target).

A keyless semantic memory that states one entity/attribute cue ("Alice moved
to Berlin") is stored under the derived key ``fact:<entity>:<attribute>`` (the
key consolidation and the LLM extractor use too), so the slot's current value is
found by one indexed lookup, and an update supersedes it in the adapter's
transaction; a keyed target keeps its own key.

**Several agents, one memory.** ``MemoryConfig.conflict_scope`` widens the
comparison from the write's own namespace to every thread of its agent
(``agent``) or every agent of its tenant (``tenant``); never past the tenant,
since every read here names the tenant. Candidates of other namespaces come from
the tenant's keyword index (a keyed memory: those holding the same key, when its
own namespace holds none; events are compared in their own namespace only).
What :func:`~hive_middleware.memory.conflicts.decide` says about another
namespace's record:

* ``INVALIDATE`` (a contradiction: same key or slot, other value; or a
  negation): the other record is expired with a reason naming both writers and
  stays in history; the new record is stored in its own namespace with a
  ``contradicts`` edge to it whose metadata names both agents
  (:data:`AGENT_EDGE_KEY`, :data:`TARGET_AGENT_EDGE_KEY`, ``reason``), so
  ``why()`` shows the step from either side (:func:`agent_step`).
* ``UPDATE`` (a refinement): the same, with a ``supersedes`` edge.
* ``NOOP``: a confirmation. In the shared scopes a confirmation counts
  *agents*, not writes. The writing agent ``b`` (``namespace[1]``) raises the
  record's confidence once, by a noisy-OR of its trust-weighted confidence
  (:func:`agent_confirmed_confidence`)::

      c' = max(c, min(MAX_CONFIRMED_CONFIDENCE, 1 - (1 - c) * (1 - trust(b) * c_b)))

  where ``c`` is the record's current (decayed) confidence, ``c_b`` the
  confidence of ``b``'s write and ``trust(b)`` its ``MemoryConfig.agent_trust``
  weight; ``b`` is appended to the record's ``metadata["confirmed_by"]``
  (:data:`CONFIRMED_BY_KEY`). A write by the record's own agent, or by an agent
  already listed, confirms without raising it again. A write whose namespace
  names no agent cannot be told apart from another such write, so it raises
  the confidence by the repetition rule (``+confirm_delta``).

With the default ``conflict_scope="namespace"`` none of this applies: each
repetition in the namespace raises the confidence by ``confirm_delta``.

Kind rules applied here: prospective triggers and procedural steps are
validated; working memories without a key take one of
``MemoryConfig.working_slots`` slot keys of their task (``working:<task>:<i>``),
the oldest slot being superseded when all are taken. Keyed memories are compared
with their key's current version only. Events (episodic, sensory) are compared
by key only: reading keyword candidates for every event would cost each write a
search, and repeated events are not duplicates.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from hive_middleware.config import MemoryConfig
from hive_middleware.memory.clock import hlc_physical_ms
from hive_middleware.memory.conflicts import (
    EVENT_KINDS,
    NewMemory,
    WriteAction,
    WriteDecision,
    decide,
)
from hive_middleware.memory.cues import normalize_text, single_cue
from hive_middleware.memory.kinds import (
    STEPS_KEY,
    TASK_KEY,
    USAGE_COUNT_KEY,
    check_procedural,
    check_prospective,
    confirmed_confidence,
    effective_confidence,
)
from hive_middleware.memory.records import namespace_agent, namespace_has_prefix
from hive_middleware.memory.retrieval import agent_trust
from hive_middleware.memory.writes import AddEdges, Expire, PutRecord, SetConfidence, SetMetadata, WriteOp
from hive_middleware.ports import GraphStore
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

__all__ = [
    "AGENT_EDGE_KEY",
    "CONFIRMED_BY_KEY",
    "CONFIRMS_KEY",
    "DEFAULT_CANDIDATE_TERMS",
    "MAX_CONFIRMED_CONFIDENCE",
    "TARGET_AGENT_EDGE_KEY",
    "PendingWrites",
    "WritePlan",
    "agent_confirmed_confidence",
    "agent_step",
    "candidate_query",
    "conflict_scope",
    "last_confirmed_ms",
    "plan_write",
    "working_slot_key",
]

CONFIRMS_KEY = "confirms"
"""Metadata key of a confirming observation: the id of the record it confirms."""
CONFIRMED_BY_KEY = "confirmed_by"
"""Metadata key of a record confirmed by other agents: their names, in the order they confirmed."""
AGENT_EDGE_KEY = "agent"
"""Edge metadata key naming the agent whose write added a ``confirmed_by`` or ``contradicts`` edge
between two namespaces (``None`` for a namespace without an agent)."""
TARGET_AGENT_EDGE_KEY = "target_agent"
"""Edge metadata key naming the agent of the record that write confirmed or contradicted."""
MAX_CONFIRMED_CONFIDENCE = 0.99
"""Ceiling of a confidence raised by other agents' confirmations: agreement never makes a fact certain."""

_KEYWORD_OVERFETCH = 4  # keyword hits span namespaces, kinds and old versions; read more, keep the closest
DEFAULT_CANDIDATE_TERMS = 6
"""Words of a new memory used to look up conflict candidates (the cue's entity, then the longest)."""
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class WritePlan:
    """Ops for one new memory and what ``remember`` should return.

    Attributes:
        ops: The write ops, in order.
        record: The record the ops store (key or metadata may differ from the draft's).
        returns: ``None``: return the stored ``record``; else the id of the existing
            record the write confirmed.
        decision: The conflict decision, or ``None`` when resolution was off.
    """

    ops: tuple[WriteOp, ...]
    record: MemoryRecord
    returns: str | None
    decision: WriteDecision | None


class PendingWrites:
    """Records planned earlier in one batch, indexed so each new draft finds its
    possible conflicts (same key, same normalised content, same cue slot) in
    constant time instead of comparing with the whole batch."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[tuple[str, ...], str], MemoryRecord] = {}
        self._by_text: dict[tuple[tuple[str, ...], MemoryKind, str], MemoryRecord] = {}
        self._by_slot: dict[tuple[tuple[str, ...], MemoryKind, tuple[str, str]], MemoryRecord] = {}

    def add(self, record: MemoryRecord) -> None:
        """Remember a planned record (the latest one wins each index entry)."""
        if record.key is not None:
            self._by_key[(record.namespace, record.key)] = record
        if record.kind in EVENT_KINDS:
            return  # events are compared by key only; skipping the rest keeps batches fast
        self._by_text[(record.namespace, record.kind, normalize_text(record.content))] = record
        cue = single_cue(record.content)
        if cue is not None:
            self._by_slot[(record.namespace, record.kind, cue.slot)] = record

    def with_key(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """The planned record holding ``key`` in ``namespace``, if any."""
        return self._by_key.get((namespace, key))

    def candidates(self, record: MemoryRecord) -> list[MemoryRecord]:
        """Planned records that may conflict with ``record``."""
        found: dict[str, MemoryRecord] = {}
        if record.key is not None:
            held = self._by_key.get((record.namespace, record.key))
            if held is not None and held.kind is record.kind:
                found[held.id] = held
        if record.kind in EVENT_KINDS:
            return list(found.values())
        twin = self._by_text.get((record.namespace, record.kind, normalize_text(record.content)))
        if twin is not None:
            found[twin.id] = twin
        cue = single_cue(record.content)
        if cue is not None:
            same = self._by_slot.get((record.namespace, record.kind, cue.slot))
            if same is not None:
                found[same.id] = same
        return [r for r in found.values() if record.key is None or r.key == record.key]


def working_slot_key(task: str | None, slot: int) -> str:
    """The key of slot ``slot`` of ``task``'s working memory."""
    return f"working:{task if task is not None else '_'}:{slot}"


def last_confirmed_ms(graph: GraphStore, record: MemoryRecord) -> int | None:
    """Wall-clock ms of the newest ``confirmed_by`` edge out of ``record`` (``None``: never confirmed)."""
    stamps = [
        e.recorded_at for e in graph.edges(record.tenant, record.id)
        if e.src == record.id and e.kind is EdgeKind.CONFIRMED_BY
    ]
    return hlc_physical_ms(max(stamps)) if stamps else None


def conflict_scope(config: MemoryConfig, namespace: tuple[str, ...]) -> tuple[str, ...]:
    """The namespace prefix whose records a write in ``namespace`` is compared with
    (``MemoryConfig.conflict_scope``): the namespace itself, its agent's ``namespace[:2]``
    or its tenant's ``namespace[:1]``."""
    if config.conflict_scope == "tenant":
        return namespace[:1]
    if config.conflict_scope == "agent":
        return namespace[:2]
    return namespace


def agent_confirmed_confidence(
    current: float, confidence: float, trust: float, cap: float = MAX_CONFIRMED_CONFIDENCE
) -> float:
    """Confidence after one more agent confirms: a noisy-OR, never lowered, capped below 1.

    ``max(current, min(cap, 1 - (1 - current) * (1 - trust * confidence)))``: the
    fact is wrong only if it was wrong before *and* the new agent is wrong too,
    the new agent being right with its stated ``confidence`` scaled by ``trust``.
    """
    raised = 1.0 - (1.0 - current) * (1.0 - trust * confidence)
    return max(current, min(cap, raised))


def agent_step(edge: Edge, record_id: str) -> str | None:
    """The record ``why()`` reaches from ``record_id`` over a between-agents ``edge``, or ``None``.

    A ``confirmed_by`` edge leads from the record to the other agent's confirming
    observation; a ``contradicts`` edge is followed both ways, so the contradicted
    record shows who contradicted it and the contradicting one what it contradicted.
    Edges within one namespace (no :data:`AGENT_EDGE_KEY` in their metadata) are not steps.
    """
    if AGENT_EDGE_KEY not in edge.metadata:
        return None
    if edge.kind is EdgeKind.CONFIRMED_BY and edge.src == record_id:
        return edge.dst
    if edge.kind is EdgeKind.CONTRADICTS and record_id in (edge.src, edge.dst):
        return edge.dst if edge.src == record_id else edge.src
    return None


def _agent_edge_metadata(writer: tuple[str, ...], target: MemoryRecord, reason: str) -> dict[str, object]:
    return {AGENT_EDGE_KEY: namespace_agent(writer), TARGET_AGENT_EDGE_KEY: namespace_agent(target.namespace),
            "reason": reason}


def _confirmers(record: MemoryRecord) -> list[str]:
    held = record.metadata.get(CONFIRMED_BY_KEY)
    return [str(a) for a in held] if isinstance(held, list) else []


def _prepare(record: MemoryRecord) -> MemoryRecord:
    if record.kind is MemoryKind.PROSPECTIVE:
        return dataclasses.replace(record, metadata=check_prospective(record.metadata))
    if record.kind is MemoryKind.PROCEDURAL:
        metadata = dict(record.metadata)
        if STEPS_KEY in metadata:
            metadata = check_procedural(metadata)
        metadata.setdefault(USAGE_COUNT_KEY, 0)
        return dataclasses.replace(record, metadata=metadata)
    return record


def candidate_query(content: str) -> str:
    """The keyword query that finds a memory's conflict candidates.

    A duplicate or an update shares the entity and the rarer words; long words
    are rarer than short ones, and a short OR query keeps the lookup cheap.
    """
    words = list(dict.fromkeys(w.casefold() for w in _WORD.findall(content)))
    cue = single_cue(content)
    lead = [w for w in _WORD.findall(cue.entity)] if cue is not None else []
    ranked = sorted(words, key=lambda w: -len(w))
    return " ".join(list(dict.fromkeys(lead + ranked))[:DEFAULT_CANDIDATE_TERMS])


def _keyword_candidates(
    graph: GraphStore, record: MemoryRecord, k: int, scope: tuple[str, ...] | None = None
) -> list[MemoryRecord]:
    # scope None: the record's own namespace exactly; else every namespace under it.
    hits = graph.keyword_search(record.tenant, candidate_query(record.content), k * _KEYWORD_OVERFETCH)
    if not hits:
        return []
    found = graph.get(record.tenant, [rid for rid, _ in hits])
    close = [
        found[rid] for rid, _ in hits
        if rid in found and found[rid].expired_at is None and found[rid].kind is record.kind
        and (found[rid].namespace == record.namespace if scope is None else namespace_has_prefix(found[rid].namespace, scope))
        and (record.key is None or found[rid].key == record.key)
    ]
    return close[:k]


def _working_slots(
    graph: GraphStore, record: MemoryRecord, slots: int, pending: PendingWrites | None
) -> dict[str, MemoryRecord | None]:
    task = record.metadata.get(TASK_KEY)
    task = str(task) if task is not None else None
    out: dict[str, MemoryRecord | None] = {}
    for slot in range(slots):
        key = working_slot_key(task, slot)
        held = pending.with_key(record.namespace, key) if pending is not None else None
        out[key] = held or graph.current(record.namespace, key)
    return out


def plan_write(
    graph: GraphStore,
    config: MemoryConfig,
    record: MemoryRecord,
    links: tuple[tuple[EdgeKind, str], ...],
    *,
    embed: bool,
    now_ms: int,
    pending: PendingWrites | None = None,
) -> WritePlan:
    """Plan the ops that write ``record`` (see the module docstring).

    Args:
        graph: Where the closest current records are read from.
        config: Memory settings (``resolve_conflicts``, ``conflict_candidates``,
            ``working_slots``, ``semantic_half_life_days``).
        record: The validated new record (not yet stamped).
        links: Its outgoing ``caused_by``/``related_to`` links.
        embed: Queue the stored record for its vector.
        now_ms: Wall-clock ms, for confidence decay.
        pending: Records planned earlier in the same batch (they count as current);
            the caller adds each planned record to it.

    Raises:
        HiveValidationError: a prospective trigger or procedural steps are malformed.
    """
    record = _prepare(record)
    slots: dict[str, MemoryRecord | None] | None = None
    if record.kind is MemoryKind.WORKING and record.key is None:
        slots = _working_slots(graph, record, config.working_slots, pending)

    candidates: dict[str, MemoryRecord] = {}
    derived: str | None = None
    shared = config.conflict_scope != "namespace"
    scope = conflict_scope(config, record.namespace)
    if config.resolve_conflicts:
        if record.key is not None:
            current = graph.current(record.namespace, record.key)
            if current is not None:
                candidates[current.id] = current
            elif shared and record.kind not in EVENT_KINDS and config.conflict_candidates > 0:
                # Another agent may hold the same key (the same fact slot) in its own namespace.
                candidates.update(
                    {r.id: r for r in _keyword_candidates(graph, record, config.conflict_candidates, scope)}
                )
        elif record.kind is MemoryKind.SEMANTIC:
            cue = single_cue(record.content)
            derived = cue.fact_key if cue is not None else None
            if derived is not None:
                held = pending.with_key(record.namespace, derived) if pending is not None else None
                held = held or graph.current(record.namespace, derived)
                if held is not None:
                    candidates[held.id] = held
        if slots is not None:
            candidates.update({r.id: r for r in slots.values() if r is not None})
        elif record.key is None and not candidates and record.kind not in EVENT_KINDS and config.conflict_candidates > 0:
            # A keyed memory is compared with its key's current version only; a fact
            # whose slot is already held is decided against that holder.
            candidates.update({
                r.id: r
                for r in _keyword_candidates(graph, record, config.conflict_candidates, scope if shared else None)
            })
        if pending is not None:
            candidates.update({p.id: p for p in pending.candidates(record)})
    decision: WriteDecision | None = None
    if candidates:
        decision = decide(
            NewMemory(
                record.content, record.key, record.kind, record.namespace, record.valid_from,
                metadata=record.metadata, tags=record.tags, scope=scope if shared else None,
            ),
            list(candidates.values()),
        )
    if decision is not None and decision.op is WriteAction.NOOP and decision.target_id is not None:
        return _confirm(graph, config, record, links, candidates[decision.target_id], decision, now_ms, shared)

    target = candidates.get(decision.target_id) if decision is not None and decision.target_id else None
    reason = decision.reason if decision is not None and decision.op is not WriteAction.ADD else None
    if slots is not None and (target is None or target.key not in slots):
        # A new working memory: take a free slot of the task, else reuse the oldest one.
        free = [key for key, held in slots.items() if held is None]
        if free:
            record = dataclasses.replace(record, key=free[0])
        else:
            oldest = min((held for held in slots.values() if held is not None), key=lambda r: (r.recorded_at, r.id))
            record = dataclasses.replace(record, key=oldest.key)
            reason = f"working slot {oldest.key} reused: the oldest of {config.working_slots} slots"
        return WritePlan((PutRecord(record, supersede=True, links=links, reason=reason, embed=embed),), record, None, decision)

    if derived is not None:
        record = dataclasses.replace(record, key=derived)
    if decision is None or target is None or decision.op is WriteAction.ADD:
        return WritePlan((PutRecord(record, supersede=True, links=links, reason=reason, embed=embed),), record, None, decision)

    extra = EdgeKind.SUPERSEDES if decision.op is WriteAction.UPDATE else EdgeKind.CONTRADICTS
    same_slot = (
        target.key is not None
        and target.namespace == record.namespace
        and record.key in (None, target.key, derived)
    )
    ops: tuple[WriteOp, ...]
    if target.namespace != record.namespace:
        # Another writer's record: expire it and say so on an edge naming both agents.
        edge = AddEdges(
            target.tenant, ((record.id, extra, target.id),),
            metadata=_agent_edge_metadata(record.namespace, target, decision.reason),
        )
        ops = (
            Expire(record.namespace, decision.reason, record_ids=(target.id,)),
            PutRecord(record, supersede=True, links=links, reason=decision.reason, embed=embed),
            edge,
        )
    elif same_slot:
        record = dataclasses.replace(record, key=target.key)
        # The adapter closes the old version and links supersedes itself.
        new_links = links if extra is EdgeKind.SUPERSEDES else (*links, (extra, target.id))
        ops = (PutRecord(record, supersede=True, links=new_links, reason=reason, embed=embed),)
    else:
        ops = (
            Expire(record.namespace, reason or decision.reason, record_ids=(target.id,)),
            PutRecord(record, supersede=True, links=(*links, (extra, target.id)), reason=reason, embed=embed),
        )
    return WritePlan(ops, record, None, decision)


def _confirm(
    graph: GraphStore,
    config: MemoryConfig,
    record: MemoryRecord,
    links: tuple[tuple[EdgeKind, str], ...],
    target: MemoryRecord,
    decision: WriteDecision,
    now_ms: int,
    shared: bool = False,
) -> WritePlan:
    # The duplicate is kept as an observation (it carries its own time, metadata
    # and causes), expired at once so it never competes with the record it confirms.
    observation = dataclasses.replace(record, key=None, metadata={**record.metadata, CONFIRMS_KEY: target.id})
    if target.recorded_at == 0:
        current = target.confidence  # planned earlier in this batch: not stamped, not aged
    else:
        confirmed_at = last_confirmed_ms(graph, target) if target.kind is MemoryKind.SEMANTIC else None
        current = effective_confidence(target, now_ms, config.semantic_half_life_days, confirmed_at)
    writer = namespace_agent(record.namespace)
    edge_metadata: dict[str, object] = {}
    if target.namespace != record.namespace:
        edge_metadata = _agent_edge_metadata(record.namespace, target, decision.reason)
    updates: tuple[WriteOp, ...]
    if not shared or writer is None:
        updates = (SetConfidence(target.tenant, target.id, confirmed_confidence(current, decision.confidence_delta)),)
    elif writer == namespace_agent(target.namespace) or writer in _confirmers(target):
        # The same agent again: confirmed (the edge restarts decay) but not raised.
        updates = (SetConfidence(target.tenant, target.id, current),)
    else:
        raised = agent_confirmed_confidence(current, record.confidence, agent_trust(config, record.namespace))
        updates = (
            SetConfidence(target.tenant, target.id, raised),
            SetMetadata(target.tenant, target.id, {**target.metadata, CONFIRMED_BY_KEY: [*_confirmers(target), writer]}),
        )
    ops: tuple[WriteOp, ...] = (
        PutRecord(observation, supersede=False, links=links, reason=f"confirms {target.id}", embed=False),
        Expire(record.namespace, decision.reason, record_ids=(observation.id,)),
        AddEdges(target.tenant, ((target.id, EdgeKind.CONFIRMED_BY, observation.id),), metadata=edge_metadata),
        *updates,
    )
    return WritePlan(ops, observation, target.id, decision)
