"""Synthetic agent transcripts for benchmarks and tests when no real runs are at hand.

Deterministic (seeded) SWE-agent 1.x style lists: a system prompt, a task, then
assistant turns with ``<function=...>`` actions answered by ``OBSERVATION:``
user messages of every output kind (file views, re-views, grep hits, test runs,
tracebacks, long logs). Real runs (``--data``) are preferred wherever they exist.
"""

from __future__ import annotations

import random

from hive_middleware.types import Message

__all__ = ["synthetic_transcript"]


def _view(rng: random.Random, path: str, start: int, n: int) -> str:
    lines = []
    for k in range(start, start + n):
        if k % 17 == 0:
            lines.append(f"{k:6d}\tdef handler_{k}(self, request_{k % 5}):")
        else:
            lines.append(f"{k:6d}\t    value_{rng.randrange(999)} = self.compute_{k % 23}(request_{k % 5})")
    return f"Here's the result of running `cat -n` on {path}:\n" + "\n".join(lines)


def _output(rng: random.Random, turn: int) -> tuple[str, str]:
    kind = turn % 6
    path = f"/repo/pkg/module_{rng.randrange(12)}.py"
    if kind == 0:
        start = rng.randrange(1, 400)
        return f"str_replace_editor view {path} --view_range {start} {start + 60}", _view(rng, path, start, 60)
    if kind == 1:
        hits = "\n".join(f"/repo/pkg/module_{k}.py:{rng.randrange(900)}:    handler_{k}(request)" for k in range(40))
        return "grep -rn handler /repo/pkg", hits
    if kind == 2:
        passed = "\n".join(f"tests/test_m.py::test_case_{k} PASSED" for k in range(60))
        tail = (
            "tests/test_m.py::test_bad FAILED\n=== FAILURES ===\ntests/test_m.py:12: in test_bad\n    run()\n"
            "E   AssertionError: 3 != 4\n=== 1 failed, 60 passed in 0.91s ==="
        )
        return "python -m pytest tests/test_m.py -v", f"=== test session starts ===\ncollected 61 items\n{passed}\n{tail}"
    if kind == 3:
        frames = "\n".join(f'  File "/repo/pkg/module_{k}.py", line {10 + k}, in handler_{k}\n    call_{k}()' for k in range(8))
        return "python reproduce.py", f"Traceback (most recent call last):\n{frames}\nValueError: bad request_{turn}"
    if kind == 4:
        return "python setup.py build", "\n".join(f"building step {k}: ok" for k in range(150)) + "\nwarning: deprecated option"
    return f"str_replace_editor view {path}", _view(rng, path, 1, 120)


def synthetic_transcript(n_messages: int = 100, *, seed: int = 0) -> list[Message]:
    """A deterministic transcript of ``n_messages`` messages (see the module doc)."""
    rng = random.Random(seed)
    msgs: list[Message] = [
        Message(role="system", content="You are a coding agent. Tools: bash, str_replace_editor, submit."),
        Message(role="user", content=f"Fix the bug in /repo/pkg/module_{seed % 12}.py: handler_17 rejects valid requests."),
    ]
    turn = 0
    while len(msgs) < n_messages:
        action, output = _output(rng, turn)
        msgs.append(
            Message(
                role="assistant",
                content=f"Step {turn}: let's run this.\n\n<function=bash>\n<parameter=command>{action}</parameter>\n</function>",
            )
        )
        msgs.append(Message(role="user", content=f"OBSERVATION:\n{output}"))
        turn += 1
    return msgs[:n_messages]
