"""Habit records: the Wilson bound, graduation, demotion, and streams that must not push a habit live."""

from __future__ import annotations

import random

import pytest

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.habits import GraduationRule, HabitBook, ShadowRecord, wilson_lower_bound

RULE = GraduationRule(min_observations=20, min_lower_bound=0.95, z=1.0, min_sources=3)
FILLS = {"runs:cmd:1": "python t.py", "const:submit": "submit"}


def _feed(book: HabitBook, actuals: list[str], *, agent: str = "a", sources: int = 5, answered: bool = False) -> None:
    for i, actual in enumerate(actuals):
        live = book.propose(agent, "edit/file_edited/own/1/abs", FILLS) if answered else None
        book.observe(agent, "edit/file_edited/own/1/abs", FILLS, actual, source=f"run{i % sources}",
                     answered=live[0] if live else None)


def _live(book: HabitBook, agent: str = "a") -> list[str]:
    return [t for a, _, t in book.live_habits() if a == agent]


def test_wilson_lower_bound_values() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(20, 20, 1.0) == pytest.approx(20 / 21)
    # Known value: 81 of 100 at z=1.96 -> 0.7222 (Wilson score interval).
    assert wilson_lower_bound(81, 100, 1.96) == pytest.approx(0.7222, abs=1e-3)
    # Below the observed rate, rising with evidence at the same rate.
    assert wilson_lower_bound(9, 10, 1.0) < wilson_lower_bound(90, 100, 1.0) < 0.9


def test_floor_is_the_smallest_provable_window() -> None:
    assert RULE.floor == 20
    assert GraduationRule(20, 0.95, 1.645).floor == 52  # one-sided 95 % needs 52 hits out of 52
    with pytest.raises(HiveValidationError):
        GraduationRule(min_observations=0)
    with pytest.raises(HiveValidationError):
        GraduationRule(min_lower_bound=1.5)


def test_a_consistent_habit_graduates_only_after_the_proof() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 19)
    assert _live(book) == []
    assert book.propose("a", "edit/file_edited/own/1/abs", FILLS) is None
    _feed(book, ["python t.py"])
    assert _live(book) == ["runs:cmd:1"]
    template, bound = book.propose("a", "edit/file_edited/own/1/abs", FILLS) or ("", 0.0)
    assert template == "runs:cmd:1" and bound >= 0.95
    # Only when its template can be filled in the state at hand.
    assert book.propose("a", "edit/file_edited/own/1/abs", {"const:submit": "submit"}) is None


def test_proof_must_come_from_several_runs() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 200, sources=2)
    assert _live(book) == []


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param([random.Random(7).choice(["python t.py", "submit", "ls", "cat x", "pytest"])
                      for _ in range(3000)], id="random-labels"),
        pytest.param(["python t.py", "ls"] * 1500, id="alternating"),
        pytest.param(["python t.py"] * 15 + ["ls"] + ["python t.py"] * 15 + ["ls"], id="too-noisy-burst"),
    ],
)
def test_noisy_streams_never_push_a_habit_live(stream: list[str]) -> None:
    book = HabitBook(RULE)
    for i, actual in enumerate(stream):
        book.observe("a", "sig", {"runs:cmd:1": "python t.py"}, actual, source=f"r{i % 7}")
        assert book.live_habits() == []


def test_burst_of_matches_then_mismatches_is_demoted_and_must_prove_again() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 25, answered=True)
    assert _live(book) == ["runs:cmd:1"]
    record = book.record("a", "edit/file_edited/own/1/abs", "runs:cmd:1")
    assert record is not None and record.answered == 5  # answered live after graduating at 20
    _feed(book, ["ls"], answered=True)  # the live answer is contradicted
    assert _live(book) == []
    assert record.demotions == 1 and record.n == 0 and record.total_n == 26
    _feed(book, ["python t.py"] * 19, answered=True)
    assert _live(book) == []  # the proof restarted
    _feed(book, ["python t.py"], answered=True)
    assert _live(book) == ["runs:cmd:1"] and record.graduations == 2


def test_shadow_misses_of_a_live_habit_demote_it_when_the_bound_drops() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 20)
    assert _live(book) == ["runs:cmd:1"]
    _feed(book, ["ls"] * 2)  # not answered live (only watched), but the bound falls below 0.95
    assert _live(book) == []


def test_a_live_habit_that_would_have_answered_wrongly_is_demoted_even_unasked() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 80)
    record = book.record("a", "edit/file_edited/own/1/abs", "runs:cmd:1")
    assert record is not None and record.live
    # 80 hits and one miss would still clear the bound, but its answer here would have been wrong.
    assert wilson_lower_bound(80, 81, RULE.z) >= RULE.min_lower_bound
    _feed(book, ["ls"])  # nobody answered: watched only
    assert not record.live and record.n == 0 and record.demotions == 1 and record.contradicted == 1
    assert record.total_n == 81 and record.total_hits == 80


def test_another_agents_steps_never_count() -> None:
    book = HabitBook(RULE)
    _feed(book, ["python t.py"] * 100, agent="b")
    assert _live(book, "b") == ["runs:cmd:1"]
    assert _live(book, "a") == []
    assert book.propose("a", "edit/file_edited/own/1/abs", FILLS) is None
    assert book.record("a", "edit/file_edited/own/1/abs", "runs:cmd:1") is None


def test_contradict_demotes_only_a_live_habit() -> None:
    book = HabitBook(RULE)
    assert book.contradict("a", "edit/file_edited/own/1/abs", "runs:cmd:1") is False
    _feed(book, ["python t.py"] * 20)
    assert book.contradict("a", "edit/file_edited/own/1/abs", "runs:cmd:1") is True
    assert _live(book) == []


def test_seen_before_marks_each_step_once() -> None:
    book = HabitBook(RULE)
    assert not book.seen_before("a", "run1", 3)
    assert book.seen_before("a", "run1", 3)
    assert not book.seen_before("b", "run1", 3)  # per agent
    assert not book.seen_before("a", "", 3)  # no source: cannot tell
    assert book.ignored_duplicates == 1


def test_record_round_trip_and_refusals() -> None:
    record = ShadowRecord(n=5, hits=4, sources=["r1"], live=False, total_n=9, total_hits=7, example="ls")
    assert ShadowRecord.from_dict(record.as_dict()) == record
    with pytest.raises(HiveValidationError):
        ShadowRecord.from_dict({**record.as_dict(), "hits": 6})
    with pytest.raises(HiveValidationError):
        ShadowRecord.from_dict({"n": 1})


def test_load_keeps_a_stored_live_flag_only_with_the_proof() -> None:
    book = HabitBook(RULE)
    forged = ShadowRecord(n=3, hits=3, sources=["r1", "r2", "r3"], live=True, total_n=3, total_hits=3)
    proven = ShadowRecord(n=40, hits=40, sources=["r1", "r2", "r3"], live=True, total_n=40, total_hits=40)
    assert book.load([(("a", "s", "forged"), forged), (("a", "s", "proven"), proven)]) == 2
    assert book.live_habits() == [("a", "s", "proven")]
