"""The compression evaluation (``hive eval compress``, DESIGN §3).

At every step of every run the message list the agent had (system prompt,
instance prompt, then its assistant/observation turns) is given to each
*method*, a callable ``list[Message] -> list[Message]``:

* ``token_ratio`` = compressed / raw LLM input tokens, summed over all steps.
* ``identifier_retention`` = of the identifiers the step's action uses that
  appeared in earlier observations (:func:`~hive_middleware.evals.identifiers.action_identifiers`),
  the fraction that still :func:`~hive_middleware.evals.identifiers.occurs_in`
  some message of the compressed list (micro average over all such identifiers).
* ``ms_per_step``: wall time of one method call (p50, p95, mean, in ms).
* ``per_group``: the same per source folder (one model/agent each).

Baselines: ``raw`` (the list unchanged) and ``last_5_masking`` (SWE-agent's
``LastNObservations`` processor: every observation message except the last 5
replaced by ``"Old environment output: (N lines omitted)"``).

The engine is one more method: :func:`run_compress_eval` reports the method
named ``engine`` at the top level and the others under ``baselines``; with no
engine the top-level figures are ``None`` (never a baseline's numbers).

Tokens of a list are counted as ``litellm.token_counter`` counts plain-text
chat messages (3 for the reply priming, plus per message its text tokens and
4 for the role framing), with the text tokens cached per message text
(:func:`hive_middleware.tokens.count_text_tokens`) so the shared prefixes of
consecutive steps are tokenised once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_middleware.config import DEFAULT_MODEL
from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.identifiers import action_identifiers, occurs_in
from hive_middleware.stats import percentile
from hive_middleware.tokens import count_text_tokens
from hive_middleware.trajectories import Trajectory, iter_trajectories
from hive_middleware.types import Message, message_text

__all__ = [
    "BASELINES",
    "LAST_N_OBSERVATIONS",
    "CompressionMethod",
    "last_5_masking",
    "list_tokens",
    "mask_old_observations",
    "raw",
    "run_compress_eval",
]

CompressionMethod = Callable[[list[Message]], list[Message]]
"""Takes the message list of one step, returns the list the model would get."""

LAST_N_OBSERVATIONS = 5
_REPLY_PRIMING_TOKENS = 3
_MESSAGE_FRAMING_TOKENS = 4


def raw(messages: list[Message]) -> list[Message]:
    """The ``raw`` baseline: the message list unchanged."""
    return messages


def mask_old_observations(messages: list[Message], keep: int = LAST_N_OBSERVATIONS) -> list[Message]:
    """Replace every observation but the last ``keep`` with a one-line stub.

    Observation messages are the ``user`` and ``tool`` messages after the first
    ``assistant`` message (before it come the system and instance prompts). A
    masked message keeps its role and ids; its content becomes
    ``"Old environment output: (N lines omitted)"`` with N the line count of
    the original text, as SWE-agent's ``LastNObservations`` writes it.

    Args:
        messages: One step's message list (not modified).
        keep: How many of the latest observations stay verbatim.

    Returns:
        A new list.
    """
    first_assistant = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
    observations = [
        i for i in range(first_assistant + 1, len(messages)) if messages[i].get("role") in ("user", "tool")
    ]
    masked = set(observations[: max(0, len(observations) - keep)])
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if i in masked:
            lines = len(message_text(msg).splitlines())
            stub = Message(**{k: v for k, v in msg.items() if k != "content"})  # type: ignore[typeddict-item]
            stub["content"] = f"Old environment output: ({lines} lines omitted)"
            out.append(stub)
        else:
            out.append(msg)
    return out


def last_5_masking(messages: list[Message]) -> list[Message]:
    """The ``last_5_masking`` baseline (:func:`mask_old_observations` with ``keep=5``)."""
    return mask_old_observations(messages, LAST_N_OBSERVATIONS)


BASELINES: dict[str, CompressionMethod] = {"last_5_masking": last_5_masking, "raw": raw}
"""The baselines every compression report carries, by name."""


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
    steps: int = 0
    runs: int = 0
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "token_ratio": self.tokens / self.raw_tokens if self.raw_tokens else None,
            "identifier_retention": self.retained / self.identifiers if self.identifiers else None,
            "n_runs": self.runs,
            "n_steps": self.steps,
            "n_identifiers": self.identifiers,
            "raw_tokens": self.raw_tokens,
            "compressed_tokens": self.tokens,
        }


def _ms_summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": sum(values) / len(values),
    }


def _visible(identifiers: Iterable[str], messages: Sequence[Mapping[str, Any]]) -> int:
    texts = [message_text(m) for m in messages]
    return sum(1 for ident in identifiers if any(occurs_in(ident, t) for t in texts))


def run_compress_eval(
    paths: Sequence[str | Path],
    methods: Mapping[str, CompressionMethod],
    engine: str | None = None,
    *,
    model: str = DEFAULT_MODEL,
    max_runs: int | None = None,
    on_run: Callable[[Trajectory], None] | None = None,
) -> dict[str, Any]:
    """Compress every step of every run with every method and score them.

    Args:
        paths: ``.traj`` files or folders of them.
        methods: Methods by name; baselines and the engine alike.
        engine: The name in ``methods`` reported at the top level, or None when
            no engine is available (top-level figures are then None).
        model: Model whose tokenizer counts tokens.
        max_runs: Read at most this many runs from each path (None: all).
        on_run: Called after each run (progress reporting).

    Returns:
        ``{"token_ratio", "identifier_retention", "baselines": {name: {...}},
        "per_group", "ms_per_step", "engine", "n_runs", "n_steps", ...}``.

    Raises:
        HiveUsageError: ``engine`` names no method, or no method is given.
        HiveDataError: a path or file is bad.
    """
    if not methods:
        raise HiveUsageError("give at least one compression method")
    if engine is not None and engine not in methods:
        raise HiveUsageError(f"engine {engine!r} is not one of the methods {sorted(methods)}")
    totals = {name: _Tally() for name in methods}
    groups: dict[str, dict[str, _Tally]] = {}
    n_runs = n_steps = 0
    for path in paths:
        for count, traj in enumerate(iter_trajectories([path])):
            if max_runs is not None and count >= max_runs:
                break
            group = groups.setdefault(traj.group, {name: _Tally() for name in methods})
            observations: list[str] = []
            for step in traj.steps:
                base_messages = step.messages
                raw_tokens = list_tokens(base_messages, model)
                used = action_identifiers(step.action, observations)
                for name, method in methods.items():
                    messages = base_messages if name == "raw" else step.messages
                    start = time.perf_counter()
                    compressed = method(messages)
                    elapsed_ms = (time.perf_counter() - start) * 1000.0
                    tokens = list_tokens(compressed, model)
                    kept = _visible(used, compressed) if used else 0
                    for tally in (totals[name], group[name]):
                        tally.raw_tokens += raw_tokens
                        tally.tokens += tokens
                        tally.identifiers += len(used)
                        tally.retained += kept
                        tally.steps += 1
                        tally.ms.append(elapsed_ms)
                observations.append(step.observation)
                n_steps += 1
            for name in methods:
                totals[name].runs += 1
                group[name].runs += 1
            n_runs += 1
            if on_run is not None:
                on_run(traj)

    def entry(name: str) -> dict[str, Any]:
        out = totals[name].summary()
        out["per_group"] = {g: tallies[name].summary() for g, tallies in groups.items()}
        out["ms_per_step"] = _ms_summary(totals[name].ms)
        return out

    result: dict[str, Any]
    if engine is not None:
        result = entry(engine)
    else:
        result = {
            "token_ratio": None,
            "identifier_retention": None,
            "per_group": None,
            "ms_per_step": None,
        }
    result["engine"] = engine
    result["baselines"] = {name: entry(name) for name in methods if name != engine}
    result["n_runs"] = n_runs
    result["n_steps"] = n_steps
    result["model"] = model
    return result
