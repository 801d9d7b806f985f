"""Conflict resolution without an LLM: ADD, UPDATE, INVALIDATE or NOOP.

Given a memory about to be written and the closest *current* records of its
namespace (same key, plus the top keyword/fuzzy candidates), :func:`decide`
says what the write should do. It is pure: no I/O, no clock, no randomness; the
same inputs always give the same decision, whatever the order of the
candidates (ties are broken by record id).

Rules, first match wins (``norm`` is :func:`~hive_middleware.memory.cues.normalize_text`;
a candidate is *comparable* when it has the same kind and, if the new memory has
a key, the same key — an explicit different key means a different memory):

1. **Same key.** A comparable candidate with the new key (the newest if several):
   exactly the same content, metadata, tags and ``valid_from`` (those the new
   memory gives) -> ``NOOP`` (confirm it); a negated statement whose positive
   form matches it -> ``INVALIDATE`` it; anything else -> ``UPDATE`` (supersede
   it). A keyed write is the caller setting a value, so any change, even of
   case or of metadata only, makes a new version.
2. **Identical content.** A comparable candidate whose ``norm`` equals the new
   one -> ``NOOP`` (confirm it). For event kinds (episodic, sensory) the two must
   also share ``valid_from``: the same words at another time are another event.
3. **Event kinds stop here** -> ``ADD``. Episodes are never merged by fuzzy
   likeness or cues; consolidation turns them into facts later.
4. **Negation.** A negated cue ("X no longer works at Y", "X's email is not Z
   anymore") invalidates the candidate stating the positive fact: same
   entity/attribute and a value with ``fuzz.ratio >=``
   :data:`DEFAULT_VALUE_MATCH`, or whole content with ``token_set_ratio >=``
   :data:`DEFAULT_NEGATION_MATCH` -> ``INVALIDATE``. Nothing to invalidate -> ``ADD``.
5. **Cue slot.** New and candidate each state one cue with the same
   ``(entity, attribute)``: the same value -> ``NOOP`` (confirm); another value ->
   ``UPDATE`` (supersede the candidate: "Alice moved to Berlin" after "Alice
   lives in Paris").
6. **Near duplicate.** ``max(fuzz.ratio, fuzz.token_sort_ratio) >=``
   :data:`DEFAULT_DUPLICATE_RATIO` on ``norm`` *and* the same salient tokens
   (numbers, e-mails, paths: anything with a digit, ``@``, ``/`` or ``.`` inside)
   -> ``NOOP`` (confirm). The salient-token check keeps "room 12" from
   confirming "room 21".
7. **Refinement.** The candidate's tokens are a strict subset of the new
   tokens, it has at least :data:`DEFAULT_MIN_REFINE_TOKENS` tokens and covers
   at least :data:`DEFAULT_REFINE_COVERAGE` of the new tokens -> ``UPDATE``
   (the new memory says the same and more).
8. Otherwise -> ``ADD``.

``NOOP`` carries ``confidence_delta=`` :data:`DEFAULT_CONFIRM_DELTA`: the store
adds a ``confirmed_by`` edge to the confirmed record and raises its confidence
(capped at 1).

**Between namespaces** (agents sharing a tenant). With a ``NewMemory.scope`` (a
namespace prefix, from ``MemoryConfig.conflict_scope``), records of every
namespace under the scope are comparable. The rules run first on the
records of the memory's own namespace; only when they say ``ADD`` do they run
on the whole scope. A decision about a record of another namespace names both
writers in its reason (``agent 'b' ... agent 'a'``), and a changed value is a
*contradiction*, never a silent overwrite: an ``UPDATE`` by rule 1 (same key,
other content) or rule 5 (same slot, other value) becomes ``INVALIDATE`` (the
other agent's record is closed, stays in history, and the new one
``contradicts`` it). A refinement (rule 7) stays an ``UPDATE``; a ``NOOP`` is a
confirmation by another agent (see :mod:`hive_middleware.memory.resolve`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from rapidfuzz import fuzz

from hive_middleware.memory.cues import Cue, normalize_text, positive_form, single_cue
from hive_middleware.memory.records import namespace_agent, namespace_has_prefix
from hive_middleware.types import MemoryKind

__all__ = [
    "DEFAULT_CONFIRM_DELTA",
    "DEFAULT_DUPLICATE_RATIO",
    "DEFAULT_MIN_REFINE_TOKENS",
    "DEFAULT_NEGATION_MATCH",
    "DEFAULT_REFINE_COVERAGE",
    "DEFAULT_VALUE_MATCH",
    "EVENT_KINDS",
    "Candidate",
    "ConflictPolicy",
    "NewMemory",
    "WriteAction",
    "WriteDecision",
    "decide",
    "writer_name",
]

DEFAULT_DUPLICATE_RATIO = 95.0
"""rapidfuzz score (0-100) at or above which two contents say the same thing."""
DEFAULT_NEGATION_MATCH = 85.0
"""token_set_ratio between a negation's positive form and a record that it invalidates."""
DEFAULT_VALUE_MATCH = 90.0
"""fuzz.ratio between two cue values that count as the same value."""
DEFAULT_MIN_REFINE_TOKENS = 3
"""A record needs this many tokens before a superset of it may supersede it."""
DEFAULT_REFINE_COVERAGE = 0.5
"""Fraction of the new memory's tokens the old record must cover to be refined by it."""
DEFAULT_CONFIRM_DELTA = 0.1
"""Confidence added to a record each time a duplicate confirms it (capped at 1)."""

