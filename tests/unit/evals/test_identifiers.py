"""Identifier extraction for identifier_retention, on excerpts of real trajectories."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.evals.identifiers import (
    action_identifiers,
    extract_identifiers,
    occurs_in,
    strip_interface_words,
)
from hive_middleware.trajectories import read_trajectory

# Excerpts copied from ../shared/data/trajectories observations and actions.
TRACEBACK = (
    "Traceback (most recent call last):\r\n"
    '  File "/testbed/reproduce.py", line 12, in <module>\r\n'
    "    print(separability_matrix(nested_model))\r\n"
    '  File "/testbed/astropy/modeling/separable.py", line 100, in separability_matrix\r\n'
    "    separable_matrix = _separable(transform)\r\n"
    "ValueError: operands could not be broadcast together"
)
SEARCH_0X = (
    'Found 2 matches for "LocalDateTime" in /apache__dubbo/dubbo-common/src/main/java/org/apache/dubbo/'
    "common/utils/PojoUtils.java:\nLine 135:        if (pojo instanceof LocalDateTime) {\n"
    'End of matches for "LocalDateTime" in /apache__dubbo/dubbo-common/src/main/java/org/apache/dubbo/'
    "common/utils/PojoUtils.java"
)
GREP_1X = "/testbed/astropy/modeling/core.py:2894:class CompoundModel(Model):\r\n"


def test_paths_and_traceback_lines() -> None:
    ids = extract_identifiers(TRACEBACK)
    assert {
        "/testbed/reproduce.py",
        "/testbed/reproduce.py:12",
        "/testbed/astropy/modeling/separable.py",
        "/testbed/astropy/modeling/separable.py:100",
    } <= ids
    assert {"separability_matrix", "nested_model", "separable_matrix", "_separable", "ValueError"} <= ids
    assert not {"Traceback", "recent", "line", "print", "operands"} & ids


def test_grep_hit_gives_path_line_and_symbols() -> None:
    ids = extract_identifiers(GREP_1X)
    assert {
        "/testbed/astropy/modeling/core.py",
        "/testbed/astropy/modeling/core.py:2894",
        "CompoundModel",
    } <= ids
    assert "Model" not in ids  # a plain capitalised word is not a symbol


def test_0x_search_output_and_java_names() -> None:
    ids = extract_identifiers(SEARCH_0X)
    assert "/apache__dubbo/dubbo-common/src/main/java/org/apache/dubbo/common/utils/PojoUtils.java" in ids
    assert "LocalDateTime" in ids
    java = extract_identifiers("import org.apache.dubbo.common.utils.PojoUtils; PojoUtils.generalize(x)")
    assert {"org.apache.dubbo.common.utils.PojoUtils", "PojoUtils", "PojoUtils.generalize"} <= java


def test_file_names_dotted_names_and_prose() -> None:
    ids = extract_identifiers("Edit core.py:120 then run reproduce.py; see np.array, e.g. version 1.2.3.")
    assert {"core.py", "core.py:120", "reproduce.py", "np.array"} <= ids
    assert "reproduce" not in ids and "e.g" not in ids and "Edit" not in ids
    assert extract_identifiers("The quick brown fox; JSON and Python are words.") == set()
    assert extract_identifiers("a getValue call in HTTPServer") == {"getValue", "HTTPServer"}


def test_occurs_in_respects_name_boundaries() -> None:
    assert occurs_in("core.py", "/testbed/astropy/modeling/core.py:12")
    assert not occurs_in("Model", "class CompoundModel(Model_x)")
    assert occurs_in("Model", "class CompoundModel(Model):")
    assert not occurs_in("", "anything")


def test_action_identifiers_are_those_seen_before_without_interface_words() -> None:
    action = "str_replace_editor view /testbed/astropy/modeling/core.py  --view_range 2890 2900"
    assert strip_interface_words(action).split() == ["/testbed/astropy/modeling/core.py", "2890", "2900"]
    assert action_identifiers(action, [GREP_1X]) == {"/testbed/astropy/modeling/core.py"}
    assert action_identifiers(action, ["nothing relevant"]) == set()
    edit = (
        "edit 135:135\n        if (pojo instanceof LocalDateTime || pojo instanceof LocalDate) {\nend_of_edit"
    )
    assert action_identifiers(edit, [SEARCH_0X]) == {"LocalDateTime"}
    assert action_identifiers('find_file "PojoUtils.java"', ["find_file search_dir"]) == set()


@given(st.text(max_size=300))
def test_extraction_never_fails_and_every_identifier_occurs(text: str) -> None:
    for ident in extract_identifiers(text):
        base = ident.rsplit(":", 1)[0] if ident.rsplit(":", 1)[-1].isdigit() else ident
        assert base in text


def test_real_run_has_reused_identifiers(shared_data: Path) -> None:
    folder = shared_data / "trajectories" / "sweagent_lm32b_swebv"
    traj = read_trajectory(folder / "astropy__astropy-12907.traj")
    observations: list[str] = []
    used = 0
    for step in traj.steps:
        used += len(action_identifiers(step.action, observations))
        observations.append(step.observation)
    assert used > 5
    viewed = next(s for s in traj.steps if s.action.startswith("str_replace_editor view /testbed/astropy"))
    earlier = [s.observation for s in traj.steps[: viewed.index]]
    assert "/testbed/astropy/modeling/separable.py" in action_identifiers(viewed.action, earlier)
