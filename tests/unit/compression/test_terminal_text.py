"""Text that real tools print: CRLF, escape codes, redraws, tabs, long lines, bad bytes, JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

from conftest import view

from hive_middleware.compression import Label, compress, expand
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.compactors import (
    clean_terminal,
    compact,
    elide_long_lines,
    has_long_line,
    skip_progress_lines,
)
from hive_middleware.compression.content_types import ContentType, classify_output
from hive_middleware.compression.json_output import distill_json, parse_json_document
from hive_middleware.compression.shapes import unwrap_json_output

VIEW = view("/repo/pkg/core.py", 1, 40)


def test_clean_terminal_resolves_codes_line_ends_and_redraws() -> None:
    assert clean_terminal("a\r\nb\r\n") == "a\nb\n"
    assert clean_terminal("\x1b[?25l\x1b[2K\x1b[1;31merror\x1b[0m: x\x1b[1A\x1b[?25h") == "error: x"
    assert clean_terminal("\x1b]0;title\x07ok") == "ok"
    assert clean_terminal("get  10%\rget  60%\rget 100%\ndone") == "get 100%\ndone"  # the last frame
    plain = "nothing to do"
    assert clean_terminal(plain) is plain


def test_progress_bars_keep_their_last_frame() -> None:
    bar = "\r".join(f"Downloading: {p:3d}%|{'#' * (p // 10):<10}| {p}/100" for p in (0, 50, 100))
    out = compact(clean_terminal(bar + "\nInstalled pkg-1.0"))
    assert out == "Downloading: 100%|##########| 100/100\nInstalled pkg-1.0"
    assert skip_progress_lines(out) == "Installed pkg-1.0"


def test_every_encoding_of_an_output_gets_the_same_type() -> None:
    bar = "Running:  50%|#####     | 5/10\rRunning: 100%|##########| 10/10\n"
    encodings = [
        VIEW,
        VIEW.replace("\n", "\r\n"),
        "\x1b[2K" + VIEW.replace("def ", "\x1b[34mdef\x1b[0m "),
        bar + VIEW,
        VIEW.replace("    ", "\t"),
    ]
    for text in encodings:
        assert classify_output(clean_terminal(text)) is ContentType.FILE_VIEW


def test_long_lines_are_elided_and_recallable() -> None:
    blob = base64.b64encode(bytes(range(256)) * 40).decode()
    assert has_long_line("short\n" + blob) and not has_long_line("short\nlines")
    elided = elide_long_lines("artifact: " + blob + "\ndone")
    assert elided.endswith(f"… [line of {len(blob) + 10} chars elided]\ndone")
    assert len(elided) < 120

    msgs: list[dict[str, Any]] = [{"role": "system", "content": "agent"}, {"role": "user", "content": "build it"}]
    for t in range(4):
        call = {"id": f"c{t}", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": f"make {t}"})}}
        msgs.append({"role": "assistant", "content": "", "tool_calls": [call]})
        msgs.append({"role": "tool", "tool_call_id": f"c{t}", "content": f"step {t}\nartifact: {blob}\ndone"})
    store = InMemoryArtifactStore()
    result = compress(msgs, artifacts=store)
    recent = result.labels[-3]  # recent, so only its long line goes
    assert recent.label is Label.DISTILL and recent.handle is not None
    text = result.messages[-3]["content"]
    assert "chars elided" in text and f'hive_expand("{recent.handle}")' in text and blob not in text
    assert expand(recent.handle, artifacts=store) == msgs[-3]["content"]
    assert blob[:200] not in " ".join(str(m["content"]) for m in result.messages[:-1])


def test_json_documents_are_distilled_as_json() -> None:
    doc = {"items": [{"id": i, "name": f"item_{i}", "body": "x" * 500} for i in range(50)], "total": 50, "next_cursor": "abc"}
    text = json.dumps(doc, separators=(",", ":"))  # minified: one long line
    assert classify_output(text) is ContentType.JSON_DATA
    out = distill_json(text)
    assert out is not None and len(out) < len(text) / 5
    small = json.loads(out)
    assert list(small) == ["items", "total", "next_cursor"] and small["total"] == 50
    assert len(small["items"]) == 4 and small["items"][-1] == "… 47 more items (50 in all)"
    assert list(small["items"][0]) == ["id", "name", "body"] and small["items"][0]["body"].endswith("(500 chars)")
    assert parse_json_document("[1, 2") is None and parse_json_document("plain text") is None


def test_json_wrappers_and_structured_results_are_told_apart() -> None:
    assert unwrap_json_output(json.dumps({"output": "hi", "exit_code": 0})) is not None
    assert unwrap_json_output(json.dumps({"stdout": "a\nb" * 50, "stderr": "", "returncode": 1})) is not None
    records = {"result": "ok", "rows": [{"id": i, "name": f"row_{i}"} for i in range(40)]}
    assert unwrap_json_output(json.dumps(records)) is None  # the output-like field is a small part of it
    assert unwrap_json_output("[1, 2]") is None and unwrap_json_output("{oops") is None
