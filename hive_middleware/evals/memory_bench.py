"""``hive bench memory``: throughput and latency of the memory engine on the embedded defaults.

Each figure is measured ``repeats`` times and the median is reported:

* ``remember_ms``: latency of one ``remember`` (durable ack: SQLite commit
  with its outbox row) while the embedding worker runs in the background, its
  model already loaded (steady state).
* ``remember_many_per_s``: records per second through ``remember_many`` in
  batches of ``batch`` (durable, one transaction per batch), embedding deferred,
  for episodic events without keys; ``remember_many_keyed_per_s`` the same for
  keyed records (each key checked for a current version to supersede).
* ``recall_per_s``: exact-key ``recall`` of current versions, warm cache, over
  ``memories`` keys; ``recall_cold_per_s`` is the first pass (database reads).
* ``search_ms``: hybrid ``search(k=10)`` latency at ``memories`` records with
  every vector indexed (query embedding included).

Texts are synthetic sentences from a seeded generator (no data file needed).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryDraft, MemoryStore
from hive_middleware.stats import percentile

__all__ = ["run_memory_bench", "synthetic_sentences"]

_NAMES = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya"]
_VERBS = ["visited", "painted", "repaired", "discussed", "planned", "cancelled", "booked", "reviewed", "shipped", "tested", "moved", "sold"]
_ADJS = ["old", "blue", "quiet", "broken", "shiny", "tiny", "remote", "urgent", "noisy", "fragile", "weekly", "annual"]
_NOUNS = ["garden", "bicycle", "invoice", "kitchen", "server", "roadmap", "guitar", "contract", "laptop", "painting", "meeting", "budget", "hospital", "museum", "library", "concert", "backlog", "database", "printer", "marathon"]
_PLACES = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Austin", "Cairo", "Perth", "Quito", "Seoul", "Tunis", "Kyiv"]
_WHEN = ["Monday", "Tuesday", "Friday", "yesterday", "last-week", "in-spring", "in-June", "at-dawn", "after-lunch"]

ProgressFn = Callable[[str, int, int], None]


def synthetic_sentences(n: int, seed: int = 7) -> list[str]:
    """``n`` varied, deterministic sentences (who did what to which thing, where, when)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_NAMES)} {rng.choice(_VERBS)} the {rng.choice(_ADJS)} {rng.choice(_NOUNS)} "
        f"in {rng.choice(_PLACES)} {rng.choice(_WHEN).replace('-', ' ')} (note {i})"
        for i in range(n)
    ]


def _queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [
        f"what did {rng.choice(_NAMES)} do with the {rng.choice(_NOUNS)} in {rng.choice(_PLACES)}?" for _ in range(n)
    ]


def _open(directory: Path, config: HiveConfig, *, worker: bool) -> MemoryStore:
    return MemoryStore.open(directory, config=config, namespace=("bench",), start_worker=worker)


