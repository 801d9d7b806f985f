"""Long-horizon hit rate for the memory engine and its baselines, in one run.

The engine is found exactly as for LoCoMo (see
:mod:`hive_middleware.evals.locomo_eval`: module
``hive_middleware.evals.engine_retriever`` provides
``make_retriever(workdir: Path) -> Retriever``).

Protocol (DESIGN §3):

* The whole dialogue is one namespace. Each turn is one item: id = the turn
  number, text = its ``content`` only (``facts`` are ground truth and never
  ingested), no valid time (the format has none). Turns are ingested block by
  block in dialogue order, so a method that keeps time of arrival sees the
  order in which facts changed.
* Each question is one ``search(namespace, question text, 10)`` call.
* A *hit*: every required keyword appears (case-insensitive substring) in the
  contents of the top-10 results. ``hit_rate`` = hits / questions.
* ``current_first``: among questions that ask for a current value (the text
  contains the word current, currently or now), the fraction whose required
  keywords all appear in the top-3 results; ``null`` when there are none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from hive_middleware.evals.long_horizon import LongHorizonDataset, LongHorizonQuestion, read_long_horizon
from hive_middleware.evals.retrievers import RetrievalItem, Retriever
from hive_middleware.markdown import markdown_table
from hive_middleware.skipped import SkippedRecords, active_skips

__all__ = [
    "CURRENT_DEPTH",
    "HIT_DEPTH",
    "NAMESPACE",
    "evaluate_long_horizon",
    "keywords_found",
    "long_horizon_markdown",
    "plot_long_horizon",
    "run_long_horizon_eval",
]

HIT_DEPTH = 10
"""Results a hit may draw keywords from."""
CURRENT_DEPTH = 3
"""Results ``current_first`` may draw keywords from."""
NAMESPACE = "long-horizon"


def keywords_found(keywords: Sequence[str], contents: Sequence[str]) -> bool:
    """Whether every keyword occurs, case-insensitively, in one of ``contents``."""
    lowered = [c.lower() for c in contents]
    return all(any(k.lower() in c for c in lowered) for k in keywords)


def evaluate_long_horizon(
    data: LongHorizonDataset,
    retriever: Retriever,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Ingest the dialogue into ``retriever`` and score every question.

    Args:
        data: The dialogue and questions.
        retriever: The method under test; not closed here.
        on_progress: ``(questions_done, questions_total)`` after each question.

    Returns:
        ``{"hit_rate", "by_category": {category: {"hit_rate", "n_questions"}},
        "current_first"}``.
    """
    contents = {str(t.turn): t.content for t in data.turns}
    for _, block in groupby(data.turns, key=lambda t: t.block):
        retriever.ingest(NAMESPACE, [RetrievalItem(str(t.turn), t.content, None) for t in block])
    hits: dict[str, list[bool]] = {}
    current: list[bool] = []
    for done, q in enumerate(data.questions, start=1):
        ids = retriever.search(NAMESPACE, q.text, HIT_DEPTH)
        found = [contents[i] for i in ids if i in contents]
        hits.setdefault(q.category, []).append(keywords_found(q.required_keywords, found[:HIT_DEPTH]))
        if q.asks_current:
            current.append(keywords_found(q.required_keywords, found[:CURRENT_DEPTH]))
        if on_progress is not None:
            on_progress(done, len(data.questions))
    every = [h for group in hits.values() for h in group]
    return {
        "hit_rate": sum(every) / len(every),
        "by_category": {
            cat: {"hit_rate": sum(group) / len(group), "n_questions": len(group)}
            for cat, group in hits.items()
        },
        "current_first": (sum(current) / len(current)) if current else None,
    }


