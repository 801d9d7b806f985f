"""DISTILL on real observation excerpts (tests/fixtures/compression/distiller_samples.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.compression.content_types import ContentType
from hive_middleware.compression.distillers import (
    distill,
    distill_assistant_turn,
    distill_command_output,
    distill_search_results,
    distill_test_output,
)

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "compression" / "distiller_samples.jsonl"


def _samples(label: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    found = [r for r in rows if r["label"] == label]
    assert found, f"no {label} sample in the fixture"
    return found


@pytest.mark.parametrize("label", ["search_results", "command_output", "error_traceback", "file_view", "patch_diff", "test_output"])
def test_every_real_sample_gets_shorter(label: str) -> None:
    for row in _samples(label):
        out = distill(ContentType(label), row["observation"])
        assert out is not None
        assert len(out) < len(row["observation"])


def test_file_view_keeps_path_range_and_definitions() -> None:
    row = next(r for r in _samples("file_view") if "cat -n" in r["observation"])
    out = distill(ContentType.FILE_VIEW, row["observation"])
    assert out is not None
    assert out.startswith("[file view: /testbed/sympy/printing/str.py lines 100-150]")
    assert "100: def _print_Catalan(self, expr):" in out


def test_traceback_keeps_first_and_last_frame_and_the_error() -> None:
    row = next(r for r in _samples("error_traceback") if "reproduce_error.py" in r["observation"])
    out = distill(ContentType.ERROR_TRACEBACK, row["observation"])
    assert out is not None
    assert 'File "/testbed/reproduce_error.py", line 8, in <module>: gbrt.fit(X, y)' in out
    assert "arraysetops.py" in out  # the last frame
    assert "TypeError: '<' not supported between instances of 'str' and 'float'" in out


def test_real_unittest_output_keeps_counts_failures_and_error() -> None:
    out = distill_test_output(_samples("test_output")[0]["observation"])
    assert out is not None
    assert "FAILED (errors=1)" in out
    assert "ERROR: setUpClass (tests.utils_tests.test_autoreload.TestChildArguments)" in out
    assert "django.core.exceptions.ImproperlyConfigured" in out


def test_pytest_output_keeps_failing_ids_counts_and_frames() -> None:
    lines = ["============================= test session starts ==============================", "collected 40 items", ""]
    lines += [f"tests/test_m.py::test_ok_{i} PASSED" for i in range(38)]
    lines += [
        "tests/test_m.py::test_bad FAILED",
        "=================================== FAILURES ===================================",
        "___________________________________ test_bad ___________________________________",
        "tests/test_m.py:12: in test_bad",
        "    helper()",
        "src/m.py:40: in helper",
        "    raise ValueError('boom')",
        "E   ValueError: boom",
        "=========================== short test summary info ============================",
        "FAILED tests/test_m.py::test_bad - ValueError: boom",
        "========================= 1 failed, 38 passed in 0.52s =========================",
    ]
    out = distill_test_output("\n".join(lines))
    assert out is not None
    assert "1 failed, 38 passed" in out
    assert "FAILED tests/test_m.py::test_bad - ValueError: boom" in out
    assert "E   ValueError: boom" in out
    assert "tests/test_m.py:12: in test_bad" in out and "src/m.py:40: in helper" in out
    assert "test_ok_3" not in out


def test_search_results_become_deduplicated_trimmed_pointers() -> None:
    long_line = "x" * 300
    text = "\n".join([f"/r/a.py:10:{long_line}", f"/r/a.py:10:{long_line}", "/r/b.py:3:    def foo():"] + ["/r/c.py:1:z"] * 30)
    out = distill_search_results(text)
    assert out is not None
    assert out.count("/r/a.py:10:") == 1
    assert "/r/b.py:3: def foo():" in out
    assert "x" * 100 not in out


def test_long_command_output_keeps_head_tail_and_warnings() -> None:
    lines = [f"step {i}" for i in range(200)]
    lines[100] = "WARNING: disk almost full"
    lines[150] = "error: cannot open file /tmp/x"
    out = distill_command_output("\n".join(lines))
    assert out is not None
    assert out.startswith("step 0\n")
    assert out.endswith("step 199")
    assert "WARNING: disk almost full" in out and "error: cannot open file /tmp/x" in out
    assert "step 120" not in out


def test_assistant_turn_keeps_action_and_trims_long_arguments() -> None:
    body = "\n".join(f"line_{i} = {i}" for i in range(50))
    text = (
        "I will create the script now. It reproduces the bug.\n\n<function=str_replace_editor>\n"
        f"<parameter=command>create</parameter>\n<parameter=path>/t/r.py</parameter>\n<parameter=file_text>{body}</parameter>\n</function>"
    )
    out = distill_assistant_turn(text)
    assert out is not None
    assert out.startswith("I will create the script now.")
    assert "<parameter=path>/t/r.py</parameter>" in out
    assert "line_0 = 0" in out and "line_49 = 49" in out and "line_20 = 20" not in out


def test_nothing_to_gain_gives_none() -> None:
    assert distill(ContentType.COMMAND_OUTPUT, "ok") is None
    assert distill(ContentType.SYSTEM, "anything") is None
