"""Template fillers read only the state and reproduce mechanical actions exactly."""

from __future__ import annotations

import pytest

from hive_middleware.errors import HiveModelFileError
from hive_middleware.routing.facts import state_facts
from hive_middleware.routing.normalize import normalize_command
from hive_middleware.routing.templates import Template, TemplateSet, mine_templates, parse_template
from hive_middleware.types import AgentState, Step

CWD = {"working_dir": "/testbed"}


def _state(*steps: tuple[str, str]) -> AgentState:
    return AgentState(goal="fix it", history=tuple(Step(a, o) for a, o in steps), step_index=len(steps), env=CWD)


def _fill(name: str, state: AgentState) -> str | None:
    return parse_template(name).fill(state_facts(state))


def test_run_the_file_just_created_follows_the_agents_style() -> None:
    s = _state(
        ("cd /testbed && python old.py", "ok"),
        ("str_replace_editor create /testbed/reproduce.py --file_text 'print(1)'", "File created successfully at: /testbed/reproduce.py"),
    )
    assert _fill("created_py:python:1", s) == "cd /testbed && python reproduce.py"
    assert normalize_command(_fill("created_py:python:1", s) or "", "/testbed") == "python reproduce.py"


@pytest.mark.parametrize(
    ("earlier_run", "expected"),
    [
        ("cd /testbed && python old.py", "cd /testbed && python reproduce.py"),
        ("python /testbed/old.py", "python /testbed/reproduce.py"),
        ("python3 old.py", "python3 reproduce.py"),
        # `python -m pytest` runs no script: the script run before it sets the style.
        ("cd /testbed && python -m pytest tests", "python /testbed/reproduce.py"),
    ],
)
def test_python_own_runs_a_new_script_the_way_the_agent_last_ran_one(earlier_run: str, expected: str) -> None:
    s = _state(
        ("python /testbed/first.py", "ok"),
        (earlier_run, "ok"),
        ("str_replace_editor create /testbed/reproduce.py --file_text 'print(1)'",
         "File created successfully at: /testbed/reproduce.py"),
    )
    assert _fill("created_py:python_own:1", s) == expected


def test_python_own_is_unfillable_before_any_script_ran() -> None:
    s = _state(("str_replace_editor create /testbed/reproduce.py --file_text 'print(1)'",
                "File created successfully at: /testbed/reproduce.py"))
    assert _fill("created_py:python_own:1", s) is None
    assert _fill("created_py:python_abs:1", s) == "python /testbed/reproduce.py"


def test_rerun_the_last_run_command() -> None:
    s = _state(
        ("cd /testbed && python -m pytest tests/test_x.py", "1 failed"),
        ("str_replace_editor str_replace /testbed/x.py --old_str a --new_str b", "The file /testbed/x.py has been edited."),
    )
    assert _fill("runs:cmd:1", s) == "cd /testbed && python -m pytest tests/test_x.py"
    assert _fill("runs:cmd:2", s) is None  # only one earlier run: unfillable


def test_view_search_hit_and_its_line_window() -> None:
    s = _state(("grep -rn 'def foo' /testbed", "/testbed/a/b.py:42:def foo():\n/testbed/c.py:7:def foo(x):"))
    assert _fill("hits:sre_view:2", s) == "str_replace_editor view /testbed/c.py"
    assert _fill("line_hits:sre_range:5:20:1", s) == "str_replace_editor view /testbed/a/b.py --view_range 37 62"
    assert _fill("line_hits:aci_goto:2", s) == "goto 7"


def test_traceback_frame_innermost_first_skips_site_packages() -> None:
    tb = (
        "Traceback (most recent call last):\n"
        '  File "/testbed/reproduce.py", line 3, in <module>\n'
        '  File "/testbed/pkg/core.py", line 120, in run\n'
        '  File "/usr/lib/python3/site-packages/x.py", line 9, in y\n'
        "ValueError: boom"
    )
    s = _state(("python reproduce.py", tb))
    assert _fill("frames:sre_view:1", s) == "str_replace_editor view /testbed/pkg/core.py"
    assert _fill("frames:aci_open_line:2", s) == "open /testbed/reproduce.py 3"


def test_next_view_window_and_constants() -> None:
    s = _state(("str_replace_editor view /testbed/a.py  --view_range 120 180", "..."))
    assert _fill("view_window:sre_next:0:0:1", s) == "str_replace_editor view /testbed/a.py --view_range 180 240"
    assert _fill("const:submit", s) == "submit"


def test_search_file_lines_give_goto() -> None:
    s = _state(('search_file "realize" Foo.java', 'Found 2 matches for "realize" in /x/Foo.java:\nLine 95:  a\nLine 102:  b\nEnd of matches'))
    assert _fill("bare_lines:aci_goto:2", s) == "goto 102"


def test_unknown_or_malformed_template_names_are_refused() -> None:
    for bad in ("nosuch:cmd:1", "runs:sre_range:1", "runs:cmd:x", "line_hits:sre_range:1"):
        with pytest.raises(HiveModelFileError):
            parse_template(bad)


def test_mining_keeps_templates_seen_in_enough_runs() -> None:
    examples = []
    for run in ("r1", "r2", "r3"):
        s = _state(("python reproduce.py", "boom"), ("str_replace_editor str_replace /testbed/x.py --old_str a --new_str b", "edited"))
        examples.append((run, state_facts(s), "python reproduce.py"))
    examples.append(("r4", state_facts(_state(("ls", "a"))), "cat weird.txt"))
    names = [t.name for t in mine_templates(examples, min_runs=3)]
    assert "runs:cmd:1" in names
    assert "const:python reproduce.py" in names
    assert "const:cat weird.txt" not in names


def test_template_set_fillable_mask_matches_fill() -> None:
    ts = TemplateSet([parse_template(n) for n in ("runs:cmd:1", "runs:cmd:2", "const:submit", "hits:sre_view:1")])
    facts = state_facts(_state(("python a.py", "x")))
    cands = ts.candidates(facts)
    mask = ts.fillable(cands)
    assert mask.tolist() == [True, False, True, False]
    assert [ts.fill(i, facts, cands) is not None for i in range(len(ts))] == mask.tolist()
    assert isinstance(ts.templates[2], Template)
