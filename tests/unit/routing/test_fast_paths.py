"""The fast feature paths give exactly the features and decisions of the plain definitions."""

from __future__ import annotations

import itertools
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from hive_middleware.routing import facts, features
from hive_middleware.routing.encode import encode_state
from hive_middleware.routing.policy import default_model_dir, load_policy
from hive_middleware.routing.templates import TemplateSet
from hive_middleware.trajectories import Trajectory, read_trajectory

_DEFINED_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+|[^\sA-Za-z_0-9]")


def _reference_hashed(text: str, buckets: int, salt: int) -> tuple[int, ...]:
    """The n-gram bucket definition, written plainly."""
    hashes = [zlib.crc32(t.encode("utf-8", "surrogatepass")) for t in _DEFINED_TOKEN.findall(text.lower())]
    out = {(h ^ salt) % buckets for h in hashes}
    out.update(((a * 1_000_003) ^ b ^ (salt * 7)) % buckets for a, b in itertools.pairwise(hashes))
    return tuple(sorted(out))


def _hashed_alone(text: str, buckets: int, salt: int) -> tuple[int, ...]:
    """The fast path's buckets of ``text`` alone in the block of its salt (1 observation, 2 thought, 3 action)."""
    texts = ["", "", ""]
    texts[salt - 1] = text
    layout = (buckets, 5, buckets, 5, buckets, 5)
    return tuple(b - 5 for b in sorted(set(features._hashed_step(*texts, layout).tolist())))


@pytest.fixture(scope="module")
def mixed_runs(shared_data: Path) -> list[Trajectory]:
    """Two runs from each trajectory folder (both tool dialects, Python and Java)."""
    runs: list[Trajectory] = []
    for folder in sorted((shared_data / "trajectories").iterdir()):
        if folder.is_dir():
            runs += [read_trajectory(f) for f in sorted(folder.glob("*.traj"))[:2]]
    return runs


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "a b",
        'Traceback (most recent call last):\n  File "/repo/x.py", line 3, in <module>\n' * 8,
        "naïve café ÅNGSTRÖM ＦＵＬＬ width ٣٤ digits\u00a0nbsp \u2028 sep " * 6,
        "lone surrogate \ud800 and emoji \U0001f600 " * 10,
        "İSTANBUL \u212a KELVIN ẞ ΣΑΣ ǅ Ⅻ " * 8,
        " ".join(f"tok{i}" for i in range(200)),
    ],
)
@pytest.mark.parametrize(("buckets", "salt"), [(96, 1), (64, 2), (32, 3)])
def test_fast_hashing_equals_the_definition(text: str, buckets: int, salt: int) -> None:
    features._hashed_step.cache_clear()
    features._TOKEN_CRC.clear()
    expected = _reference_hashed(text, buckets, salt)
    assert _hashed_alone(text, buckets, salt) == expected
    assert _hashed_alone(text, buckets, salt) == _reference_hashed(text, buckets, salt)  # from the caches


def _reference_step(obs: str, thought: str, action: str, layout: tuple[int, ...]) -> list[int]:
    """The hashed blocks of a step, each text hashed on its own, written plainly."""
    ids: set[int] = set()
    for k, text in enumerate((obs, thought, action)):
        buckets, offset = layout[2 * k], layout[2 * k + 1]
        ids.update(offset + b for b in _reference_hashed(text, buckets, k + 1))
    return sorted(ids)


def test_one_pass_step_hashing_equals_three_separate_texts(mixed_runs: list[Trajectory]) -> None:
    layout = (96, 10, 64, 200, 32, 300)
    features._hashed_step.cache_clear()
    checked = 0
    for run in mixed_runs:
        for step in run.steps[:20]:
            for past in step.state.history[-1:]:
                texts = (past.observation[:900], (past.thought or "")[-600:], past.action[:300])
                got = features._hashed_step(*texts, layout).tolist()
                assert sorted(set(got)) == _reference_step(*texts, layout)
                checked += 1
    # Bigrams never span two texts, whichever texts are empty.
    for texts in (("a b", "", "c d"), ("", "x", ""), ("p", "q", "r"), ("", "", "")):
        assert sorted(set(features._hashed_step(*texts, layout).tolist())) == _reference_step(*texts, layout)
    assert checked > 100


def test_fast_hashing_equals_the_definition_on_real_steps(mixed_runs: list[Trajectory]) -> None:
    checked = 0
    for run in mixed_runs:
        for step in run.steps[:20]:
            for past in step.state.history[-1:]:
                for text, buckets, salt in (
                    (past.observation, 96, 1),
                    (past.thought or "", 64, 2),
                    (past.action, 32, 3),
                ):
                    assert _hashed_alone(text, buckets, salt) == _reference_hashed(text, buckets, salt)
                    checked += 1
    assert checked > 100


def test_fillability_matches_the_per_source_rule(mixed_runs: list[Trajectory]) -> None:
    model = load_policy(default_model_dir()).model
    tset: TemplateSet = model.templates
    for run in mixed_runs:
        for step in run.steps[:15]:
            enc = encode_state(step.state, tset, model.spec)
            expected = [t.k <= len(enc.cands[t.source]) for t in tset.templates]
            assert enc.fillable.tolist() == expected


