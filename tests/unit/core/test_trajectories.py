"""The SWE-agent .traj reader: both formats, real files, generated and mutated files."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveDataError
from hive_middleware.skipped import SkippedRecords, recording_skips, skip_reason
from hive_middleware.trajectories import (
    count_trajectory_files,
    iter_trajectories,
    read_trajectory,
    trajectory_files,
)
from hive_middleware.types import validate_messages

_counter = itertools.count()

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


def _write(tmp: Path, doc: Any, name: str | None = None) -> Path:
    path = tmp / (name or f"run-{next(_counter)}.traj")
    path.write_text(json.dumps(doc))
    return path


@st.composite
def trajectories(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed .traj document in the 0.x or the 1.x layout."""
    version = draw(st.sampled_from(["0.x", "1.x"]))
    n = draw(st.integers(min_value=0, max_value=6))
    steps = []
    history: list[dict[str, Any]] = [{"role": "system", "content": draw(text)}]
    if version == "1.x":
        history[0]["message_type"] = "system_prompt"
    if version == "0.x":
        history.append({"role": "user", "content": "demo " + draw(text), "is_demo": True})
    history.append({"role": "user", "content": "ISSUE " + draw(text)})
    for i in range(n):
        action, observation, thought = draw(text), draw(text), draw(text)
        cwd = "/repo/" + draw(st.text(alphabet="abc", min_size=1, max_size=4))
        state: Any = {"working_dir": cwd, "open_file": f"{cwd}/F{i}.java"}
        if version == "0.x":
            state = json.dumps(state)
        steps.append({"action": action, "observation": observation, "thought": thought, "state": state})
        asst: dict[str, Any] = {"role": "assistant", "content": f"{thought}\n{action}", "action": action}
        obs: dict[str, Any] = {
            "role": "user",
            "content": ("OBSERVATION:\n" if version == "1.x" else "") + observation,
        }
        if version == "1.x":
            asst["message_type"] = "action"
            obs["message_type"] = "observation"
        history += [asst, obs]
    return {
        "trajectory": steps,
        "history": history,
        "info": {
            "exit_status": draw(st.sampled_from(["submitted", "exit_cost", None])),
            "submission": draw(text),
        },
        "_version": version,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=trajectories())
def test_generated_trajectories_round_trip(tmp_path: Path, doc: dict[str, Any]) -> None:
    version = doc.pop("_version")
    traj = read_trajectory(_write(tmp_path, doc))
    assert traj.format_version == version
    assert traj.system_prompt == doc["history"][0]["content"]
    assert traj.instance_prompt.startswith("ISSUE ")
    assert traj.exit_status == doc["info"]["exit_status"]
    assert len(traj.steps) == len(doc["trajectory"])
    for i, step in enumerate(traj.steps):
        raw = doc["trajectory"][i]
        assert (step.index, step.action, step.observation, step.thought) == (
            i,
            raw["action"],
            raw["observation"],
            raw["thought"],
        )
        assert step.state.step_index == i
        assert step.state.goal == traj.instance_prompt
        assert [h.action for h in step.state.history] == [s["action"] for s in doc["trajectory"][:i]]
        if i > 0:
            prev = doc["trajectory"][i - 1]["state"]
            prev = json.loads(prev) if isinstance(prev, str) else prev
            assert dict(step.state.env) == prev
        else:
            assert dict(step.state.env) == {}
        msgs = step.messages
        validate_messages(msgs)
        # system + instance prompt (demo skipped) + two messages per earlier step
        assert len(msgs) == 2 + 2 * i
        assert all(str(m["content"])[:5] != "demo " for m in msgs)
        assert [m["content"] for m in msgs[3::2]] == [
            m["content"] for m in doc["history"] if m["role"] == "user" and not m.get("is_demo")
        ][1 : i + 1]


