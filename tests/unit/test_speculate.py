"""Speculative next actions (pure prediction) and the pre-execution rounds of the Speculator."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.integrations.tool_cache import ToolOutputCache
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.pipeline.speculation import (
    SpeculationOptions,
    Speculator,
    ToolCall,
    is_read_only,
    plan_calls,
    read_only,
    read_only_names,
)
from hive_middleware.routing.speculate import (
    SPECULATION_RULES,
    call_of_command,
    is_read_only_action,
    predict_next,
)
from hive_middleware.types import AgentState, Step

GOAL = "Fix the bug in mypkg.core.parser: parse() drops the last token."


def state(*steps: tuple[str, str], goal: str = GOAL, cwd: str = "/repo") -> AgentState:
    history = tuple(Step(a, o) for a, o in steps)
    return AgentState(goal=goal, history=history, step_index=len(history), env={"working_dir": cwd})


def commands(s: AgentState, k: int = 3, **kwargs: Any) -> list[str]:
    return [p.command for p in predict_next(s, k, **kwargs)]


# ---------------------------------------------------------------- prediction rules


def test_loop_predicts_what_followed_the_same_two_actions_before() -> None:
    s = state(
        ("grep -n parse /repo/mypkg/core/parser.py", "12:def parse"),
        ("cat /repo/mypkg/core/parser.py", "..."),
        ("sed -i 's/a/b/' /repo/mypkg/core/parser.py", ""),
        ("grep -n parse /repo/mypkg/core/parser.py", "12:def parse"),
    )
    got = predict_next(s, 3)
    assert got[0].command == "cat /repo/mypkg/core/parser.py"
    assert got[0].rule == "loop"


def test_scroll_continues_a_ranged_view_with_this_agents_own_window_move() -> None:
    view = "str_replace_editor view /repo/a.py --view_range {} {}"
    plain = state((view.format(10, 30), "..."))
    assert commands(plain, 1) == [view.format(30, 50)]
    # This agent moved its window 5 lines past the end and widened it by 10 before.
    learned = state(
        (view.format(1, 20), "..."), (view.format(25, 54), "..."), ("grep -n x /repo/a.py", "no match"),
        (view.format(100, 120), "..."),
    )
    got = predict_next(learned, 2)
    assert [p.command for p in got] == [view.format(125, 155), view.format(120, 140)]
    assert {p.rule for p in got} == {"scroll"}


def test_listing_opens_the_goal_mentioned_file_first_and_never_one_already_viewed() -> None:
    listing = "/repo/mypkg/util.py\n/repo/tests/test_parser.py\n/repo/mypkg/core/parser.py\n/repo/mypkg/io.py"
    s = state(("find /repo -name '*.py'", listing))
    got = commands(s, 2)
    assert got == ["str_replace_editor view /repo/mypkg/core/parser.py", "str_replace_editor view /repo/mypkg/util.py"]
    seen = state(("str_replace_editor view /repo/mypkg/core/parser.py", "..."), ("find /repo -name '*.py'", listing))
    assert commands(seen, 2) == ["str_replace_editor view /repo/mypkg/util.py", "str_replace_editor view /repo/mypkg/io.py"]


def test_listing_uses_the_agents_open_dialect_and_relative_paths() -> None:
    s = state(
        ("search_dir \"parse\"", "Found 2 matches for \"parse\" in /repo:\n/repo/mypkg/core/parser.py (2 matches)"),
    )
    assert commands(s, 1) == ["open mypkg/core/parser.py"]


def test_traceback_opens_the_newest_frame() -> None:
    trace = (
        'Traceback (most recent call last):\n  File "/repo/run.py", line 3, in <module>\n'
        '  File "/repo/mypkg/core/parser.py", line 41, in parse\nIndexError: list index out of range'
    )
    s = state(("open run.py", "[File: /repo/run.py (3 lines total)]"), ("python run.py", trace))
    assert "open mypkg/core/parser.py 41" in commands(s, 5)
    sre = state(("str_replace_editor view /repo/run.py", "..."), ("python run.py", trace))
    assert "str_replace_editor view /repo/mypkg/core/parser.py --view_range 31 51" in commands(sre, 5)


def test_after_an_edit_the_last_test_run_and_the_search_naming_the_file_are_proposed() -> None:
    s = state(
        ("grep -n token /repo/mypkg/core/parser.py", "12:token"),
        ("python -m pytest tests/test_parser.py -q", "1 failed"),
        ("str_replace_editor str_replace /repo/mypkg/core/parser.py --old_str a --new_str b",
         "The file /repo/mypkg/core/parser.py has been edited."),
    )
    got = predict_next(s, 3)
    assert [p.command for p in got] == [
        "python -m pytest tests/test_parser.py -q",
        "grep -n token /repo/mypkg/core/parser.py",
        "str_replace_editor view /repo/mypkg/core/parser.py",
    ]
    assert {p.rule for p in got} == {"after_edit"}


def test_after_a_write_call_the_reads_that_followed_the_previous_write_are_proposed() -> None:
    read = 'read_file {"path": "a.py"}'
    run = 'run_tests {"path": "tests"}'
    s = state(('write_file {"path": "a.py"}', "ok"), (read, "..."), (run, "ok"), ('write_file {"path": "b.py"}', "ok"))
    allowed = {"read_file", "run_tests"}
    got = commands(s, 3, read_only=lambda c: c.split(" ", 1)[0] in allowed)
    assert got[:2] == [read, run]


def test_first_step_views_the_directory_the_goal_names() -> None:
    s = AgentState(goal="<uploaded_files>\n/testbed\n</uploaded_files>\nFix it.")
    assert commands(s, 2) == ["str_replace_editor view /testbed", "ls /testbed"]


def test_side_effecting_commands_are_never_proposed_even_when_the_loop_predicts_them() -> None:
    edit = "sed -i 's/a/b/' x.py"
    s = state(("cat x.py", "a"), (edit, ""), ("cat x.py", "b"))
    assert edit not in commands(s, 5)
    assert all(is_read_only_action(c) for c in commands(s, 5))


def test_habit_proposals_come_first_and_are_filtered_too() -> None:
    s = state(("cat x.py", "a"))
    got = predict_next(s, 3, proposals=["rm -rf /repo", "grep -n foo x.py"])
    assert got[0].command == "grep -n foo x.py"
    assert got[0].rule == "habit"
    assert "rm -rf /repo" not in [p.command for p in got]


def test_prediction_reads_only_the_state_before_the_step() -> None:
    prefix = (("find /repo -name '*.py'", "/repo/mypkg/core/parser.py\n/repo/b.py"), ("cat /repo/b.py", "x"))
    # Two runs that share the first two steps and then take different actions: the state
    # before step 2 is the same, so the predictions for it are too (the next action is never read).
    run_a = [*prefix, ("cat /repo/mypkg/core/parser.py", "...")]
    run_b = [*prefix, ("rm /repo/b.py", "")]
    before_a = state(*run_a[:2])
    before_b = state(*run_b[:2])
    assert predict_next(before_a, 5) == predict_next(before_b, 5)
    assert {p.rule for p in predict_next(before_a, 5)} <= set(SPECULATION_RULES)


@pytest.mark.parametrize("k", [-1, 17, 2.5, True, "3"])
def test_bad_k_is_a_clear_error(k: Any) -> None:
    with pytest.raises(HiveValidationError, match="k must be an int from 0 to 16"):
        predict_next(state(), k)


def test_k_zero_predicts_nothing() -> None:
    assert predict_next(state(("cat x.py", "a")), 0) == []


def test_call_of_command_inverts_tool_call_actions() -> None:
    assert call_of_command('read_file {"path": "a.py"}', "bash") == ("read_file", {"path": "a.py"})
    assert call_of_command("grep -n x a.py", "bash") == ("bash", {"command": "grep -n x a.py"})
    assert call_of_command("echo {oops}", "sh") == ("sh", {"command": "echo {oops}"})


_ACTIONS = st.sampled_from([
    "cat a.py", "grep -n x a.py", "sed -i 's/x/y/' a.py", "python -m pytest -q", "rm a.py",
    "str_replace_editor view /r/a.py --view_range 1 20", "str_replace_editor view /r/a.py --view_range 20 40",
    "str_replace_editor str_replace /r/a.py --old_str x --new_str y", "find /r -name '*.py'", "ls /r", "submit",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_ACTIONS, st.sampled_from(["", "/r/a.py\n/r/b.py", "12:x", "error"])), max_size=12),
       st.integers(min_value=0, max_value=6))
def test_predictions_are_distinct_read_only_and_at_most_k(steps: list[tuple[str, str]], k: int) -> None:
    got = predict_next(state(*steps, cwd="/r"), k)
    texts = [" ".join(p.command.split()) for p in got]
    assert len(got) <= k
    assert len(set(texts)) == len(texts)
    assert all(is_read_only_action(p.command) for p in got)
    assert got == predict_next(state(*steps, cwd="/r"), k)


# ---------------------------------------------------------------- read-only marking and options


class _Tool:
    def __init__(self, name: str) -> None:
        self.name = name
        self.metadata: dict[str, Any] | None = None


def test_read_only_marks_a_tool_and_names_are_collected() -> None:
    viewer, writer = _Tool("view"), _Tool("write")
    assert read_only(viewer) is viewer
    assert is_read_only(viewer) and not is_read_only(writer)
    assert read_only_names([viewer, writer]) == {"view"}


def test_read_only_refuses_an_object_without_metadata() -> None:
    with pytest.raises(HiveValidationError, match="read_only_tools"):
        read_only(object())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"k": 17}, "k"), ({"budget_s": 0}, "budget_s"), ({"max_workers": 0}, "max_workers"),
     ({"read_only_tools": "view"}, "read_only_tools")],
)
def test_bad_speculation_options_are_clear_errors(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(HiveValidationError) as info:
        SpeculationOptions(**kwargs)
    assert info.value.fields["field"] == field
    assert field in str(info.value)


def test_plan_calls_keeps_only_read_only_tools() -> None:
    messages = [
        {"role": "user", "content": GOAL},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "2", "type": "function", "function": {"name": "write_file", "arguments": '{"path": "a.py"}'}}]},
        {"role": "tool", "tool_call_id": "2", "content": "ok"},
    ]
    assert plan_calls(messages, {"read_file"}) == [ToolCall("read_file", {"path": "a.py"})]
    assert plan_calls(messages, set()) == []


# ---------------------------------------------------------------- the speculator


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tools:
    """Real tools over a directory: a reader and a counter that writes a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.lock = threading.Lock()

    def run(self, name: str, args: Any) -> str:
        with self.lock:
            self.calls.append((name, dict(args)))
        self.started.set()
        if self.gate is not None:
            self.gate.wait(5)
        if name == "read":
            return (self.root / args["path"]).read_text()
        if name == "bump":
            counter = self.root / "counter.txt"
            value = int(counter.read_text()) + 1 if counter.exists() else 1
            counter.write_text(str(value))
            return str(value)
        if name == "boom":
            raise RuntimeError("tool failed")
        raise AssertionError(name)


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.txt").write_text("beta")
    return Tools(tmp_path)