def run_memory_bench(
    *,
    config: HiveConfig,
    memories: int = 10_000,
    repeats: int = 3,
    batch: int = 1_000,
    latency_samples: int = 1_000,
    queries: int = 200,
    workdir: Path | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run every measurement; returns the ``bench_memory.json`` payload."""
    root = Path(tempfile.mkdtemp(prefix="hive-bench-", dir=workdir))
    note = progress or (lambda stage, done, total: None)
    texts = synthetic_sentences(memories)
    try:
        runs: dict[str, list[float]] = {
            "remember_p50": [], "remember_p95": [], "remember_p99": [],
            "many_per_s": [], "many_keyed_per_s": [], "recall_per_s": [], "recall_cold_per_s": [],
            "search_p50": [], "search_p95": [], "search_p99": [],
        }
        for rep in range(repeats):
            # Durable batched writes, embedding deferred (the worker is not running):
            # events without keys, then keyed facts (each key looked up for supersession).
            store = _open(root / f"events{rep}", config, worker=False)
            try:
                events = [MemoryDraft(content=t) for t in texts]
                start = time.perf_counter()
                for lo in range(0, memories, batch):
                    store.remember_many(events[lo : lo + batch])
                runs["many_per_s"].append(memories / (time.perf_counter() - start))
            finally:
                store.close()
            store = _open(root / f"keyed{rep}", config, worker=False)
            try:
                drafts = [MemoryDraft(content=t, key=f"key-{i}") for i, t in enumerate(texts)]
                start = time.perf_counter()
                for lo in range(0, memories, batch):
                    store.remember_many(drafts[lo : lo + batch])
                runs["many_keyed_per_s"].append(memories / (time.perf_counter() - start))
                note("remember_many", rep + 1, repeats)
                # Exact-key recall over the same keys: cold pass, then warm passes.
                keys = [f"key-{i}" for i in range(memories)]
                random.Random(rep).shuffle(keys)
                start = time.perf_counter()
                for key in keys:
                    store.recall(key)
                runs["recall_cold_per_s"].append(len(keys) / (time.perf_counter() - start))
                warm = keys * max(1, 200_000 // len(keys))
                recall = store.recall
                start = time.perf_counter()
                for key in warm:
                    recall(key)
                runs["recall_per_s"].append(len(warm) / (time.perf_counter() - start))
                note("recall", rep + 1, repeats)
            finally:
                store.close()

            # Single durable writes with the embedding worker running beside them.
            store = _open(root / f"one{rep}", config, worker=True)
            try:
                store.warm_up()  # steady state: the model's one-time load is not a write's latency
                lat: list[float] = []
                for i in range(latency_samples):
                    t0 = time.perf_counter()
                    store.remember(texts[i % len(texts)])
                    lat.append((time.perf_counter() - t0) * 1000)
                runs["remember_p50"].append(percentile(lat, 50))
                runs["remember_p95"].append(percentile(lat, 95))
                runs["remember_p99"].append(percentile(lat, 99))
                note("remember", rep + 1, repeats)
            finally:
                store.close()

        # Search at `memories` records, every vector indexed.
        store = _open(root / "search", config, worker=True)
        try:
            for lo in range(0, memories, batch):
                store.remember_many([MemoryDraft(content=t) for t in texts[lo : lo + batch]])
            start = time.perf_counter()
            store.wait_indexed(None)
            index_s = time.perf_counter() - start
            note("index", 1, 1)
            qs = _queries(queries)
            store.search(qs[0])  # load the model before timing
            for rep in range(repeats):
                lat = []
                for q in qs:
                    t0 = time.perf_counter()
                    store.search(q + f" #{rep}", k=10)  # a fresh query text: no query-vector cache hits
                    lat.append((time.perf_counter() - t0) * 1000)
                runs["search_p50"].append(percentile(lat, 50))
                runs["search_p95"].append(percentile(lat, 95))
                runs["search_p99"].append(percentile(lat, 99))
                note("search", rep + 1, repeats)
        finally:
            store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    med = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "memories": memories,
        "repeats": repeats,
        "embedder": config.memory.embedder,
        "vector_index": config.memory.vector_index,
        "sqlite_synchronous": config.memory.sqlite_synchronous,
        "remember_ms": {"p50": med["remember_p50"], "p95": med["remember_p95"], "p99": med["remember_p99"]},
        "remember_many_per_s": med["many_per_s"],
        "remember_many_keyed_per_s": med["many_keyed_per_s"],
        "remember_many_batch": batch,
        "recall_per_s": med["recall_per_s"],
        "recall_cold_per_s": med["recall_cold_per_s"],
        "search_ms": {"p50": med["search_p50"], "p95": med["search_p95"], "p99": med["search_p99"]},
        "index_records_per_s": memories / index_s if index_s > 0 else None,
        "runs": runs,
        "targets": {
            "search_p95_ms": 20.0,
            "remember_p99_ms": 2.0,
            "recall_per_s": 300_000.0,
            "remember_many_per_s": 20_000.0,
        },
    }
