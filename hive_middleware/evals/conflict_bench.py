"""Measurements behind ``hive bench conflicts``: what conflict resolution costs and does.

* ``decide_us``: one :func:`~hive_middleware.memory.conflicts.decide` call against
  ``candidates`` current records (pure logic, microseconds).
* ``remember_ms``: ``remember`` latency on a real SQLite store already holding
  ``records`` memories, per kind: ``episodic`` (events: key-only checks, the
  default kind), ``semantic`` (keyless notes with no fact cue: a keyword lookup
  for candidates + a decision; synthetic 12-word notes whose words follow
  Zipf's law over a 4096-word vocabulary) and
  ``semantic_unresolved`` (``resolve_conflicts=False``, the cost baseline).
* ``remember_many_per_s``: semantic drafts per second through ``remember_many``
  with and without resolution.
* ``stream``: a stream of fact statements in which some repeat (other wording,
  same value) and some change a value; ``current_records`` should equal the
  number of distinct entity/attribute slots, ``confirmations`` the repeats and
  ``supersessions`` the changes.

Each latency figure is the median over ``repeats`` runs of that run's percentile.
"""

from __future__ import annotations

import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError
from hive_middleware.memory.conflicts import NewMemory, decide
from hive_middleware.stats import percentile
from hive_middleware.types import MemoryKind, MemoryRecord

__all__ = ["fact_sentence", "run_conflict_bench"]

_NAMES = ("alice", "bob", "chen", "dana", "emeka", "farah", "goran", "hana", "ivan", "jia", "kofi", "lena")
_ATTRS = ("email", "phone", "city", "employer", "manager", "team", "laptop", "desk", "role", "timezone")
_WORDS = ["garden", "bicycle", "invoice", "kitchen", "server", "roadmap", "guitar", "contract", "laptop", "painting", "meeting", "budget", "hospital", "museum", "library", "concert", "backlog", "database", "printer", "marathon", "quiet", "broken", "shiny", "remote", "urgent", "noisy"]

ProgressFn = Callable[[str], None]


def fact_sentence(rng: random.Random, name: str, attr: str, value: str) -> str:
    """One fact in one of three wordings that state the same entity/attribute cue."""
    form = rng.randrange(3)
    if form == 0:
        return f"{name.title()}'s {attr} is {value}"
    if form == 1:
        return f"The {attr} of {name.title()} is {value}"
    return f"{name.title()}'s {attr} is now {value}"


_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo", "be")
_VOCABULARY = tuple(a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES)


_CUMULATIVE = tuple(itertools.accumulate(1.0 / rank for rank in range(1, len(_VOCABULARY) + 1)))


def _filler(rng: random.Random, i: int) -> str:
    # Word frequencies follow Zipf's law (p ~ 1/rank), as in prose: the commonest
    # word is about 1 in 9, most words are rare; keyword lookups cost what they
    # cost on text.
    words = " ".join(rng.choices(_VOCABULARY, cum_weights=_CUMULATIVE, k=10))
    return f"{rng.choice(_NAMES).title()} {words} {i}"


def _open(directory: Path, resolve: bool) -> Any:
    from hive_middleware.config import HiveConfig
    from hive_middleware.memory.store import MemoryStore

    # The embedded SQLite store, no vectors: the write path is what is measured.
    config = HiveConfig.load(environ={}, memory={"resolve_conflicts": resolve, "vector_index": "none"})
    return MemoryStore.open(directory, config=config, namespace=("bench", "agent"), start_worker=False)


def _decide_us(rng: random.Random, candidates: int, calls: int) -> float:
    pool = [
        MemoryRecord(f"r{i}", ("bench",), MemoryKind.SEMANTIC, _filler(rng, i), i + 1) for i in range(candidates - 1)
    ]
    pool.append(MemoryRecord("x", ("bench",), MemoryKind.SEMANTIC, "Alice's email is a@x.org", 99))
    news = [NewMemory(fact_sentence(rng, "alice", "email", f"{i}@x.org"), namespace=("bench",)) for i in range(calls)]
    start = time.perf_counter()
    for memory in news:
        decide(memory, pool)
    return (time.perf_counter() - start) / calls * 1e6