def make(tools: Tools, clock: FakeClock | None = None, **options: Any) -> Speculator:
    cache = ToolOutputCache(
        read_only_tools={"read"},
        read_paths=lambda _tool, args: [tools.root / args["path"]] if "path" in args else [],
    )
    return Speculator(cache, SpeculationOptions(read_only_tools=frozenset({"read"}), **options),
                      clock=clock or FakeClock())


def settle(spec: Speculator, conversation: str = "") -> None:
    """Wait until every speculative call of the round has finished or been cancelled."""
    futures = [e.future for e in spec._rounds[conversation].entries.values() if e.future is not None]
    concurrent.futures.wait(futures, timeout=5)


def test_a_side_effecting_tool_is_never_run_speculatively(tools: Tools) -> None:
    spec = make(tools)
    submitted = spec.begin([ToolCall("bump", {}), ToolCall("read", {"path": "a.txt"})], tools.run)
    settle(spec)
    assert submitted == 1
    assert not (tools.root / "counter.txt").exists()
    assert [c[0] for c in tools.calls] == ["read"]
    assert spec.stats.refused == 1
    spec.close()


def test_a_finished_speculative_result_is_served_from_the_cache_as_a_hit(tools: Tools) -> None:
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    settle(spec)
    spec.answered()
    assert spec.claim("read", {"path": " a.txt "}) == (True, "alpha")  # same key as the real call
    assert spec.stats.hits == 1 and spec.stats.speculated == 1
    assert len(tools.calls) == 1
    assert spec.claim("read", {"path": "b.txt"}) == (False, None)
    spec.end_round()
    assert spec.stats.wasted == 0
    spec.close()