EVENT_KINDS: frozenset[MemoryKind] = frozenset({MemoryKind.EPISODIC, MemoryKind.SENSORY})
"""Kinds whose records are events: deduplicated only when identical at the same time."""

_TOKEN = re.compile(r"[\w@./:+-]+")
_SALIENT = re.compile(r"[\d@/]|\w\.\w")


class WriteAction(StrEnum):
    """What a write does to the store."""

    ADD = "add"
    """Store the new memory as a new record."""
    UPDATE = "update"
    """Store the new memory as a new version superseding ``target_id``."""
    INVALIDATE = "invalidate"
    """Close ``target_id``'s validity; the new statement is stored and ``contradicts`` it."""
    NOOP = "noop"
    """Store nothing new; confirm ``target_id`` (``confirmed_by`` edge, confidence up)."""


@dataclass(frozen=True, slots=True)
class WriteDecision:
    """The outcome of :func:`decide`.

    Attributes:
        op: What to do.
        target_id: The existing record updated, invalidated or confirmed (``None`` for ADD).
        reason: Which rule fired and why, for provenance (``history``/``why``).
        confidence_delta: Confidence to add to the target (NOOP only).
        score: The similarity (0-100) that decided, when one did.
    """

    op: WriteAction
    target_id: str | None
    reason: str
    confidence_delta: float = 0.0
    score: float | None = None


class Candidate(Protocol):
    """What :func:`decide` reads from an existing record (a MemoryRecord fits)."""

    @property
    def id(self) -> str:
        """The record id."""
        ...

    @property
    def content(self) -> str:
        """The record text."""
        ...

    @property
    def key(self) -> str | None:
        """The record's stable key, if any."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The record's metadata."""
        ...


@dataclass(frozen=True, slots=True)
class NewMemory:
    """The memory about to be written.

    Attributes:
        content: Its text.
        key: Its stable key, if any.
        kind: Its cognitive kind.
        namespace: Its namespace; candidates from another namespace are ignored.
        valid_from: World time it became true (events use it to tell repeats apart).
        metadata: Its metadata (``None``: not compared).
        tags: Its tags (``None``: not compared).
        scope: Namespace prefix whose records (its own and those below it) are
            comparable (``None``: exactly ``namespace``); e.g. ``namespace[:1]``
            compares with every agent of the tenant.
    """

    content: str
    key: str | None = None
    kind: MemoryKind = MemoryKind.SEMANTIC
    namespace: tuple[str, ...] = ()
    valid_from: datetime | None = None
    metadata: Mapping[str, Any] | None = None
    tags: tuple[str, ...] | None = None
    scope: tuple[str, ...] | None = None

    @property
    def shared(self) -> bool:
        """Whether records of other namespaces are comparable (a ``scope`` is set)."""
        return self.scope is not None