def _latencies(store: Any, texts: list[str], kind: MemoryKind) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        store.remember(text, kind=kind)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _stream(rng: random.Random, directory: Path, statements: int) -> dict[str, Any]:
    store = _open(directory, resolve=True)
    values: dict[tuple[str, str], str] = {}
    repeats = changes = 0
    try:
        for i in range(statements):
            slot = (rng.choice(_NAMES), rng.choice(_ATTRS))
            if slot in values and rng.random() < 0.5:
                repeats += 1
                value = values[slot]
            else:
                changes += slot in values
                value = f"{rng.choice(_WORDS)}-{i}"
                values[slot] = value
            store.remember(fact_sentence(rng, slot[0], slot[1], value), kind=MemoryKind.SEMANTIC)
        records = list(store.graph.scan("bench"))
    finally:
        store.close()
    current = sum(1 for r in records if r.expired_at is None)
    confirmations = sum(1 for r in records if "confirms" in r.metadata)
    return {
        "statements": statements,
        "distinct_slots": len(values),
        "repeats": repeats,
        "changes": changes,
        "current_records": current,
        "confirmations": confirmations,
        "supersessions": len(records) - current - confirmations,
    }


def run_conflict_bench(
    *, records: int = 10_000, writes: int = 300, repeats: int = 3, candidates: int = 5, seed: int = 0,
    statements: int = 1_000, texts: Sequence[str] | None = None, progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run every measurement (see the module docstring) and return the payload.

    Args:
        texts: Real notes to use instead of synthetic ones (e.g. LoCoMo turns):
            the first ``records`` fill the store, the next ``writes`` are timed.

    Raises:
        HiveDataError: ``texts`` holds fewer than ``records + writes`` notes.
    """
    if texts is not None and len(texts) < records + writes:
        raise HiveDataError(
            f"--data holds {len(texts)} notes; --records {records} + --writes {writes} need more",
            field="records",
        )
    note = progress or (lambda _: None)
    rng = random.Random(seed)
    runs: dict[str, list[dict[str, float]]] = {"episodic": [], "semantic": [], "semantic_unresolved": []}
    many: dict[str, list[float]] = {"resolved": [], "unresolved": []}
    decide_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hive-bench-conflicts-") as tmp:
        for rep in range(repeats):
            note(f"repeat {rep + 1}/{repeats}")
            decide_runs.append(_decide_us(rng, candidates, 2_000))
            base = list(texts[:records]) if texts is not None else [_filler(rng, i) for i in range(records)]
            for resolve in (True, False):
                store = _open(Path(tmp) / f"r{rep}-{resolve}", resolve)
                try:
                    start = time.perf_counter()
                    for lo in range(0, records, 1_000):
                        store.remember_many([{"content": t, "kind": MemoryKind.SEMANTIC} for t in base[lo : lo + 1_000]])
                    many["resolved" if resolve else "unresolved"].append(records / (time.perf_counter() - start))
                    timed = (
                        list(texts[records : records + writes]) if texts is not None
                        else [_filler(rng, records + i) for i in range(writes)]
                    )
                    kinds = [("semantic", MemoryKind.SEMANTIC), ("episodic", MemoryKind.EPISODIC)] if resolve else [
                        ("semantic_unresolved", MemoryKind.SEMANTIC)
                    ]
                    for name, kind in kinds:
                        lat = _latencies(store, timed, kind)
                        runs[name].append({f"p{q}": percentile(lat, q) for q in (50, 95, 99)})
                finally:
                    store.close()
        note("fact stream")
        stream = _stream(rng, Path(tmp) / "stream", statements)
    return {
        "notes": "synthetic" if texts is None else "data",
        "records": records,
        "writes": writes,
        "repeats": repeats,
        "decide_us": statistics.median(decide_runs),
        "decide_candidates": candidates,
        "remember_ms": {
            name: {q: statistics.median(r[q] for r in rows) for q in ("p50", "p95", "p99")}
            for name, rows in runs.items()
        },
        "remember_many_per_s": {name: statistics.median(v) for name, v in many.items()},
        "stream": stream,
    }