def test_a_call_still_running_is_waited_for_not_run_twice(tools: Tools) -> None:
    tools.gate = threading.Event()
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    assert tools.started.wait(5)
    spec.answered()
    result: list[tuple[bool, Any]] = []
    claimer = threading.Thread(target=lambda: result.append(spec.claim("read", {"path": "a.txt"})))
    claimer.start()
    claimer.join(0.2)
    assert claimer.is_alive()  # waiting for the running speculative call
    tools.gate.set()
    claimer.join(5)
    assert result == [(True, "alpha")]
    assert len(tools.calls) == 1
    spec.close()


def test_calls_not_started_when_the_model_answers_are_cancelled(tools: Tools) -> None:
    tools.gate = threading.Event()
    spec = make(tools, max_workers=1)
    spec.begin([ToolCall("read", {"path": "a.txt"}), ToolCall("read", {"path": "b.txt"})], tools.run)
    assert tools.started.wait(5)
    assert spec.answered() == 1
    tools.gate.set()
    settle(spec)
    assert [c[1]["path"] for c in tools.calls] == ["a.txt"]
    assert spec.stats.cancelled == 1
    assert spec.claim("read", {"path": "b.txt"}) == (False, None)
    spec.close()


def test_unclaimed_executions_are_counted_as_wasted(tools: Tools) -> None:
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"}), ToolCall("read", {"path": "b.txt"})], tools.run)
    settle(spec)
    spec.answered()
    assert spec.claim("read", {"path": "a.txt"})[0]
    assert spec.end_round() == 1
    assert spec.stats.as_dict()["wasted"] == 1
    spec.close()


