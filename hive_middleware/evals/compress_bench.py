"""Measurements behind ``hive bench compress`` (pure timing loops, no reporting).

* **classification throughput**: :func:`classify_message` over distinct short
  messages (at most 200 characters), nothing cached, median of repeated passes;
* **list latency**: :func:`compress` on 100-message lists in three regimes:
  ``cold`` (every cache cleared before each call: first sight of a list),
  ``agent_loop`` (the list grows turn by turn, as an agent re-sends it: earlier
  messages are cached, the newest ones are not) and ``warm`` (the same list
  again). Token counts go through ``litellm.token_counter`` and are cached per
  message content (``token_counts_cached``).

Wall-clock figures suffer on a shared, oversubscribed machine; each figure also
comes as process CPU time (``*_cpu``), which excludes time spent waiting for a
core, so runs on busy and idle machines can be compared.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.compressor import clear_caches, compress
from hive_middleware.compression.content_types import classify_message
from hive_middleware.stats import percentile
from hive_middleware.types import Message

__all__ = ["SHORT_CHARS", "classification_throughput", "list_latency"]

SHORT_CHARS = 200


def classification_throughput(messages: Sequence[Message], *, repeats: int = 5) -> dict[str, Any]:
    """Messages classified per second (median of ``repeats`` passes over ``messages``).

    Args:
        messages: Distinct short messages (see :data:`SHORT_CHARS`).
        repeats: Timed passes.
    """
    rates: list[float] = []
    cpu_rates: list[float] = []
    for _ in range(repeats):
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        for msg in messages:
            classify_message(msg)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rates.append(len(messages) / elapsed if elapsed > 0 else float("inf"))
        cpu_rates.append(len(messages) / cpu if cpu > 0 else float("inf"))
    return {
        "msgs_per_s": statistics.median(rates),
        "msgs_per_s_cpu": statistics.median(cpu_rates),
        "msgs_per_s_runs": rates,
        "n_messages": len(messages),
        "mean_chars": sum(len(str(m.get("content") or "")) for m in messages) / max(1, len(messages)),
    }


def _timed(call: Callable[[], Any], cpu: list[float]) -> float:
    """Wall milliseconds of ``call``; its process CPU milliseconds go to ``cpu``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    call()
    cpu.append((time.process_time() - cpu_start) * 1000.0)
    return (time.perf_counter() - start) * 1000.0


def list_latency(
    transcripts: Sequence[Sequence[Message]],
    *,
    size: int = 100,
    model: str | None = None,
    repeats: int = 5,
    tick: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Latency of compressing ``size``-message lists, in milliseconds.

    Args:
        transcripts: Message lists of at least ``size`` messages (longer ones
            are cut to their first ``size``).
        size: Messages per compressed list.
        model: Model whose tokenizer counts tokens.
        repeats: Warm calls per list.
        tick: Called after each transcript (progress).

    Returns:
        ``{"cold": {p50, p95, mean}, "agent_loop": {...}, "warm": {...},
        "n_lists", "size", "token_counts_cached": True}``.
    """
    cold: list[float] = []
    loop: list[float] = []
    warm: list[float] = []
    cold_cpu: list[float] = []
    loop_cpu: list[float] = []
    warm_cpu: list[float] = []
    for transcript in transcripts:
        msgs: list[Message] = list(transcript[:size])
        store = InMemoryArtifactStore()

        def run(messages: list[Message], store: InMemoryArtifactStore = store) -> None:
            compress(messages, model=model, artifacts=store)

        clear_caches()
        cold.append(_timed(partial(run, msgs), cold_cpu))
        clear_caches()
        # The agent loop: the list grows by one message per call; time the calls that reach the last turns.
        for end in range(2, len(msgs) + 1):
            scratch: list[float] = []
            ms = _timed(partial(run, msgs[:end]), scratch)
            if end > len(msgs) - 10:
                loop.append(ms)
                loop_cpu.extend(scratch)
        for _ in range(repeats):
            warm.append(_timed(partial(run, msgs), warm_cpu))
        if tick is not None:
            tick()

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": statistics.fmean(values)}

    return {
        "cold": summary(cold),
        "agent_loop": summary(loop),
        "warm": summary(warm),
        "cpu": {"cold": summary(cold_cpu), "agent_loop": summary(loop_cpu), "warm": summary(warm_cpu)},
        "n_lists": len(transcripts),
        "size": size,
        "token_counts_cached": True,
    }