@dataclass(frozen=True, slots=True)
class ConflictPolicy:
    """Thresholds of :func:`decide`; the defaults are the ``DEFAULT_*`` constants."""

    duplicate_ratio: float = DEFAULT_DUPLICATE_RATIO
    negation_match: float = DEFAULT_NEGATION_MATCH
    value_match: float = DEFAULT_VALUE_MATCH
    min_refine_tokens: int = DEFAULT_MIN_REFINE_TOKENS
    refine_coverage: float = DEFAULT_REFINE_COVERAGE
    confirm_delta: float = DEFAULT_CONFIRM_DELTA
    event_kinds: frozenset[MemoryKind] = field(default=EVENT_KINDS)


_DEFAULT_POLICY = ConflictPolicy()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A candidate with its derived forms computed once."""

    record: Candidate
    norm: str
    tokens: frozenset[str]
    salient: tuple[str, ...]
    cue: Cue | None
    recorded_at: int


@lru_cache(maxsize=16_384)
def _tokens(norm: str) -> tuple[str, ...]:
    return tuple(t.strip(".:") for t in _TOKEN.findall(norm) if t.strip(".:"))


def _salient(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(t for t in tokens if _SALIENT.search(t)))


@lru_cache(maxsize=16_384)
def _features(content: str) -> tuple[str, frozenset[str], tuple[str, ...], Cue | None]:
    # The same records are candidates for many writes; derive their forms once.
    norm = normalize_text(content)
    tokens = _tokens(norm)
    return norm, frozenset(tokens), _salient(tokens), single_cue(content)


def _prepare(record: Candidate) -> _Prepared:
    norm, tokens, salient, cue = _features(record.content)
    recorded_at = getattr(record, "recorded_at", 0)
    return _Prepared(
        record=record,
        norm=norm,
        tokens=tokens,
        salient=salient,
        cue=cue,
        recorded_at=recorded_at if isinstance(recorded_at, int) else 0,
    )


def _comparable(new: NewMemory, record: Candidate) -> bool:
    kind = getattr(record, "kind", None)
    if kind is not None and MemoryKind(kind) != new.kind:
        return False
    namespace = getattr(record, "namespace", None)
    if new.namespace and namespace is not None:
        if new.shared:
            assert new.scope is not None
            if not namespace_has_prefix(namespace, new.scope):
                return False
        elif tuple(namespace) != new.namespace:
            return False
    if getattr(record, "expired_at", None) is not None:
        return False
    return new.key is None or record.key == new.key


def _similarity(a: str, b: str) -> float:
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b))


def _best(scored: Iterable[tuple[float, _Prepared]]) -> tuple[float, _Prepared] | None:
    # Highest score wins; ties go to the smallest id so candidate order never matters.
    best: tuple[float, _Prepared] | None = None
    for score, prep in scored:
        if best is None or score > best[0] or (score == best[0] and prep.record.id < best[1].record.id):
            best = (score, prep)
    return best


def _same_value(a: str, b: str, policy: ConflictPolicy) -> bool:
    return a == b or (_salient(_tokens(a)) == _salient(_tokens(b)) and fuzz.ratio(a, b) >= policy.value_match)


def _negation_target(
    new_cue: Cue, positive: str, comparable: Sequence[_Prepared], policy: ConflictPolicy
) -> tuple[float, _Prepared] | None:
    scored: list[tuple[float, _Prepared]] = []
    for prep in comparable:
        if prep.cue is not None and prep.cue.negated:
            continue
        if (
            prep.cue is not None
            and new_cue.attribute != "*"
            and prep.cue.slot == new_cue.slot
            and _same_value(prep.cue.value, new_cue.value, policy)
        ):
            scored.append((100.0, prep))
            continue
        score = float(fuzz.token_set_ratio(positive, prep.norm))
        if score >= policy.negation_match and _salient(_tokens(positive)) == prep.salient:
            scored.append((score, prep))
    return _best(scored)


def _is_duplicate(norm: str, salient: tuple[str, ...], prep: _Prepared, policy: ConflictPolicy) -> float | None:
    if salient != prep.salient:
        return None
    score = _similarity(norm, prep.norm)
    return score if score >= policy.duplicate_ratio else None


def _same_value_set(new: NewMemory, record: Candidate) -> bool:
    """Whether a keyed write would store exactly what ``record`` already holds."""
    if new.content.strip() != record.content.strip():
        return False
    if new.metadata is not None and dict(new.metadata) != dict(record.metadata):
        return False
    if new.tags is not None and tuple(new.tags) != tuple(getattr(record, "tags", ()) or ()):
        return False
    return new.valid_from is None or getattr(record, "valid_from", None) == new.valid_from


def _newest(preps: Sequence[_Prepared]) -> _Prepared:
    # Newest recorded first; the smallest id breaks ties so the choice is order-independent.
    return min(preps, key=lambda p: (-p.recorded_at, p.record.id))


def decide(
    new: NewMemory, candidates: Iterable[Candidate], *, policy: ConflictPolicy = _DEFAULT_POLICY
) -> WriteDecision:
    """Decide what writing ``new`` should do given the closest current records.

    Args:
        new: The memory about to be written.
        candidates: Current records of the same namespace (same key and the top
            keyword/fuzzy matches); records of another kind or namespace, or
            already expired, are ignored.
        policy: Thresholds; defaults to the ``DEFAULT_*`` constants.

    Returns:
        A :class:`WriteDecision`. Pure and deterministic; independent of the
        order of ``candidates``.
    """
    comparable = [_prepare(c) for c in candidates if _comparable(new, c)]
    if not new.shared:
        return _decide(new, comparable, policy)
    own = [p for p in comparable if tuple(getattr(p.record, "namespace", new.namespace)) == new.namespace]
    decision = _decide(new, own, policy)
    if decision.op is not WriteAction.ADD or len(own) == len(comparable):
        return decision
    decision = _decide(new, comparable, policy)
    target = next((p.record for p in comparable if p.record.id == decision.target_id), None)
    namespace = tuple(getattr(target, "namespace", new.namespace))
    if target is None or namespace == new.namespace:
        return decision
    return _between_writers(decision, new.namespace, namespace)


def writer_name(namespace: Sequence[str]) -> str:
    """How a reason names who wrote in ``namespace``: ``agent 'x'``, or ``tenant 't'`` without an agent."""
    agent = namespace_agent(namespace)
    return f"agent {agent!r}" if agent is not None else f"tenant {namespace[0]!r}"


def _between_writers(decision: WriteDecision, new_ns: tuple[str, ...], old_ns: tuple[str, ...]) -> WriteDecision:
    # A decision about another writer's record names both; a changed value is a contradiction.
    new_who, old_who = writer_name(new_ns), writer_name(old_ns)
    if new_who == old_who:  # the same agent on another thread
        new_who, old_who = f"{new_who} (thread {'/'.join(new_ns[2:])!r})", f"{old_who} (thread {'/'.join(old_ns[2:])!r})"
    if decision.op is WriteAction.NOOP:
        return dataclasses.replace(decision, reason=f"{new_who} confirms {old_who}: {decision.reason}")
    if decision.op is WriteAction.UPDATE and decision.reason != _REFINE_REASON:
        return dataclasses.replace(
            decision, op=WriteAction.INVALIDATE, reason=f"{new_who} contradicts {old_who}: {decision.reason}"
        )
    verb = "contradicts" if decision.op is WriteAction.INVALIDATE else "refines"
    return dataclasses.replace(decision, reason=f"{new_who} {verb} {old_who}: {decision.reason}")


_REFINE_REASON = "refines an existing record with more detail: superseded"


def _decide(new: NewMemory, comparable: Sequence[_Prepared], policy: ConflictPolicy) -> WriteDecision:
    norm = normalize_text(new.content)
    new_tokens = _tokens(norm)
    salient = _salient(new_tokens)
    positive = positive_form(new.content)
    new_cue = single_cue(new.content)

    # 1. Same key.
    if new.key is not None:
        same_key = [p for p in comparable if p.record.key == new.key]
        if same_key:
            # A key has one current version; if several slipped in, prefer the one that agrees.
            twins = [p for p in same_key if _same_value_set(new, p.record)]
            if twins:
                target = min(twins, key=lambda p: p.record.id)
                return WriteDecision(
                    WriteAction.NOOP, target.record.id, f"same key {new.key!r} and same content: confirmed",
                    policy.confirm_delta, 100.0,
                )
            target = _newest(same_key)
            if positive is not None and new_cue is not None and new_cue.negated:
                hit = _negation_target(new_cue, positive, [target], policy)
                if hit is not None:
                    return WriteDecision(
                        WriteAction.INVALIDATE, target.record.id,
                        f"same key {new.key!r}; negation of its content", 0.0, hit[0],
                    )
            return WriteDecision(
                WriteAction.UPDATE, target.record.id, f"same key {new.key!r} with new content: superseded",
                0.0, _similarity(norm, target.norm),
            )

    # 2. Identical content.
    event = new.kind in policy.event_kinds
    identical = [
        p for p in comparable
        if p.norm == norm and (not event or getattr(p.record, "valid_from", None) == new.valid_from)
    ]
    if identical:
        target = min(identical, key=lambda p: p.record.id)
        return WriteDecision(
            WriteAction.NOOP, target.record.id, "identical content: confirmed", policy.confirm_delta, 100.0
        )

    # 3. Events are never merged by likeness.
    if event:
        return WriteDecision(WriteAction.ADD, None, f"new {new.kind.value} event")

    # 4. Negation.
    if new_cue is not None and new_cue.negated:
        hit = _negation_target(new_cue, positive or new_cue.value, comparable, policy)
        if hit is not None:
            return WriteDecision(
                WriteAction.INVALIDATE, hit[1].record.id,
                f"negates {new_cue.entity}/{new_cue.attribute}: invalidated", 0.0, hit[0],
            )
        return WriteDecision(WriteAction.ADD, None, "negated statement with nothing current to invalidate")

    # 5. Same entity/attribute slot.
    if new_cue is not None:
        same_slot = [p for p in comparable if p.cue is not None and not p.cue.negated and p.cue.slot == new_cue.slot]
        agreeing = [p for p in same_slot if _same_value(p.cue.value, new_cue.value, policy)]  # type: ignore[union-attr]
        if agreeing:
            target = min(agreeing, key=lambda p: p.record.id)
            return WriteDecision(
                WriteAction.NOOP, target.record.id,
                f"same {new_cue.entity}/{new_cue.attribute} = {new_cue.value!r}: confirmed",
                policy.confirm_delta, 100.0,
            )
        if same_slot:
            target = _newest(same_slot)
            return WriteDecision(
                WriteAction.UPDATE, target.record.id,
                f"{new_cue.entity}/{new_cue.attribute} changed from {target.cue.value!r} "  # type: ignore[union-attr]
                f"to {new_cue.value!r}: superseded",
                0.0, _similarity(norm, target.norm),
            )

    # 6. Near duplicate.
    dup_hit = _best(
        (score, p) for p in comparable if (score := _is_duplicate(norm, salient, p, policy)) is not None
    )
    if dup_hit is not None:
        return WriteDecision(
            WriteAction.NOOP, dup_hit[1].record.id, f"near duplicate (score {dup_hit[0]:.1f}): confirmed",
            policy.confirm_delta, dup_hit[0],
        )

    # 7. Refinement: the new memory says the same and more.
    new_set = frozenset(new_tokens)
    refine_hit = _best(
        (len(p.tokens) / len(new_set), p)
        for p in comparable
        if len(p.tokens) >= policy.min_refine_tokens
        and p.tokens < new_set
        and len(p.tokens) / len(new_set) >= policy.refine_coverage
    )
    if refine_hit is not None:
        return WriteDecision(
            WriteAction.UPDATE, refine_hit[1].record.id, _REFINE_REASON, 0.0, 100.0 * refine_hit[0],
        )

    return WriteDecision(WriteAction.ADD, None, "no current record says the same thing")