def test_decisions_equal_with_and_without_fast_paths(
    mixed_runs: list[Trajectory], monkeypatch: pytest.MonkeyPatch
) -> None:
    states = [s.state for run in mixed_runs for s in run.steps[:25]]
    fast = load_policy(default_model_dir())
    fast_out = [fast.decide_with_type(s) for s in states]
    fast_x = [encode_state(s, fast.model.templates, fast.model.spec).x for s in states]
    # The plain definitions, caches emptied so nothing computed above is reused.
    features._hashed_step.cache_clear()
    monkeypatch.setattr(features, "_hashed_step", lambda *a: np.array(_reference_step(*a), dtype=np.intp))
    plain = load_policy(default_model_dir())
    plain_out = [plain.decide_with_type(s) for s in states]
    plain_x = [encode_state(s, plain.model.templates, plain.model.spec).x for s in states]
    for a, b in zip(fast_x, plain_x, strict=True):
        assert np.array_equal(a, b)
    assert [(d.action, d.template, d.escalated, d.reason, t) for d, t in fast_out] == [
        (d.action, d.template, d.escalated, d.reason, t) for d, t in plain_out
    ]
    assert any(not d.escalated for d, _ in fast_out)  # the comparison covers answered states too


def test_cached_fills_and_index_vector_equal_the_plain_paths(mixed_runs: list[Trajectory]) -> None:
    model = load_policy(default_model_dir()).model
    tset, spec = model.templates, model.spec
    n = len(tset)
    seen_cached = 0
    for _ in range(2):  # the second pass is served from the fill cache
        for run in mixed_runs:
            for step in run.steps[:25]:
                state = step.state
                enc = encode_state(state, tset, spec)
                facts = enc.facts
                for i, t in enumerate(tset.templates):
                    expected = t.fill(facts) if enc.fillable[i] else None
                    assert enc.fills[i] == expected
                    assert enc.norms[i] == (tset.match(expected, facts.cwd) if expected is not None else None)
                seen_cached += sum(f is not None for f in enc.fills)
                past = {tset.match(a, facts.cwd) for a in facts.past_actions}
                last = tset.match(facts.last_action, facts.cwd) if facts.last_action else None
                executed = np.array([nm is not None and nm in past for nm in enc.norms], dtype=np.float32)
                repeat = np.array([nm is not None and nm == last for nm in enc.norms], dtype=np.float32)
                tail = state.history[-1] if state.history else None
                x = spec.vector(
                    facts,
                    (tail.action, tail.observation, tail.thought or "") if tail else None,
                    state.step_index,
                    enc.fillable,
                    {k: len(v) for k, v in enc.cands.items()},
                    executed,
                    repeat,
                )
                assert np.array_equal(x, enc.x)
                assert enc.allowed.tolist() == [*enc.fillable.tolist(), True]
    assert seen_cached > n


def _reference_signals(obs: str, kind: str) -> frozenset[str]:
    """Observation signals from the word lists of :mod:`~hive_middleware.routing.facts`, written plainly."""
    head = obs[: facts._SIGNAL_CHARS]
    tail = obs[-facts._SIGNAL_CHARS :] if len(obs) > facts._SIGNAL_CHARS else ""
    text = head + tail
    low = text.lower()
    start = low[:400]
    checks = {
        "empty": not obs.strip(),
        "traceback": any(
            w in text for w in ("Traceback (most recent call last)", "\tat ", "Exception in thread")
        ),
        "error": any(w in low for w in ("error", "exception")),
        "tests_failed": any(w in low for w in (" failed", "failures", "build failure", "assertionerror")),
        "tests_passed": any(w in low for w in (" passed", "ok (", "build success", "failures: 0")),
        "file_created": "created successfully" in head or (kind == "create" and "[File:" in head),
        "file_edited": "has been edited" in head or (kind == "edit" and "[File:" in head),
        "no_matches": kind in {"search", "find"}
        and (not obs.strip() or any(w in start for w in facts._NO_MATCH_WORDS)),
        "not_found": any(w in start for w in facts._NOT_FOUND_WORDS),
        "syntax_error": any(w in low for w in facts._SYNTAX_WORDS),
        "long": len(obs) > 4_000,
        "success_word": any(w in low for w in facts._SUCCESS_WORDS),
        "command_not_found": "command not found" in head,
        "view_listing": "result of running `cat -n`" in head or head.startswith("[File:"),
        "edit_failed": any(w in start for w in facts._EDIT_FAILED_WORDS),
    }
    return frozenset(name for name, hit in checks.items() if hit)


def test_signal_tests_equal_the_word_lists(mixed_runs: list[Trajectory]) -> None:
    observations = [s.observation for run in mixed_runs for s in run.steps]
    observations += [
        "",
        "   \n",
        "Found 0 matches: No matches found for x",
        "x" * 5_000 + " 3 FAILED, 2 passed " + "y" * 2_000,
        "Error: cannot find symbol\n\tat Foo.bar(Foo.java:3)\nBUILD FAILURE",
        "[File: /a.py (3 lines total)]\nYour proposed edit has introduced new syntax error(s)",
    ]
    kinds = ("search", "find", "create", "edit", "run", "other")
    checked = 0
    for obs in observations:
        for kind in kinds:
            assert facts._signals("", obs, kind) == _reference_signals(obs, kind)
            checked += 1
    assert checked > 1_000