def test_a_result_finishing_after_the_budget_is_dropped(tools: Tools) -> None:
    tools.gate = threading.Event()
    clock = FakeClock()
    spec = make(tools, clock, budget_s=2.0)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    assert tools.started.wait(5)
    clock.now = 3.0  # the budget is spent
    tools.gate.set()
    settle(spec)
    assert spec.stats.late == 1
    assert spec.claim("read", {"path": "a.txt"}) == (False, None)
    assert spec.cache.lookup("read", {"path": "a.txt"}) is None
    spec.close()


def test_nothing_starts_after_the_budget(tools: Tools) -> None:
    tools.gate = threading.Event()
    clock = FakeClock()
    spec = make(tools, clock, budget_s=1.0, max_workers=1)
    spec.begin([ToolCall("read", {"path": "a.txt"}), ToolCall("read", {"path": "b.txt"})], tools.run)
    assert tools.started.wait(5)
    clock.now = 5.0
    tools.gate.set()
    settle(spec)
    assert [c[1]["path"] for c in tools.calls] == ["a.txt"]
    assert spec.stats.cancelled == 1
    spec.close()


def test_a_write_discards_unclaimed_speculative_results(tools: Tools) -> None:
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    settle(spec)
    assert spec.discard() == 1
    assert spec.cache.lookup("read", {"path": "a.txt"}) is None
    assert spec.claim("read", {"path": "a.txt"}) == (False, None)
    spec.close()


def test_a_file_changed_after_speculation_is_a_miss(tools: Tools) -> None:
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    settle(spec)
    (tools.root / "a.txt").write_text("changed!")
    assert spec.claim("read", {"path": "a.txt"}) == (False, None)
    spec.close()


def test_a_failing_speculative_call_is_counted_and_not_stored(tools: Tools) -> None:
    cache = ToolOutputCache(read_only_tools={"boom"})
    spec = Speculator(cache, SpeculationOptions(read_only_tools=frozenset({"boom"})))
    spec.begin([ToolCall("boom", {})], tools.run)
    settle(spec)
    assert spec.stats.failed == 1
    assert spec.claim("boom", {}) == (False, None)
    assert spec.end_round() == 0
    spec.close()


def test_a_call_the_cache_already_answers_is_not_run_again(tools: Tools) -> None:
    spec = make(tools)
    spec.cache.store("read", {"path": "a.txt"}, "alpha")
    assert spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run) == 0
    assert tools.calls == []
    spec.close()


def test_conversations_have_rounds_of_their_own(tools: Tools) -> None:
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run, conversation="t1")
    settle(spec, "t1")
    spec.begin([ToolCall("read", {"path": "b.txt"})], tools.run, conversation="t2")
    assert spec.claim("read", {"path": "a.txt"}, conversation="t2") == (False, None)
    assert spec.claim("read", {"path": "a.txt"}, conversation="t1") == (True, "alpha")
    spec.close()


def test_aclaim_waits_without_blocking_the_loop(tools: Tools) -> None:
    tools.gate = threading.Event()
    spec = make(tools)
    spec.begin([ToolCall("read", {"path": "a.txt"})], tools.run)
    assert tools.started.wait(5)

    async def scenario() -> tuple[bool, Any]:
        claim = asyncio.create_task(spec.aclaim("read", {"path": "a.txt"}))
        await asyncio.sleep(0.05)
        assert not claim.done()
        tools.gate.set()
        return await claim

    assert asyncio.run(scenario()) == (True, "alpha")
    assert len(tools.calls) == 1
    spec.close()
