"""Content-type rules: roles, observations in user messages, and the labelled real sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_middleware.compression.content_types import ContentType, classify_message, classify_output
from hive_middleware.compression.eval_classifier import eval_classifier, load_labelled
from hive_middleware.errors import HiveDataError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "compression" / "labelled_observations.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Here's the result of running `cat -n` on /a/b.py:\n     1\timport os\n     2\t", ContentType.FILE_VIEW),
        ("[File: /x/Foo.java (10 lines total)]\n1:class Foo {\n2:}\n", ContentType.FILE_VIEW),
        ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n", ContentType.PATCH_DIFF),
        ("===== test session starts =====\ncollected 3 items\n\nt.py ..F\n", ContentType.TEST_OUTPUT),
        ("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: x\n", ContentType.ERROR_TRACEBACK),
        ("/testbed/a.py:12:    def foo():\n/testbed/b.py:40:    foo()\n", ContentType.SEARCH_RESULTS),
        ("/testbed/a.py\n/testbed/pkg/b.py\n/testbed/pkg/c.py\n", ContentType.SEARCH_RESULTS),
        ("639:        obj.query.clear_ordering(force_empty=True)\n640:        obj.query.add_ordering()\n", ContentType.SEARCH_RESULTS),
        ("/bin/bash: line 3: mvn: command not found\n", ContentType.ERROR_TRACEBACK),
        ("Collecting pytest\nDownloading pytest.whl\nInstalling collected packages\nDone\n", ContentType.COMMAND_OUTPUT),
        ("", ContentType.OTHER),
        ("OBSERVATION:\n", ContentType.OTHER),
    ],
)
def test_output_rules(text: str, expected: ContentType) -> None:
    assert classify_output(text) is expected


def test_roles_decide_the_obvious_cases() -> None:
    assert classify_message({"role": "system", "content": "be brief"}) is ContentType.SYSTEM
    assert classify_message({"role": "user", "content": "Please fix the bug in x.py"}) is ContentType.USER_INSTRUCTION
    assert classify_message({"role": "assistant", "content": "I think the bug is in x."}) is ContentType.ASSISTANT_REASONING
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}
    assert classify_message(call) is ContentType.TOOL_CALL
    markup = "Let's look.\n\n<function=bash>\n<parameter=command>ls</parameter>\n</function>"
    assert classify_message({"role": "assistant", "content": markup}) is ContentType.TOOL_CALL
    fenced = "DISCUSSION\nOpen it.\n```\nopen x.py\n```"
    assert classify_message({"role": "assistant", "content": fenced}) is ContentType.TOOL_CALL


def test_observations_sent_as_user_messages_are_classified_by_content() -> None:
    v1 = "OBSERVATION:\nHere's the result of running `cat -n` on /t/a.py:\n     1\tx = 1\n"
    assert classify_message({"role": "user", "content": v1}) is ContentType.FILE_VIEW
    v0 = "Found 2 matches for \"foo\" in /r:\n/r/a.py (1 matches)\nEnd of matches\n(Open file: n/a)\n(Current directory: /r)\nbash-$"
    assert classify_message({"role": "user", "content": v0}) is ContentType.SEARCH_RESULTS
    tool = {"role": "tool", "tool_call_id": "1", "content": "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 1"}
    assert classify_message(tool) is ContentType.ERROR_TRACEBACK


def test_labelled_real_sample_precision_and_recall() -> None:
    rows = load_labelled(FIXTURE)
    assert len(rows) >= 300
    report = eval_classifier(rows)
    assert report["accuracy"] >= 0.95
    for name, scores in report["per_type"].items():
        if scores["support"] >= 10:
            assert scores["recall"] >= 0.85, name
            assert scores["precision"] >= 0.85, name
    heldout = eval_classifier([r for r in rows if r.get("split") == "heldout"])
    assert heldout["n"] >= 100
    assert heldout["accuracy"] >= 0.9


def test_labelled_sample_is_excerpted() -> None:
    assert all(len(r["observation"]) <= 600 for r in load_labelled(FIXTURE))


def test_bad_sample_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": "nope", "observation": "x"}\n')
    with pytest.raises(HiveDataError, match="label"):
        load_labelled(bad)
    with pytest.raises(HiveDataError):
        load_labelled(tmp_path / "missing.jsonl")
