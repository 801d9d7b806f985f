"""Retention rules of the cognitive kinds (pure, time injected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import LOGICAL_BITS
from hive_middleware.memory.kinds import (
    LAST_USED_KEY,
    Trigger,
    check_procedural,
    check_prospective,
    confirmed_confidence,
    consolidate,
    decayed_confidence,
    effective_confidence,
    expired_sensory,
    lru_evictions,
    matching_prospective,
    parse_trigger,
    record_use,
    sensory_expired,
    working_clear,
    working_evictions,
)
from hive_middleware.types import MemoryKind, MemoryRecord

NS = ("acme", "agent")
DAY_MS = 86_400_000
T0 = 1_700_000_000_000  # wall-clock ms


def rec(
    rid: str,
    content: str = "x",
    *,
    kind: MemoryKind = MemoryKind.SEMANTIC,
    at_ms: int = T0,
    logical: int = 0,
    metadata: dict[str, Any] | None = None,
    valid_from: datetime | None = None,
    expired_at: int | None = None,
    confidence: float = 1.0,
    namespace: tuple[str, ...] = NS,
) -> MemoryRecord:
    return MemoryRecord(
        id=rid, namespace=namespace, kind=kind, content=content, recorded_at=(at_ms << LOGICAL_BITS) + logical,
        metadata=metadata or {}, valid_from=valid_from, expired_at=expired_at, confidence=confidence,
    )


# --- sensory -------------------------------------------------------------------


def test_sensory_expires_after_ttl_only() -> None:
    s = rec("s", kind=MemoryKind.SENSORY)
    assert not sensory_expired(s, T0 + 299_999, 300.0)
    assert sensory_expired(s, T0 + 300_000, 300.0)
    assert not sensory_expired(rec("e", kind=MemoryKind.EPISODIC), T0 + 10 * DAY_MS, 300.0)


def test_expired_sensory_lists_current_expired_ones_oldest_first() -> None:
    records = [
        rec("young", kind=MemoryKind.SENSORY, at_ms=T0 + 200_000),
        rec("old2", kind=MemoryKind.SENSORY, at_ms=T0 + 1),
        rec("old1", kind=MemoryKind.SENSORY, at_ms=T0),
        rec("gone", kind=MemoryKind.SENSORY, at_ms=T0, expired_at=5),
        rec("fact", at_ms=T0),
    ]
    assert expired_sensory(records, T0 + 301_000, 300.0) == ["old1", "old2"]


# --- working -------------------------------------------------------------------


def _working(rid: str, task: str | None, at: int) -> MemoryRecord:
    return rec(rid, kind=MemoryKind.WORKING, at_ms=T0 + at, metadata={"task": task} if task else {})


def test_working_slots_evict_oldest_of_the_task() -> None:
    records = [_working(f"a{i}", "A", i) for i in range(5)] + [_working(f"b{i}", "B", i) for i in range(2)]
    assert working_evictions(records, "A", 3) == ["a0", "a1"]
    assert working_evictions(records, "B", 3) == []
    assert working_evictions(records, None, 1) == []


def test_working_clear_returns_every_current_slot_of_the_task() -> None:
    records = [_working("a0", "A", 0), _working("a1", "A", 1), _working("b0", "B", 0)]
    assert working_clear(records, "A") == ["a0", "a1"]
    assert working_clear(records, "C") == []


@given(n=st.integers(0, 40), slots=st.integers(1, 10))
def test_working_never_keeps_more_than_slots(n: int, slots: int) -> None:
    records = [_working(f"w{i:02d}", "T", i) for i in range(n)]
    evicted = set(working_evictions(records, "T", slots))
    kept = [r for r in records if r.id not in evicted]
    assert len(kept) == min(n, slots)
    assert all(k.recorded_at >= max((r.recorded_at for r in records if r.id in evicted), default=0) for k in kept)


# --- episodic -> semantic ------------------------------------------------------------


def _ep(rid: str, content: str, day: int) -> MemoryRecord:
    return rec(rid, content, kind=MemoryKind.EPISODIC, valid_from=datetime(2024, 1, day, tzinfo=UTC), at_ms=T0 - day)


def test_consolidation_latest_episode_wins_with_sources() -> None:
    episodes = [
        _ep("e1", "Alice lives in Paris.", 1),
        _ep("e2", "We talked about the weather.", 2),
        _ep("e3", "Alice moved to Berlin", 3),
        _ep("e4", "Alice lives in Berlin", 4),
        _ep("e5", "Bob works at Acme", 2),
    ]
    facts = {f.key: f for f in consolidate(episodes)}
    assert set(facts) == {"fact:alice:location", "fact:bob:employer"}
    alice = facts["fact:alice:location"]
    assert alice.value == "berlin"
    assert alice.derived_from == ("e3", "e4")
    assert alice.confidence == pytest.approx(2 / 3)
    assert alice.valid_from == datetime(2024, 1, 4, tzinfo=UTC)
    assert alice.content == "alice's location is berlin"
    assert facts["fact:bob:employer"].derived_from == ("e5",)


def test_consolidated_content_states_the_same_slot() -> None:
    from hive_middleware.memory.cues import single_cue

    for text in ["my name is Bob", "The build server is now down", "Alice's email is a@x.org"]:
        (fact,) = consolidate([_ep("e", text, 1)])
        cue = single_cue(fact.content)
        assert cue is not None and (cue.entity, cue.attribute, cue.value) == (fact.entity, fact.attribute, fact.value)


def test_consolidation_skips_negated_latest_expired_and_other_kinds() -> None:
    episodes = [
        _ep("e1", "Bob works at Acme", 1),
        _ep("e2", "Bob no longer works at Acme", 2),
        rec("x", "Carol lives in Rome", kind=MemoryKind.EPISODIC, expired_at=3),
        rec("s", "Dan lives in Oslo"),
    ]
    assert consolidate(episodes) == []


def test_consolidation_min_support_and_determinism() -> None:
    episodes = [_ep("e1", "Alice lives in Paris", 1), _ep("e2", "Alice lives in Paris", 2)]
    assert consolidate(episodes, min_support=3) == []
    assert consolidate(episodes, min_support=2) == consolidate(list(reversed(episodes)), min_support=2)
    assert consolidate(episodes)[0].confidence == 1.0


# --- semantic ------------------------------------------------------------------------


def test_decay_halves_every_half_life() -> None:
    assert decayed_confidence(0.8, 0, 90) == 0.8
    assert decayed_confidence(0.8, -5, 90) == 0.8
    assert decayed_confidence(0.8, 90 * 86_400, 90) == pytest.approx(0.4)
    assert decayed_confidence(1.0, 180 * 86_400, 90) == pytest.approx(0.25)


def test_effective_confidence_restarts_at_confirmation_and_spares_other_kinds() -> None:
    fact = rec("f", confidence=1.0)
    now = T0 + 90 * DAY_MS
    assert effective_confidence(fact, now, 90) == pytest.approx(0.5)
    assert effective_confidence(fact, now, 90, T0 + 60 * DAY_MS) == pytest.approx(0.5 ** (30 / 90))
    assert effective_confidence(rec("p", kind=MemoryKind.PROCEDURAL, confidence=0.7), now, 90) == 0.7


@given(c=st.floats(0, 1), d=st.floats(0, 1))
def test_confirmation_raises_and_caps(c: float, d: float) -> None:
    out = confirmed_confidence(c, d)
    assert c <= out <= 1.0


# --- procedural ----------------------------------------------------------------------


def test_procedural_metadata_is_checked_and_completed() -> None:
    meta = check_procedural({"steps": ["pip install -e .", "pytest"]})
    assert meta == {"steps": ["pip install -e .", "pytest"], "usage_count": 0}
    used = record_use(record_use(meta, T0), T0 + 5)
    assert used["usage_count"] == 2 and used[LAST_USED_KEY] == T0 + 5
    assert meta["usage_count"] == 0  # pure: the input is not mutated


@pytest.mark.parametrize(
    "meta", [{}, {"steps": []}, {"steps": "pytest"}, {"steps": ["ok", ""]}, {"steps": ["a"], "usage_count": -1}]
)
def test_bad_procedural_metadata_is_refused(meta: dict[str, Any]) -> None:
    with pytest.raises(HiveValidationError):
        check_procedural(meta)


# --- prospective ---------------------------------------------------------------------


def test_trigger_forms() -> None:
    assert parse_trigger({"trigger": "deploy"}) == Trigger(keywords=("deploy",))
    assert parse_trigger({"trigger": ["a", "b"]}) == Trigger(keywords=("a", "b"))
    assert check_prospective({"trigger": {"regex": r"v\d+"}})["trigger"] == {"regex": r"v\d+"}


@pytest.mark.parametrize(
    "meta",
    [{}, {"trigger": {}}, {"trigger": {"regex": "("}}, {"trigger": {"keywords": [1]}}, {"trigger": {"when": "x"}},
     {"trigger": {"regex": "a" * 501}}],
)
def test_bad_trigger_is_refused(meta: dict[str, Any]) -> None:
    with pytest.raises(HiveValidationError):
        parse_trigger(meta)


def test_trigger_matching_rules() -> None:
    t = Trigger(keywords=("deploy", "release notes"))
    assert t.matches("Time to DEPLOY now")
    assert t.matches("write the release notes")
    assert not t.matches("redeployment")  # whole words only
    both = Trigger(all_keywords=("alice", "berlin"))
    assert both.matches("Alice flew to Berlin") and not both.matches("Alice flew to Paris")
    combined = Trigger(keywords=("build",), regex=r"fail(ed|ure)")
    assert combined.matches("the build failed") and not combined.matches("the build passed")


def test_matching_prospective_recalls_only_fired_current_reminders() -> None:
    p = MemoryKind.PROSPECTIVE
    records = [
        rec("r2", "ask about the visa", kind=p, at_ms=T0 + 2, metadata={"trigger": {"keywords": ["alice"]}}),
        rec("r1", "congratulate her", kind=p, at_ms=T0 + 1, metadata={"trigger": {"regex": r"promot(ed|ion)"}}),
        rec("r3", "expired", kind=p, metadata={"trigger": "alice"}, expired_at=9),
        rec("r4", "broken", kind=p, metadata={"trigger": {"regex": "("}}),
        rec("f", "alice fact", metadata={"trigger": "alice"}),
    ]
    fired = matching_prospective("Alice got promoted today", records)
    assert [r.id for r in fired] == ["r1", "r2"]
    assert matching_prospective("nothing relevant", records) == []


# --- LRU -----------------------------------------------------------------------------


def test_lru_evicts_least_recently_used_per_namespace() -> None:
    records = [
        rec("a", at_ms=T0),
        rec("b", at_ms=T0 + 1, metadata={LAST_USED_KEY: T0 + 100}),
        rec("c", at_ms=T0 + 2),
        rec("d", at_ms=T0 + 3),
        rec("z", at_ms=T0, namespace=("acme", "other")),
        rec("gone", at_ms=T0, expired_at=1),
    ]
    assert lru_evictions(records, 2) == ["a", "c"]
    assert lru_evictions(records, None) == []
    assert lru_evictions(records, 10) == []
