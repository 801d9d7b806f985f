"""Message-list builders shared by the compression tests."""

from __future__ import annotations

from typing import Any

import pytest

from hive_middleware.compression.artifacts import InMemoryArtifactStore


def view(path: str, start: int, end: int) -> str:
    lines = "\n".join(f"{n:6d}\tdef func_{n}(arg_{n}):" if n % 10 == 0 else f"{n:6d}\t    value_{n} = compute_{n}(x)" for n in range(start, end + 1))
    return f"Here's the result of running `cat -n` on {path}:\n{lines}"


def swe_transcript(turns: int = 12) -> list[dict[str, Any]]:
    """A SWE-agent 1.x style transcript: observations arrive as user messages."""
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. Use the tools."},
        {"role": "user", "content": "<uploaded_files>/repo</uploaded_files>\nFix the bug in mod_core.py where frobnicate_value fails."},
    ]
    for t in range(turns):
        path = f"/repo/pkg/mod_{t % 4}.py"
        msgs.append(
            {
                "role": "assistant",
                "content": f"Let's view {path} around the problem area number {t}.\n\n<function=str_replace_editor>\n"
                f"<parameter=command>view</parameter>\n<parameter=path>{path}</parameter>\n</function>",
            }
        )
        msgs.append({"role": "user", "content": "OBSERVATION:\n" + view(path, 1, 60 + t)})
    return msgs


def tool_transcript(turns: int = 8) -> list[dict[str, Any]]:
    """An OpenAI tool-calling transcript with parallel calls."""
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "Agent."},
        {"role": "user", "content": "Find where parse_header is defined and fix it."},
    ]
    for t in range(turns):
        calls = [
            {"id": f"c{t}a", "type": "function", "function": {"name": "bash", "arguments": f'{{"command": "grep -rn parse_header /src/t{t}"}}'}},
            {"id": f"c{t}b", "type": "function", "function": {"name": "bash", "arguments": f'{{"command": "python run_{t}.py"}}'}},
        ]
        msgs.append({"role": "assistant", "content": f"Searching round {t}.", "tool_calls": calls})
        hits = "\n".join(f"/src/t{t}/file_{k}.py:{k * 7}:    parse_header(value_{k})" for k in range(60))
        msgs.append({"role": "tool", "tool_call_id": f"c{t}a", "content": hits})
        log = "\n".join(f"INFO step {k} ok" for k in range(80)) + f"\nERROR run_{t} failed: bad header"
        msgs.append({"role": "tool", "tool_call_id": f"c{t}b", "content": log})
    msgs.append({"role": "user", "content": "Keep going."})
    return msgs


@pytest.fixture
def artifacts() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()
