"""Random corruptions of real files: the readers keep every usable record and count what they skip.

Small slices of ``../shared/data`` (the smallest ``.traj`` run of a 1.x and of a
0.x folder, one LoCoMo conversation cut to three sessions) are corrupted at
random: a field deleted or replaced by an arbitrary JSON value, a record
replaced, the bytes truncated or spliced. An intact copy sits beside each
corrupted one: it is always read in full, the corrupted one is read in part or
skipped, only :class:`~hive_middleware.errors.HiveDataError` ever escapes, and
a deleted required field is always counted in ``skipped``.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveDataError
from hive_middleware.evals.locomo import read_locomo
from hive_middleware.skipped import SkippedRecords
from hive_middleware.trajectories import iter_trajectories, read_trajectory

_counter = itertools.count()
_quiet = {"settings": settings(max_examples=40, derandomize=True, database=None, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])}
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=5,
)


def _smallest(folder: Path) -> Path:
    return min(folder.glob("*.traj"), key=lambda p: p.stat().st_size)


@pytest.fixture(scope="module")
def real_runs(shared_data: Path) -> list[tuple[Path, dict[str, Any]]]:
    folders = [shared_data / "trajectories" / "sweagent_lm32b_swebv",
               shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"]
    runs = [_smallest(f) for f in folders if f.is_dir()]
    if not runs:
        pytest.skip("no trajectory folders in the shared data")
    return [(p, json.loads(p.read_text())) for p in runs]


@pytest.fixture(scope="module")
def real_conversation(shared_data: Path) -> dict[str, Any]:
    path = shared_data / "locomo" / "locomo_dev.json"
    if not path.is_file():
        pytest.skip("no LoCoMo file in the shared data")
    sample = json.loads(path.read_text())[0]
    conv = sample["conversation"]
    keep = {k: v for k, v in conv.items() if not k.startswith("session_") or k.split("_")[1] in {"1", "2", "3"}}
    ids = {t["dia_id"] for n in ("1", "2", "3") for t in conv.get(f"session_{n}", [])}
    qa = [q for q in sample["qa"] if q.get("evidence") and set(q["evidence"]) <= ids][:12]
    return {**sample, "conversation": keep, "qa": qa}


def _corrupt_traj(doc: dict[str, Any], data: st.DataObject) -> tuple[dict[str, Any] | bytes, bool]:
    """A corrupted copy of a run, and whether a required step field was deleted."""
    bad = copy.deepcopy(doc)
    how = data.draw(st.sampled_from(["delete", "replace", "step", "history", "top", "bytes"]))
    steps = bad["trajectory"]
    if how in ("delete", "replace"):
        i = data.draw(st.integers(0, len(steps) - 1))
        name = data.draw(st.sampled_from(["action", "observation", "thought", "state"]))
        if how == "delete":
            steps[i].pop(name, None)
            return bad, name in ("action", "observation")
        steps[i][name] = data.draw(json_value)
    elif how == "step":
        steps[data.draw(st.integers(0, len(steps) - 1))] = data.draw(json_value)
    elif how == "history" and bad.get("history"):
        bad["history"][data.draw(st.integers(0, len(bad["history"]) - 1))] = data.draw(json_value)
    elif how == "top":
        bad[data.draw(st.sampled_from(["trajectory", "history", "info"]))] = data.draw(json_value)
    else:
        blob = json.dumps(doc).encode()
        cut = data.draw(st.integers(0, len(blob)))
        return blob[:cut] + data.draw(st.binary(max_size=6)), False
    return bad, False


@_quiet["settings"]
@given(data=st.data())
def test_corrupted_real_runs_are_read_in_part_or_skipped(
    tmp_path_factory: pytest.TempPathFactory, real_runs: list[tuple[Path, dict[str, Any]]], data: st.DataObject
) -> None:
    source, doc = data.draw(st.sampled_from(real_runs))
    folder = tmp_path_factory.mktemp(f"runs{next(_counter)}")
    (folder / "intact.traj").write_text(json.dumps(doc))
    bad, deleted_required = _corrupt_traj(doc, data)
    target = folder / "corrupted.traj"
    target.write_bytes(bad if isinstance(bad, bytes) else json.dumps(bad).encode())
    lines: list[str] = []
    skips = SkippedRecords(lines.append)
    runs = {run.run_id: run for run in iter_trajectories([folder], skips=skips)}
    assert len(runs["intact"].steps) == len(doc["trajectory"])
    if "corrupted" in runs:
        assert len(runs["corrupted"].steps) <= len(doc["trajectory"])
    if deleted_required or "corrupted" not in runs:
        assert skips.total >= 1
    assert len(lines) == skips.total and all("\n" not in line for line in lines)
    assert source.name  # the slice came from the real data


@_quiet["settings"]
@given(data=st.data())
def test_a_real_run_without_any_usable_step_is_refused(
    tmp_path_factory: pytest.TempPathFactory, real_runs: list[tuple[Path, dict[str, Any]]], data: st.DataObject
) -> None:
    _, doc = data.draw(st.sampled_from(real_runs))
    bad = copy.deepcopy(doc)
    for step in bad["trajectory"]:
        step[data.draw(st.sampled_from(["action", "observation"]))] = data.draw(st.none() | st.integers())
    path = tmp_path_factory.mktemp(f"dead{next(_counter)}") / "x.traj"
    path.write_text(json.dumps(bad))
    with pytest.raises(HiveDataError, match="no usable step"):
        read_trajectory(path, skips=SkippedRecords(lambda _line: None))


def _corrupt_locomo(sample: dict[str, Any], data: st.DataObject) -> tuple[dict[str, Any], bool]:
    bad = copy.deepcopy(sample)
    bad["sample_id"] = f"{sample['sample_id']}-corrupted"
    conv, qa = bad["conversation"], bad["qa"]
    how = data.draw(st.sampled_from(["no-evidence", "empty-evidence", "qa-field", "turn-field", "date", "qa-item"]))
    i = data.draw(st.integers(0, len(qa) - 1))
    if how == "no-evidence":
        qa[i].pop("evidence", None)
        return bad, True
    if how == "empty-evidence":
        qa[i]["evidence"] = []
        return bad, True
    if how == "qa-field":
        qa[i][data.draw(st.sampled_from(["question", "category", "answer", "evidence"]))] = data.draw(json_value)
    elif how == "qa-item":
        qa[i] = data.draw(json_value)
    elif how == "turn-field":
        turns = conv["session_1"]
        turns[data.draw(st.integers(0, len(turns) - 1))][data.draw(st.sampled_from(["speaker", "dia_id", "text"]))] = (
            data.draw(st.none() | st.integers() | st.lists(st.text(max_size=2), max_size=2)))
    else:
        conv.pop(f"session_{data.draw(st.sampled_from(['1', '2', '3']))}_date_time", None)
        return bad, True
    return bad, False


@_quiet["settings"]
@given(data=st.data())
def test_corrupted_real_locomo_keeps_every_usable_record(
    tmp_path_factory: pytest.TempPathFactory, real_conversation: dict[str, Any], data: st.DataObject
) -> None:
    bad, must_skip = _corrupt_locomo(real_conversation, data)
    path = tmp_path_factory.mktemp(f"locomo{next(_counter)}") / "slice.json"
    path.write_text(json.dumps([real_conversation, bad]))
    skips = SkippedRecords(lambda _line: None)
    conversations = {c.sample_id: c for c in read_locomo(path, skips=skips)}
    intact = conversations[real_conversation["sample_id"]]
    assert len(intact.questions) == len(real_conversation["qa"])
    corrupted = conversations.get(bad["sample_id"])
    if corrupted is not None:
        assert len(corrupted.questions) <= len(real_conversation["qa"])
        assert len(corrupted.turns) <= len(intact.turns)
    if must_skip:
        assert skips.total >= 1