def _mutations(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(expected field in the error, mutated document) pairs; each must be refused."""
    out: list[tuple[str, Any]] = [
        ("<top level>", [doc]),
        ("trajectory", {k: v for k, v in doc.items() if k != "trajectory"}),
    ]
    bad = copy.deepcopy(doc)
    bad["trajectory"] = {"0": 1}
    out.append(("trajectory", bad))
    bad = copy.deepcopy(doc)
    bad["history"] = "nope"
    out.append(("history", bad))
    bad = copy.deepcopy(doc)
    bad["info"] = ["x"]
    out.append(("info", bad))
    bad = copy.deepcopy(doc)
    bad["info"]["exit_status"] = 3
    out.append(("info.exit_status", bad))
    if doc["trajectory"]:
        for name in ("action", "observation"):
            bad = copy.deepcopy(doc)
            del bad["trajectory"][-1][name]
            out.append((f"trajectory[{len(doc['trajectory']) - 1}].{name}", bad))
            bad = copy.deepcopy(doc)
            bad["trajectory"][0][name] = ["x"]
            out.append((f"trajectory[0].{name}", bad))
        bad = copy.deepcopy(doc)
        bad["trajectory"][0]["thought"] = 7
        out.append(("trajectory[0].thought", bad))
        bad = copy.deepcopy(doc)
        bad["trajectory"][0]["state"] = "{not json"
        out.append(("trajectory[0].state", bad))
        bad = copy.deepcopy(doc)
        bad["trajectory"][0]["state"] = 12
        out.append(("trajectory[0].state", bad))
        bad = copy.deepcopy(doc)
        bad["trajectory"][0] = "step"
        out.append(("trajectory[0]", bad))
    bad = copy.deepcopy(doc)
    del bad["history"][0]["role"]
    out.append(("history[0].role", bad))
    bad = copy.deepcopy(doc)
    bad["history"][0]["content"] = {"a": 1}
    out.append(("history[0].content", bad))
    bad = copy.deepcopy(doc)
    bad["history"][1] = None
    out.append(("history[1]", bad))
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=trajectories())
def test_mutated_trajectories_are_refused_or_skipped_naming_the_field(tmp_path: Path, doc: dict[str, Any]) -> None:
    """A file that cannot be a run raises naming the field; a bad step, message or info field is
    skipped, counted under its reason and warned about in one line naming the file and the field."""
    doc.pop("_version")
    for expected_field, bad in _mutations(doc):
        path = _write(tmp_path, bad)
        lines: list[str] = []
        skips = SkippedRecords(lines.append)
        try:
            read_trajectory(path, skips=skips)
        except HiveDataError as exc:
            # The whole file is refused: a top-level defect, or its only steps were all malformed.
            assert exc.fields["field"] in (expected_field, "trajectory")
            assert path.name in exc.message
            if exc.fields["field"] == expected_field:
                assert expected_field in exc.message
                continue
        generic = skip_reason(expected_field, "x").rsplit(":", 1)[0]
        assert any(reason.startswith(generic) for reason in skips.counts), (expected_field, skips.counts)
        assert any(path.name in line and expected_field in line and "\n" not in line for line in lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=trajectories(), data=st.data())
def test_random_corruption_only_ever_raises_data_errors(
    tmp_path: Path, doc: dict[str, Any], data: st.DataObject
) -> None:
    doc.pop("_version")
    blob = json.dumps(doc).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    junk = data.draw(st.binary(max_size=8))
    path = tmp_path / f"c-{next(_counter)}.traj"
    path.write_bytes(blob[:cut] + junk + blob[cut + len(junk) :])
    with contextlib.suppress(HiveDataError):
        read_trajectory(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | text,
        lambda c: st.lists(c) | st.dictionaries(text, c),
        max_leaves=8,
    ),
    slot=st.sampled_from(["trajectory", "history", "info", "step", "state", "message"]),
)
def test_arbitrary_json_values_in_any_slot_never_crash(tmp_path: Path, value: Any, slot: str) -> None:
    doc: dict[str, Any] = {
        "trajectory": [{"action": "ls", "observation": "a", "state": {}}],
        "history": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "info": {},
    }
    if slot == "step":
        doc["trajectory"][0] = value
    elif slot == "state":
        doc["trajectory"][0]["state"] = value
    elif slot == "message":
        doc["history"][1] = value
    else:
        doc[slot] = value
    with contextlib.suppress(HiveDataError):
        read_trajectory(_write(tmp_path, doc))


def test_a_step_without_action_is_skipped_with_a_precise_warning(tmp_path: Path) -> None:
    doc = {"trajectory": [{"action": "ls", "observation": ""}] * 3 + [{"observation": "x"}], "history": []}
    path = _write(tmp_path, doc, "x.traj")
    lines: list[str] = []
    skips = SkippedRecords(lines.append)
    run = read_trajectory(path, skips=skips)
    assert len(run.steps) == 3
    assert skips.counts == {"trajectory[].action: is missing": 1}
    assert lines == ["skipped x.traj: trajectory[3].action is missing"]


def test_a_file_whose_steps_are_all_malformed_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, {"trajectory": [{"observation": "x"}, 5]}, "x.traj")
    with pytest.raises(HiveDataError, match=r"^x\.traj: trajectory has no usable step"):
        read_trajectory(path, skips=SkippedRecords(lambda _line: None))


def test_iter_trajectories_skips_bad_files_and_fails_only_when_none_is_usable(tmp_path: Path) -> None:
    good = {"trajectory": [{"action": "ls", "observation": "a"}], "history": []}
    _write(tmp_path, good, "a.traj")
    (tmp_path / "b.traj").write_text("{not json")
    _write(tmp_path, {"history": []}, "c.traj")
    with recording_skips(lambda _line: None) as skips:
        runs = list(iter_trajectories([tmp_path]))
    assert [r.run_id for r in runs] == ["a"]
    assert skips.counts == {"<file>: is not valid JSON": 1, "trajectory: is missing": 1}
    (tmp_path / "a.traj").write_text("[]")
    with pytest.raises(HiveDataError, match=r"no usable trajectory in .*all 3 \.traj files are malformed"):
        list(iter_trajectories([tmp_path], skips=SkippedRecords(lambda _line: None)))


def test_history_that_stops_early_is_rebuilt_in_the_runs_format(tmp_path: Path) -> None:
    steps = [
        {"action": "ls", "observation": "a.py", "thought": "look", "state": {"working_dir": "/r"}},
        {"action": "cat a.py", "observation": "print(1)", "thought": "read", "state": {"working_dir": "/r"}},
        {"action": "submit", "observation": "", "thought": "", "state": {}},
    ]
    history = [
        {"role": "system", "content": "sys", "message_type": "system_prompt"},
        {"role": "user", "content": "task", "message_type": "observation"},
        {"role": "assistant", "content": "look ls", "action": "ls", "message_type": "action"},
        {"role": "user", "content": "OBSERVATION:\na.py", "message_type": "observation"},
    ]
    traj = read_trajectory(_write(tmp_path, {"trajectory": steps, "history": history}))
    msgs = traj.steps[2].messages
    assert [m["content"] for m in msgs] == [
        "sys",
        "task",
        "look ls",
        "OBSERVATION:\na.py",
        "read\ncat a.py",
        "OBSERVATION:\nprint(1)",
    ]
    msgs[0]["content"] = "changed"
    assert traj.steps[2].messages[0]["content"] == "sys"


def test_paths_folders_and_metadata(tmp_path: Path) -> None:
    doc = {"trajectory": [], "history": []}
    _write(tmp_path, doc, "b.traj")
    _write(tmp_path, doc, "a.traj")
    (tmp_path / "_results.traj").write_text("not json")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in trajectory_files([tmp_path])] == ["a.traj", "b.traj"]
    assert count_trajectory_files([tmp_path, tmp_path / "a.traj"]) == 3
    runs = list(iter_trajectories([tmp_path]))
    assert [r.run_id for r in runs] == ["a", "b"] and runs[0].group == tmp_path.name
    with pytest.raises(HiveDataError, match="no such file"):
        trajectory_files([tmp_path / "missing"])
    with pytest.raises(HiveDataError, match=r"not a \.traj file"):
        trajectory_files([tmp_path / "notes.txt"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HiveDataError, match=r"no \.traj files"):
        trajectory_files([empty])


def _first_run(folder: Path) -> Path:
    return next(p for p in sorted(folder.glob("*.traj")) if not p.name.startswith("_"))


def test_real_0x_run(shared_data: Path) -> None:
    path = _first_run(shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13")
    traj = read_trajectory(path)
    assert traj.format_version == "0.x"
    assert traj.group == "msb_java_sweagent_gpt-4o-2024-05-13"
    assert traj.instance_prompt.startswith("We're currently solving the following issue")
    assert "DEMONSTRATION" not in "".join(str(m["content"]) for m in traj.steps[3].messages)
    step = traj.steps[1]
    assert step.state.env.get("working_dir", "").startswith("/")
    msgs = step.messages
    assert msgs[0]["role"] == "system" and msgs[1]["role"] == "user" and msgs[2]["role"] == "assistant"
    assert "(Current directory:" in str(msgs[3]["content"])
    assert traj.steps[0].action in str(msgs[2]["content"])


def test_real_1x_run(shared_data: Path) -> None:
    path = _first_run(shared_data / "trajectories" / "sweagent_lm32b_swebv")
    traj = read_trajectory(path)
    assert traj.format_version == "1.x"
    assert "<pr_description>" in traj.instance_prompt
    assert traj.steps[1].state.env == {"working_dir": "/testbed"}
    msgs = traj.steps[4].messages
    validate_messages(msgs)
    assert len(msgs) == 2 + 2 * 4
    assert str(msgs[3]["content"]).startswith("OBSERVATION:\n")
    assert traj.steps[3].observation.strip()[:40] in str(msgs[9]["content"])
    assert traj.exit_status and traj.submission