def run_long_horizon_eval(
    dialogue: str | Path,
    questions: str | Path,
    engine: Retriever | None,
    baselines: Mapping[str, Retriever],
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
    skips: SkippedRecords | None = None,
) -> dict[str, Any]:
    """Evaluate the engine (if any) and every baseline on one dialogue.

    Args:
        dialogue: Dialogue JSON file.
        questions: Questions JSON file.
        engine: The memory engine's retriever, or ``None``.
        baselines: Name -> baseline retriever (``bm25``).
        on_progress: ``(method, questions_done, questions_total)``.
        skips: Where malformed or unscorable records are counted (default:
            the collector of :func:`~hive_middleware.skipped.recording_skips`,
            else a fresh one); reported as ``skipped``.

    Returns:
        The ``long_horizon.json`` payload: ``engine`` (name or ``None``), the
        engine's ``hit_rate``/``by_category``/``current_first`` (``None``
        without an engine), ``baselines`` with the same keys each, and
        ``skipped`` (``{reason: n}`` of records left out). Retrievers are not closed.

    Raises:
        HiveDataError: Either file is missing, not a JSON list, or holds no usable record.
    """
    skips = active_skips(skips)
    data = read_long_horizon(dialogue, questions, skips=skips)

    def progress(method: str) -> Callable[[int, int], None] | None:
        if on_progress is None:
            return None
        report = on_progress
        return lambda done, total: report(method, done, total)

    results = {
        name: evaluate_long_horizon(data, r, on_progress=progress(name)) for name, r in baselines.items()
    }
    engine_name = None
    top: dict[str, Any] | None = None
    if engine is not None:
        name = getattr(engine, "name", None)
        engine_name = name if isinstance(name, str) and name else "engine"
        top = evaluate_long_horizon(data, engine, on_progress=progress(engine_name))
    return {
        "engine": engine_name,
        "hit_rate": None if top is None else top["hit_rate"],
        "by_category": None if top is None else top["by_category"],
        "current_first": None if top is None else top["current_first"],
        "baselines": results,
        "skipped": skips.counts,
    }


def _methods(payload: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    methods: list[tuple[str, Mapping[str, Any]]] = []
    if payload.get("engine") is not None and payload.get("hit_rate") is not None:
        methods.append((f"{payload['engine']} (engine)", payload))
    methods.extend(payload.get("baselines", {}).items())
    return methods


def long_horizon_markdown(
    payload: Mapping[str, Any], questions: Sequence[LongHorizonQuestion] = (), *, wall_s: float | None = None
) -> str:
    """The Markdown summary: hit rate, current_first and per-category hit rates per method."""
    methods = _methods(payload)
    categories = sorted({c for _, r in methods for c in r["by_category"]})
    rows = [
        [
            name,
            r["hit_rate"],
            "n/a" if r["current_first"] is None else r["current_first"],
            *[r["by_category"].get(c, {}).get("hit_rate", "n/a") for c in categories],
        ]
        for name, r in methods
    ]
    lines = ["# Long-horizon memory", ""]
    if questions:
        lines.append(
            f"Questions: {len(questions)} ({sum(q.asks_current for q in questions)} ask for a current value)"
        )
    if payload.get("engine") is None:
        lines.append("Engine: not evaluated (--no-engine, or no engine module); baselines only.")
    if payload.get("skipped"):
        lines.append(
            "Skipped records: " + ", ".join(f"{reason}: {n}" for reason, n in payload["skipped"].items())
        )
    if wall_s is not None:
        lines.append(f"Run time: {wall_s:.1f} s")
    header = ["method", "hit_rate", "current_first", *categories]
    lines += ["", markdown_table(header, rows)]
    return "\n".join(lines)


def plot_long_horizon(payload: Mapping[str, Any]) -> Callable[[Any], None]:
    """Bars of hit rate, current_first and per-category hit rate per method."""

    def draw(fig: Any) -> None:
        methods = _methods(payload)
        if not methods:
            return
        categories = sorted({c for _, r in methods for c in r["by_category"]})
        groups = ["hit_rate", "current_first", *categories]
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / len(methods)
        for i, (name, r) in enumerate(methods):
            values = [
                r["hit_rate"],
                r["current_first"] or 0.0,
                *[r["by_category"].get(c, {}).get("hit_rate", 0.0) for c in categories],
            ]
            xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(groups))]
            ax.bar(xs, values, width=width, label=name)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction of questions")
        ax.legend()

    return draw
