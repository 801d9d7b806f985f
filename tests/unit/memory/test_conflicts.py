"""Conflict resolution: ADD / UPDATE / INVALIDATE / NOOP without an LLM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.memory.conflicts import (
    DEFAULT_CONFIRM_DELTA,
    ConflictPolicy,
    NewMemory,
    WriteAction,
    decide,
)
from hive_middleware.types import MemoryKind, MemoryRecord

NS = ("acme", "agent")


def rec(
    rid: str,
    content: str,
    *,
    key: str | None = None,
    kind: MemoryKind = MemoryKind.SEMANTIC,
    recorded_at: int = 1,
    valid_from: datetime | None = None,
    expired_at: int | None = None,
    namespace: tuple[str, ...] = NS,
) -> MemoryRecord:
    return MemoryRecord(
        id=rid, namespace=namespace, kind=kind, content=content, recorded_at=recorded_at, key=key,
        valid_from=valid_from, expired_at=expired_at,
    )


def new(content: str, **kw: object) -> NewMemory:
    return NewMemory(content=content, namespace=NS, **kw)  # type: ignore[arg-type]


def test_nothing_close_is_add() -> None:
    d = decide(new("Alice likes green tea"), [rec("r1", "The deploy runs at noon")])
    assert d.op is WriteAction.ADD and d.target_id is None


def test_no_candidates_is_add() -> None:
    assert decide(new("anything"), []).op is WriteAction.ADD


def test_identical_content_confirms() -> None:
    d = decide(new("Alice likes green tea."), [rec("r1", "alice likes  GREEN tea")])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "r1")
    assert d.confidence_delta == DEFAULT_CONFIRM_DELTA


def test_same_key_new_content_updates_newest_version() -> None:
    cands = [
        rec("old", "deploy at noon", key="deploy", recorded_at=1),
        rec("new", "deploy at 1pm", key="deploy", recorded_at=5),
    ]
    d = decide(new("deploy at 3pm", key="deploy"), cands)
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "new")
    assert "same key" in d.reason


def test_same_key_same_content_confirms_but_any_change_updates() -> None:
    cand = [rec("r1", "the deploy runs at noon", key="deploy")]
    same = decide(new("the deploy runs at noon ", key="deploy", metadata={}, tags=()), cand)
    assert (same.op, same.target_id) == (WriteAction.NOOP, "r1")
    # A keyed write sets a value: a change of case, metadata, tags or valid time is a new version.
    for changed in (
        new("The deploy runs at noon!", key="deploy"),
        new("the deploy runs at noon", key="deploy", metadata={"v": 2}),
        new("the deploy runs at noon", key="deploy", tags=("ops",)),
        new("the deploy runs at noon", key="deploy", valid_from=datetime(2024, 1, 1, tzinfo=UTC)),
    ):
        assert decide(changed, cand).op is WriteAction.UPDATE


def test_same_key_changed_number_is_update_not_duplicate() -> None:
    d = decide(new("Alice's email is b@x.org", key="alice.email"), [rec("r1", "Alice's email is a@x.org", key="alice.email")])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "r1")


def test_same_key_negation_invalidates() -> None:
    d = decide(new("Bob no longer works at Acme", key="bob.job"), [rec("r1", "Bob works at Acme", key="bob.job")])
    assert (d.op, d.target_id) == (WriteAction.INVALIDATE, "r1")


def test_explicit_different_key_is_never_merged() -> None:
    d = decide(new("Alice likes green tea", key="k2"), [rec("r1", "Alice likes green tea", key="k1")])
    assert d.op is WriteAction.ADD


def test_keyless_new_memory_may_confirm_a_keyed_record() -> None:
    d = decide(new("Alice likes green tea"), [rec("r1", "Alice likes green tea", key="k1")])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "r1")


def test_cue_relocation_supersedes() -> None:
    d = decide(new("Alice moved to Berlin"), [rec("r1", "Alice lives in Paris"), rec("r2", "Bob lives in Paris")])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "r1")
    assert "location" in d.reason and "paris" in d.reason


def test_cue_possessive_change_supersedes() -> None:
    d = decide(new("Alice's email is now b@x.org"), [rec("r1", "Alice's email is a@x.org")])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "r1")


def test_cue_same_value_in_other_words_confirms() -> None:
    d = decide(new("Alice email: a@x.org"), [rec("r1", "Alice's email is a@x.org")])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "r1")


def test_is_now_supersedes_state() -> None:
    d = decide(new("The build server is now up"), [rec("r1", "The build server is now down")])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "r1")


def test_negation_invalidates_matching_fact() -> None:
    cands = [rec("r1", "Bob works at Acme"), rec("r2", "Bob likes chess")]
    d = decide(new("Bob no longer works at Acme"), cands)
    assert (d.op, d.target_id) == (WriteAction.INVALIDATE, "r1")


def test_negation_of_unparsed_statement_uses_fuzzy_match() -> None:
    d = decide(new("Alice isn't vegetarian anymore"), [rec("r1", "Alice is vegetarian"), rec("r2", "Alice is tall")])
    assert (d.op, d.target_id) == (WriteAction.INVALIDATE, "r1")


def test_negation_of_other_value_invalidates_nothing() -> None:
    d = decide(new("Alice's email is no longer a@x.org"), [rec("r1", "Alice's email is b@x.org")])
    assert d.op is WriteAction.ADD


def test_near_duplicate_confirms() -> None:
    d = decide(new("Remember to water the plants every Monday morning"),
               [rec("r1", "Remember to water plants every monday morning")])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "r1")
    d2 = decide(new("remember to water the plants every Monday mornin"),
                [rec("r1", "Remember to water the plants every Monday morning")])
    assert (d2.op, d2.target_id) == (WriteAction.NOOP, "r1")


def test_different_numbers_are_not_duplicates() -> None:
    d = decide(new("The meeting is in room 21 on floor 3"), [rec("r1", "The meeting is in room 12 on floor 3")])
    assert d.op is not WriteAction.NOOP


def test_refinement_supersedes_the_shorter_record() -> None:
    d = decide(new("Alice likes green tea and oolong"), [rec("r1", "Alice likes green tea")])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "r1")


def test_shorter_statement_does_not_supersede_longer_one() -> None:
    d = decide(new("Alice likes green tea"), [rec("r1", "Alice likes green tea and oolong")])
    assert d.op is WriteAction.ADD


def test_tiny_records_are_not_refined() -> None:
    d = decide(new("ok sure thing then"), [rec("r1", "ok sure")])
    assert d.op is WriteAction.ADD


def test_other_kind_namespace_and_expired_records_are_ignored() -> None:
    content = "Alice likes green tea"
    cands = [
        rec("k", content, kind=MemoryKind.PROCEDURAL),
        rec("n", content, namespace=("other", "agent")),
        rec("e", content, expired_at=9),
    ]
    assert decide(new(content), cands).op is WriteAction.ADD


def test_events_repeat_at_other_times_but_dedupe_at_the_same_time() -> None:
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    t2 = datetime(2024, 5, 2, tzinfo=UTC)
    ep = MemoryKind.EPISODIC
    cand = rec("r1", "I went running", kind=ep, valid_from=t1)
    assert decide(new("I went running", kind=ep, valid_from=t2), [cand]).op is WriteAction.ADD
    same = decide(new("I went running", kind=ep, valid_from=t1), [cand])
    assert (same.op, same.target_id) == (WriteAction.NOOP, "r1")


def test_events_are_not_merged_by_cues_or_fuzz() -> None:
    ep = MemoryKind.EPISODIC
    d = decide(new("Alice moved to Berlin", kind=ep), [rec("r1", "Alice lives in Paris", kind=ep)])
    assert d.op is WriteAction.ADD


def test_policy_thresholds_are_honoured() -> None:
    strict = ConflictPolicy(duplicate_ratio=100.0)
    cand = [rec("r1", "remember to water the plants every Monday morning")]
    assert decide(new("remember to water the plants every Monday mornin"), cand, policy=strict).op is WriteAction.ADD


# --- properties --------------------------------------------------------------

_words = st.sampled_from(
    ["alice", "bob", "lives", "in", "paris", "berlin", "works", "at", "acme", "is", "now", "no", "longer",
     "email", "a@x.org", "room", "12", "21", "the", "deadline", "tea", "likes", "'s", ":"]
)
_content = st.lists(_words, min_size=1, max_size=8).map(" ".join)
_kinds = st.sampled_from([MemoryKind.SEMANTIC, MemoryKind.EPISODIC, MemoryKind.PROCEDURAL])
_keys = st.none() | st.sampled_from(["k1", "k2"])


@st.composite
def _candidates(draw: st.DrawFn) -> list[MemoryRecord]:
    n = draw(st.integers(0, 6))
    return [
        rec(f"r{i}", draw(_content), key=draw(_keys), kind=draw(_kinds), recorded_at=draw(st.integers(0, 3)))
        for i in range(n)
    ]


@settings(max_examples=300, deadline=None)
@given(content=_content, kind=_kinds, key=_keys, cands=_candidates(), data=st.data())
def test_identical_content_is_never_added(
    content: str, kind: MemoryKind, key: str | None, cands: list[MemoryRecord], data: st.DataObject
) -> None:
    twin = rec("twin", content, key=key, kind=kind)
    pos = data.draw(st.integers(0, len(cands)))
    d = decide(new(content, kind=kind, key=key), [*cands[:pos], twin, *cands[pos:]])
    assert d.op is WriteAction.NOOP
    assert d.confidence_delta > 0
    target = next(c for c in [*cands, twin] if c.id == d.target_id)
    assert target.kind == kind


@settings(max_examples=300, deadline=None)
@given(content=_content, kind=_kinds, key=_keys, cands=_candidates(), data=st.data())
def test_decision_is_deterministic_and_order_independent(
    content: str, kind: MemoryKind, key: str | None, cands: list[MemoryRecord], data: st.DataObject
) -> None:
    memory = new(content, kind=kind, key=key)
    first = decide(memory, cands)
    assert decide(memory, cands) == first
    shuffled = data.draw(st.permutations(cands))
    assert decide(memory, shuffled) == first
    if first.op is WriteAction.ADD:
        assert first.target_id is None
    else:
        assert first.target_id in {c.id for c in cands}


@pytest.mark.parametrize("op", list(WriteAction))
def test_write_op_values_are_stable(op: WriteAction) -> None:
    assert WriteAction(op.value) is op
