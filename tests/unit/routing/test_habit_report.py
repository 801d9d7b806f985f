"""What a habit book shows: near misses with their reasons, and the hindsight ceiling per rung."""

from __future__ import annotations

from hive_middleware.routing.habit_report import hindsight_hits, near_misses
from hive_middleware.routing.habits import GraduationRule, HabitBook

RULE = GraduationRule(min_observations=20, min_lower_bound=0.95, z=1.0, min_sources=3)
COARSE, MIDDLE = "edit/file_edited", "edit/file_edited/own/1/abs"


def _observe(book: HabitBook, signature: str, actuals: list[str], *, sources: int = 5, agent: str = "a") -> None:
    for i, actual in enumerate(actuals):
        book.observe(agent, signature, {"runs:cmd:1": "python t.py"}, actual, source=f"r{i % sources}")


def test_each_near_miss_names_why_it_is_not_live() -> None:
    book = HabitBook(RULE)
    _observe(book, "run/other", ["python t.py"] * 12)  # too few observations
    _observe(book, "run/error", ["python t.py"] * 30, sources=1)  # one run only
    _observe(book, "run/traceback", (["python t.py"] * 9 + ["ls"]) * 3)  # 90 %: below the bound
    _observe(book, "run/empty", ["python t.py"] * 25 + ["ls"] + ["python t.py"] * 12)  # lost its proof
    _observe(book, "run/passed", ["python t.py", "ls"] * 20)  # 50 %: not near
    reasons = {m.key[1]: m.reason for m in near_misses(book)}
    assert reasons == {
        "run/other": "too_few_observations",
        "run/error": "too_few_runs",
        "run/traceback": "bound_below",
        "run/empty": "demoted",
    }
    assert next(m.key[1] for m in near_misses(book)) == "run/empty"  # most lifetime hits first
    assert near_misses(book, agent="b") == []
    assert near_misses(book)[0].as_dict()["lifetime_hits"] == 37


def test_live_habits_and_twins_are_not_near_misses() -> None:
    book = HabitBook(RULE)
    _observe(book, "run/other", ["python t.py"] * 25)
    assert near_misses(book) == []
    for sig in (COARSE, MIDDLE):  # the same template on two rungs, same counts: listed once
        _observe(book, sig, ["python t.py"] * 12)
    assert len(near_misses(book)) == 1


def test_hindsight_counts_the_best_exact_template_of_each_signature_per_rung() -> None:
    book = HabitBook(RULE)
    fills = {"runs:cmd:1": "python t.py", "last:cmd:1": "ls"}
    for i in range(40):
        actual = "python t.py" if i % 20 else "ls"  # 38 of 40 runs: 0.95 exact
        book.observe("a", COARSE, fills, actual, source=f"r{i}")
        book.observe("a", MIDDLE, fills, actual, source=f"r{i}")
    for i in range(10):  # too few to count, however exact
        book.observe("a", "run/other", fills, "ls", source=f"r{i}")
    book.observe("a", "prior/0.9", {"prior": "ls"}, "ls", source="r1")  # no rung
    assert hindsight_hits(book, "a") == {"coarse": 38, "middle": 38, "fine": 0}
    assert hindsight_hits(book, "b") == {"coarse": 0, "middle": 0, "fine": 0}
