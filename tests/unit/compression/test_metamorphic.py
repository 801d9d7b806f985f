"""Metamorphic tests: the same tool outputs in other encodings classify and compress alike.

From the first runs of each trajectory folder of ``../shared/data/trajectories``
a tool-calling conversation is built (assistant tool calls, ``tool`` results), and
from it variants that change only how outputs are encoded: CRLF line ends, ANSI
colour and cursor codes, a carriage-return progress bar before the output,
tab indentation, content-part lists, Anthropic blocks and JSON-wrapped output.
For each variant, every message must get the same content type and the same
treatment (kept, compacted or not, counts as kept), and the list's token ratio
must stay within 0.03 of the base's; per content type, the share of tokens kept
must agree too (token sums over the slice). The SWE-agent text transcripts themselves (observations as
``user`` messages) get the terminal-noise variants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.compression import CompressionResult, Label, compress
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.content_types import observation_body
from hive_middleware.trajectories import Trajectory, read_trajectory, trajectory_files

RUNS_PER_FOLDER = 3
MAX_RATIO_GAP = 0.03
# Per content type. Measured: every type within 0.03 but kept command outputs behind a progress bar (0.0305:
# the bar's last frame stays, as it should).
MAX_TYPE_GAP = 0.035
MIN_TYPE_TOKENS = 2_000  # per-type gaps are checked where a type has this many tokens

Messages = list[dict[str, Any]]


@cache
def _runs(root: str) -> tuple[Trajectory, ...]:
    runs: list[Trajectory] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for f in trajectory_files([folder])[:RUNS_PER_FOLDER]:
            runs.append(read_trajectory(f))
    return tuple(runs)


@pytest.fixture(scope="module")
def runs(shared_data: Path) -> tuple[Trajectory, ...]:
    root = shared_data / "trajectories"
    if not root.is_dir():
        pytest.skip(f"no trajectory folder at {root}")
    return _runs(str(root))


def tool_conversation(run: Trajectory) -> Messages:
    """The run as an OpenAI tool-calling conversation (one ``bash``-like call per step)."""
    msgs: Messages = [
        {"role": "system", "content": run.system_prompt},
        {"role": "user", "content": run.instance_prompt},
    ]
    for i, step in enumerate(run.steps):
        name = step.action.split(maxsplit=1)[0] if step.action.strip() else "bash"
        call = {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps({"command": step.action})}}
        msgs.append({"role": "assistant", "content": step.thought, "tool_calls": [call]})
        msgs.append({"role": "tool", "tool_call_id": f"call_{i}", "content": step.observation})
    return msgs


# -- encodings of one output ------------------------------------------------------------

_WORDS = re.compile(r"\b(error|Error|FAILED|failed|warning|passed|def|class)\b")
_LINE_NO = re.compile(r"^(\s*\d+)(\t|:)", re.M)


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def ansi(text: str) -> str:
    coloured = _WORDS.sub(lambda m: f"\x1b[1;31m{m.group(1)}\x1b[0m", text)
    coloured = _LINE_NO.sub(lambda m: f"\x1b[2m{m.group(1)}\x1b[0m{m.group(2)}", coloured)
    return f"\x1b[?25l\x1b[2K{coloured}\x1b[0m\x1b[?25h"


def progress(text: str) -> str:
    frames = [f"Running: {p:3d}%|{'#' * (p // 10):<10}| {p // 10}/10" for p in (0, 30, 60, 100)]
    return "\r".join(frames) + "\n" + text


def tabs(text: str) -> str:
    return re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text, flags=re.M)


TEXT_VARIANTS: dict[str, Callable[[str], str]] = {"crlf": crlf, "ansi": ansi, "progress": progress, "tabs": tabs}


def on_outputs(msgs: Messages, fn: Callable[[str], str]) -> Messages:
    return [{**m, "content": fn(m["content"])} if m["role"] == "tool" else dict(m) for m in msgs]


def as_parts(msgs: Messages) -> Messages:
    return [{**m, "content": [{"type": "text", "text": m["content"]}]} if m["role"] == "tool" else dict(m) for m in msgs]


def as_json(msgs: Messages) -> Messages:
    return on_outputs(msgs, lambda t: json.dumps({"output": t, "exit_code": 0}))


def as_anthropic(msgs: Messages) -> Messages:
    out: Messages = []
    for m in msgs:
        if m["role"] == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m["content"] else []
            for c in m["tool_calls"]:
                fn = c["function"]
                blocks.append({"type": "tool_use", "id": c["id"], "name": fn["name"], "input": json.loads(fn["arguments"])})
            out.append({"role": "assistant", "content": blocks})
        elif m["role"] == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            out.append({"role": "user", "content": [block]})
        else:
            out.append(dict(m))
    return out


def _outputs_through(fn: Callable[[str], str]) -> Callable[[Messages], Messages]:
    return lambda msgs: on_outputs(msgs, fn)


SHAPE_VARIANTS: dict[str, Callable[[Messages], Messages]] = {
    **{name: _outputs_through(fn) for name, fn in TEXT_VARIANTS.items()},
    "parts": as_parts,
    "anthropic": as_anthropic,
    "json": as_json,
}


# -- comparison --------------------------------------------------------------------------


def _treatment(label: Label) -> str:
    return "kept" if label in (Label.CORE, Label.COMPACT) else str(label)


def _compress(msgs: Messages) -> CompressionResult:
    return compress(msgs, artifacts=InMemoryArtifactStore())


def _per_type(result: CompressionResult) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for lab in result.labels:
        before, after = out.get(lab.content_type, (0, 0))
        out[lab.content_type] = (before + lab.tokens_before, after + lab.tokens_after)
    return out


class Tally:
    """Token sums of the base and variant lists over a slice of runs, overall and per content type."""

    def __init__(self) -> None:
        self.base: dict[str, list[int]] = {}
        self.variant: dict[str, list[int]] = {}

    def add(self, a: CompressionResult, b: CompressionResult) -> None:
        for into, result in ((self.base, a), (self.variant, b)):
            total = ("all", (result.stats["tokens_before"], result.stats["tokens_after"]))
            for key, (before, after) in [total, *_per_type(result).items()]:
                sums = into.setdefault(key, [0, 0])
                sums[0] += before
                sums[1] += after

    def check(self, what: str, *, noise: bool) -> None:
        """Token ratios within 0.03 overall (0.035 per content type with enough tokens).

        For content parts, Anthropic blocks and JSON-wrapped output (encodings whose
        every token belongs to the content as that tool sends it: JSON escapes stay
        in a valid JSON result) the own token ratios are compared. For terminal noise
        around the same content (escape codes, CRLF, progress frames, tabs) the
        compressed sizes are compared as fractions of the *base's* raw tokens:
        compression must bring the same content to the same place, not be rewarded
        for removing noise.
        """
        for key, (before, after) in self.base.items():
            if key != "all" and before < MIN_TYPE_TOKENS:
                continue
            v_before, v_after = self.variant[key]
            gap = abs(after - v_after) / before if noise else abs(after / before - v_after / v_before)
            limit = MAX_RATIO_GAP if key == "all" else MAX_TYPE_GAP
            assert gap <= limit, f"{what} {key}: compressed {v_after} of {v_before} vs {after} of {before}"


def assert_same_labels(a: CompressionResult, b: CompressionResult, what: str) -> None:
    """Every message gets the same content type and the same treatment (CORE and COMPACT both keep)."""
    assert len(a.labels) == len(b.labels)
    for la, lb in zip(a.labels, b.labels, strict=True):
        assert lb.content_type == la.content_type, f"{what}: message {la.index} classified differently"
        assert _treatment(lb.label) == _treatment(la.label), (
            f"{what}: message {la.index} ({la.content_type}) was {la.label} in the base, {lb.label} here"
        )


@pytest.mark.parametrize("variant", sorted(SHAPE_VARIANTS))
def test_tool_outputs_compress_alike_in_every_encoding(runs: tuple[Trajectory, ...], variant: str) -> None:
    make = SHAPE_VARIANTS[variant]
    tally = Tally()
    for run in runs:
        base = tool_conversation(run)
        a, b = _compress(base), _compress(make(base))
        assert_same_labels(a, b, f"{run.group}/{run.run_id} {variant}")
        tally.add(a, b)
    tally.check(variant, noise=variant not in ("parts", "anthropic", "json"))


@pytest.mark.parametrize("variant", sorted(TEXT_VARIANTS))
def test_text_agent_observations_compress_alike(runs: tuple[Trajectory, ...], variant: str) -> None:
    fn = TEXT_VARIANTS[variant]
    tally = Tally()
    for run in runs:
        base = [dict(m) for m in run.steps[-1].messages] if run.steps else []
        first_obs = next((i for i, m in enumerate(base) if m["role"] == "assistant"), len(base)) + 1
        variant_msgs = [
            {**m, "content": _on_body(m["content"], fn)} if i >= first_obs and m["role"] == "user" else dict(m)
            for i, m in enumerate(base)
        ]
        a, b = _compress(base), _compress(variant_msgs)
        assert_same_labels(a, b, f"{run.group}/{run.run_id} text {variant}")
        tally.add(a, b)
    tally.check(f"text {variant}", noise=True)


def _on_body(observation: str, fn: Callable[[str], str]) -> str:
    """Re-encode what the tool printed, not the ``OBSERVATION:`` prefix or prompt footer the agent adds."""
    body = observation_body(observation)
    start = observation.find(body) if body else len(observation)
    return observation[:start] + fn(body) + observation[start + len(body) :]
