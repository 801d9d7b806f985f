"""Habit signatures: a coarse-to-fine ladder read from the state before the step only."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.routing.facts import state_facts
from hive_middleware.routing.signature import (
    RUNGS,
    START_SIGNATURE,
    signature_rung,
    state_signature,
    state_signatures,
)
from hive_middleware.types import AgentState, Step

CWD = {"working_dir": "/testbed"}
CREATED = "File created successfully at: {}"


def _ladder(*steps: tuple[str, str]) -> tuple[str, ...]:
    state = AgentState(goal="fix it", history=tuple(Step(a, o) for a, o in steps), step_index=len(steps), env=CWD)
    return state_signatures(state_facts(state))


def test_each_rung_extends_the_one_before() -> None:
    ladder = _ladder(("python /testbed/a.py", "ok"),
                     ("str_replace_editor create /testbed/r.py --file_text x", CREATED.format("/testbed/r.py")))
    assert len(ladder) == len(RUNGS)
    assert ladder[0] == "create/file_created"
    assert ladder[1] == "create/file_created/own/1/abs"
    for coarse, fine in itertools.pairwise(ladder):
        assert fine.startswith(coarse + "/")
    assert [signature_rung(s) for s in ladder] == [0, 1, 2]
    assert state_signature(state_facts(AgentState("g", env=CWD))) == START_SIGNATURE == _ladder()[0]


def test_an_own_script_at_the_top_differs_from_a_file_inside_a_folder() -> None:
    top = _ladder(("str_replace_editor create /testbed/r.py --file_text x", CREATED.format("/testbed/r.py")))
    nested = _ladder(("str_replace_editor create /testbed/app/models.py --file_text x",
                      CREATED.format("/testbed/app/models.py")))
    assert top[1].split("/")[2] == "own" and nested[1].split("/")[2] == "nested"


def test_a_view_is_described_by_its_shape_not_by_words_in_the_file() -> None:
    text = "Here's the result of running `cat -n` on /testbed/x.py:\n     1\traise ValueError('error: bad')\n"
    plain = "Here's the result of running `cat -n` on /testbed/x.py:\n     1\tx = 1\n"
    assert _ladder(("str_replace_editor view /testbed/x.py", text))[0] == "view/file"
    assert _ladder(("str_replace_editor view /testbed/x.py", plain))[0] == "view/file"
    assert _ladder(("str_replace_editor view /testbed/x.py --view_range 1 2", text))[0] == "view/range"
    folder = "Here's the files and directories up to 2 levels deep in /testbed, excluding hidden items:\n/testbed/a"
    assert _ladder(("str_replace_editor view /testbed", folder))[0] == "view/dir"
    abridged = "<NOTE>This file is too large to display entirely. Showing abbreviated version.</NOTE>\n  1 x"
    assert _ladder(("str_replace_editor view /testbed/big.py", abridged))[0] == "view/abridged"
    window = "[File: /r/A.java (300 lines total)]\n1:class A {\n(200 more lines below)"
    assert _ladder(("open A.java", window))[0] == "open/window"
    assert _ladder(("scroll_down", "[File: /r/A.java (300 lines total)]\n(290 more lines above)\n300:}"))[0] == (
        "scroll/window_end"
    )


def test_the_fine_rung_tells_a_loop_and_the_run_target() -> None:
    grep = ("grep -n foo /testbed/x.py", "")
    looping = _ladder(grep, grep)[-1].split("/")
    once = _ladder(("ls", "x.py"), grep)[-1].split("/")
    assert looping[5] == "loop" and once[5] == "-"
    edit = ("str_replace_editor str_replace /testbed/r.py --old_str a --new_str b", "The file /testbed/r.py has been edited.")
    ran = _ladder(("python /testbed/r.py", "boom"), edit)[-1].split("/")
    other = _ladder(("python /testbed/s.py", "boom"), edit)[-1].split("/")
    assert ran[6] == "target" and other[6] == "-"


def test_foreign_signatures_have_no_rung() -> None:
    assert signature_rung("prior/0.9") is None
    assert signature_rung("view/a/b") is None


_ACTIONS = st.sampled_from([
    "python /testbed/r.py", "cd /testbed && python r.py", "submit", "ls", "grep -n x /testbed/a.py",
    "str_replace_editor view /testbed/a.py", "str_replace_editor create /testbed/r.py --file_text x",
    "str_replace_editor str_replace /testbed/a.py --old_str a --new_str b",
])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_ACTIONS, st.text(max_size=40)), min_size=1, max_size=6))
def test_every_history_gives_a_well_formed_ladder(history: list[tuple[str, str]]) -> None:
    ladder = _ladder(*history)
    assert [signature_rung(s) for s in ladder] == list(range(len(RUNGS)))
    for coarse, fine in itertools.pairwise(ladder):
        assert fine.startswith(coarse + "/")
    # The coarse rung reads the previous step only: an older step in front changes nothing there.
    assert _ladder(("ls", "x"), *history)[0] == ladder[0]
