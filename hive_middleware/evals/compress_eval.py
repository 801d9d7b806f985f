"""The compression evaluation (``hive eval compress``, DESIGN §3).

At every step of every run the message list the agent had (system prompt,
instance prompt, then its assistant/observation turns) is given to each
*method*, a callable ``list[Message] -> list[Message]``, in each *shape*:

* ``string``: the messages as the agent sent them (string content);
* ``parts``: every string content turned into ``[{"type": "text", "text": ...}]``
  (the OpenAI content-part format LangChain ``ToolMessage``\\s and many agents send).

Figures, per method, per shape, per source folder (``per_group``):

* ``token_ratio`` = compressed / raw LLM input tokens, summed over all steps.
* ``identifier_retention`` = of the identifiers the step's action uses that
  appeared in earlier observations (:func:`~hive_middleware.evals.identifiers.action_identifiers`),
  the fraction that still :func:`~hive_middleware.evals.identifiers.occurs_in`
  some message of the compressed list (micro average over all such identifiers).
* ``anchor_retention`` = of the anchors of the step's action, text it copied
  literally from an earlier observation (:func:`~hive_middleware.evals.anchors.action_anchors`),
  the fraction still verbatim in the compressed list (micro average);
  ``anchor_retention_expandable`` counts an anchor also when it is in an
  original whose handle (``h-`` + 12 hex digits) the compressed list shows,
  read back from the store the method wrote to (methods that keep none, the
  baselines, score the same on both); ``anchor_retention_by_kind`` splits both.
* ``ms_per_step``: wall time of one method call (p50, p95, mean, in ms).

The top-level figures of a method are those of the ``string`` shape (or the
first shape measured); ``per_shape`` holds every shape, each with its own
``per_group`` and ``ms_per_step``.

The engine is one more method: :func:`run_compress_eval` reports the method
named ``engine`` at the top level and the others under ``baselines``; with no
engine the top-level figures are ``None`` (never a baseline's numbers).

Tokens of a list are counted as ``litellm.token_counter`` counts chat
messages (3 for the reply priming, plus per message its text tokens and 4 for
the role framing; the text of a content-part list is its text parts joined,
so a one-part list counts like the same string), with the text tokens cached
per message text (:func:`hive_middleware.tokens.count_text_tokens`) so the
shared prefixes of consecutive steps are tokenised once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_middleware.config import DEFAULT_MODEL
from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.anchor_sources import TEXT_SEPARATOR, ObservationLog
from hive_middleware.evals.anchors import ANCHOR_KINDS, Anchor, action_anchors
from hive_middleware.evals.compress_baselines import (
    BASELINES,
    CLEARED_PLACEHOLDER,
    LAST_N_OBSERVATIONS,
    CompressionMethod,
    keep_3_clearing,
    last_5_masking,
    mask_old_observations,
    raw,
)
from hive_middleware.evals.compress_engine import RunScopedMethod
from hive_middleware.evals.identifiers import action_identifiers, occurs_in
from hive_middleware.stats import percentile
from hive_middleware.tokens import count_text_tokens
from hive_middleware.trajectories import Trajectory, iter_trajectories
from hive_middleware.types import Message, message_text

__all__ = [
    "BASELINES",
    "CLEARED_PLACEHOLDER",
    "LAST_N_OBSERVATIONS",
    "SHAPES",
    "CompressionMethod",
    "as_parts",
    "as_shape",
    "keep_3_clearing",
    "last_5_masking",
    "list_tokens",
    "mask_old_observations",
    "raw",
    "run_compress_eval",
]

SHAPES = ("string", "parts")
"""The message shapes every step can be measured in."""

_REPLY_PRIMING_TOKENS = 3
_MESSAGE_FRAMING_TOKENS = 4
_HANDLE_RE = re.compile(r"(?<![0-9A-Za-z_-])h-[0-9a-f]{12}(?![0-9a-f])")


def as_parts(messages: Sequence[Message]) -> list[Message]:
    """The list with every string content turned into one ``{"type": "text"}`` part (new dicts)."""
    out: list[Message] = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            converted = Message(**msg)
            converted["content"] = [{"type": "text", "text": content}]
            out.append(converted)
        else:
            out.append(msg)
    return out


def as_shape(messages: list[Message], shape: str) -> list[Message]:
    """``messages`` in ``shape`` (``"string"``: unchanged; ``"parts"``: :func:`as_parts`).

    Raises:
        HiveUsageError: an unknown shape.
    """
    if shape == "string":
        return messages
    if shape == "parts":
        return as_parts(messages)
    raise HiveUsageError(f"unknown message shape {shape!r}; use one of {', '.join(SHAPES)}")


def list_tokens(messages: Sequence[Mapping[str, Any]], model: str = DEFAULT_MODEL) -> int:
    """LLM input tokens of a message list (text tokens cached per message text)."""
    total = _REPLY_PRIMING_TOKENS
    for msg in messages:
        total += count_text_tokens(message_text(msg), model) + _MESSAGE_FRAMING_TOKENS
    return total


@dataclass
class _Tally:
    raw_tokens: int = 0
    tokens: int = 0
    identifiers: int = 0
    retained: int = 0
    anchors: int = 0
    anchors_retained: int = 0
    anchors_expandable: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    steps: int = 0
    runs: int = 0
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def rate(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        return {
            "token_ratio": rate(self.tokens, self.raw_tokens),
            "identifier_retention": rate(self.retained, self.identifiers),
            "anchor_retention": rate(self.anchors_retained, self.anchors),
            "anchor_retention_expandable": rate(self.anchors_expandable, self.anchors),
            "anchor_retention_by_kind": {
                kind: {"n": n, "anchor_retention": rate(kept, n), "anchor_retention_expandable": rate(exp, n)}
                for kind in ANCHOR_KINDS
                if kind in self.by_kind
                for n, kept, exp in [self.by_kind[kind]]
            },
            "n_runs": self.runs,
            "n_steps": self.steps,
            "n_identifiers": self.identifiers,
            "n_anchors": self.anchors,
            "raw_tokens": self.raw_tokens,
            "compressed_tokens": self.tokens,
        }


@dataclass(frozen=True, slots=True)
class _StepScore:
    raw_tokens: int
    tokens: int
    identifiers: int
    retained: int
    anchors: tuple[tuple[str, bool, bool], ...]  # (kind, visible, visible or one expand away)
    ms: float

    def add_to(self, tally: _Tally) -> None:
        tally.raw_tokens += self.raw_tokens
        tally.tokens += self.tokens
        tally.identifiers += self.identifiers
        tally.retained += self.retained
        for kind, visible, expandable in self.anchors:
            counts = tally.by_kind.setdefault(kind, [0, 0, 0])
            counts[0] += 1
            counts[1] += visible
            counts[2] += expandable
            tally.anchors += 1
            tally.anchors_retained += visible
            tally.anchors_expandable += expandable
        tally.steps += 1
        tally.ms.append(self.ms)


def _ms_summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": sum(values) / len(values),
    }


def _expanded_text(method: CompressionMethod, text: str) -> str:
    """``text`` plus the originals of the handles it names, as the method stored them."""
    if not isinstance(method, RunScopedMethod):
        return text
    originals = [method.original(h) for h in dict.fromkeys(_HANDLE_RE.findall(text))]
    found = [o for o in originals if o is not None]
    return TEXT_SEPARATOR.join([text, *found]) if found else text


def _score(
    method: CompressionMethod,
    messages: list[Message],
    raw_tokens: int,
    identifiers: Iterable[str],
    anchors: Sequence[Anchor],
    model: str,
) -> _StepScore:
    start = time.perf_counter()
    compressed = method(messages)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    text = TEXT_SEPARATOR.join(message_text(m) for m in compressed)
    idents = list(identifiers)
    scored: list[tuple[str, bool, bool]] = []
    expanded: str | None = None
    for anchor in anchors:
        visible = anchor.visible_in(text)
        if not visible and expanded is None:
            expanded = _expanded_text(method, text)
        scored.append((anchor.kind, visible, visible or anchor.visible_in(expanded or text)))
    return _StepScore(
        raw_tokens=raw_tokens,
        tokens=list_tokens(compressed, model),
        identifiers=len(idents),
        retained=sum(1 for ident in idents if occurs_in(ident, text)),
        anchors=tuple(scored),
        ms=elapsed_ms,
    )


def run_compress_eval(
    paths: Sequence[str | Path],
    methods: Mapping[str, CompressionMethod],
    engine: str | None = None,
    *,
    model: str = DEFAULT_MODEL,
    max_runs: int | None = None,
    on_run: Callable[[Trajectory], None] | None = None,
    shapes: Sequence[str] = ("string",),
) -> dict[str, Any]:
    """Compress every step of every run with every method, in every shape, and score them.

    Args:
        paths: ``.traj`` files or folders of them.
        methods: Methods by name; baselines and the engine alike. A method that
            is a :class:`~hive_middleware.evals.compress_engine.RunScopedMethod`
            is told when each run starts and asked for originals by handle.
        engine: The name in ``methods`` reported at the top level, or None when
            no engine is available (top-level figures are then None).
        model: Model whose tokenizer counts tokens.
        max_runs: Read at most this many runs from each path (None: all).
        on_run: Called after each run (progress reporting).
        shapes: Message shapes to measure (from :data:`SHAPES`); the first of
            ``"string"`` or else the first given gives the top-level figures.

    Returns:
        ``{"token_ratio", "identifier_retention", "anchor_retention",
        "anchor_retention_expandable", "baselines": {name: {...}}, "per_group",
        "per_shape", "ms_per_step", "engine", "shape", "n_runs", "n_steps", ...}``.

    Raises:
        HiveUsageError: ``engine`` names no method, no method or shape is given,
            or a shape is unknown.
        HiveDataError: a path or file is bad.
    """
    if not methods:
        raise HiveUsageError("give at least one compression method")
    if engine is not None and engine not in methods:
        raise HiveUsageError(f"engine {engine!r} is not one of the methods {sorted(methods)}")
    if not shapes:
        raise HiveUsageError(f"give at least one message shape ({', '.join(SHAPES)})")
    for shape in shapes:
        if shape not in SHAPES:
            raise HiveUsageError(f"unknown message shape {shape!r}; use one of {', '.join(SHAPES)}")
    tallies: dict[tuple[str, str | None, str], _Tally] = {}

    def tally(shape: str, group: str | None, name: str) -> _Tally:
        key = (shape, group, name)
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = _Tally()
        return found

    groups: list[str] = []
    n_runs = n_steps = 0
    for path in paths:
        for count, traj in enumerate(iter_trajectories([path])):
            if max_runs is not None and count >= max_runs:
                break
            if traj.group not in groups:
                groups.append(traj.group)
            for method in methods.values():
                if isinstance(method, RunScopedMethod):
                    method.start_run()
            log = ObservationLog()
            observations: list[str] = []
            for step in traj.steps:
                base_messages = step.messages
                raw_tokens = list_tokens(base_messages, model)
                used = action_identifiers(step.action, observations)
                anchors = action_anchors(step.action, log)
                for shape in shapes:
                    for name, method in methods.items():
                        messages = as_shape(step.messages if name != "raw" else base_messages, shape)
                        try:
                            score = _score(method, messages, raw_tokens, used, anchors, model)
                        except Exception as exc:
                            exc.add_note(
                                f"while compressing {traj.path} step {step.index} ({shape} shape) with {name}"
                            )
                            raise
                        score.add_to(tally(shape, None, name))
                        score.add_to(tally(shape, traj.group, name))
                log.add(step.action, step.observation)
                observations.append(step.observation)
                n_steps += 1
            for shape in shapes:
                for name in methods:
                    tally(shape, None, name).runs += 1
                    tally(shape, traj.group, name).runs += 1
            n_runs += 1
            if on_run is not None:
                on_run(traj)

    top_shape = "string" if "string" in shapes else shapes[0]

    def shape_entry(name: str, shape: str) -> dict[str, Any]:
        out = tally(shape, None, name).summary()
        out["per_group"] = {g: tally(shape, g, name).summary() for g in groups}
        out["ms_per_step"] = _ms_summary(tally(shape, None, name).ms)
        return out

    def entry(name: str) -> dict[str, Any]:
        out = shape_entry(name, top_shape)
        out["per_shape"] = {shape: shape_entry(name, shape) for shape in shapes}
        return out

    result: dict[str, Any]
    if engine is not None:
        result = entry(engine)
    else:
        result = {
            "token_ratio": None,
            "identifier_retention": None,
            "anchor_retention": None,
            "anchor_retention_expandable": None,
            "per_group": None,
            "per_shape": None,
            "ms_per_step": None,
        }
    result["engine"] = engine
    result["shape"] = top_shape
    result["shapes"] = list(shapes)
    result["baselines"] = {name: entry(name) for name in methods if name != engine}
    result["n_runs"] = n_runs
    result["n_steps"] = n_steps
    result["model"] = model
    return result
