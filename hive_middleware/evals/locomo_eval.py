"""LoCoMo evidence recall@k for the memory engine and its baselines, in one run.

Engine contract: module ``hive_middleware.evals.engine_retriever`` provides
``make_retriever(workdir: Path) -> Retriever`` (a
:class:`~hive_middleware.evals.retrievers.Retriever` that stores whatever it
needs under ``workdir``, a fresh empty directory the caller removes afterwards;
an optional ``name`` attribute labels it in reports). When that module does not
exist, the engine's top-level fields are ``null``, ``"engine"`` is ``null`` and
the baselines are still reported.

Protocol (DESIGN §3):

* Every conversation is its own namespace (its ``sample_id``). Each turn is
  ingested as one item: id = its ``dia_id``, text = ``"<speaker>: <text>"``
  plus ``" [shared a photo: <blip caption>]"`` when the turn shared an image,
  valid time = its session's date-time, author = its speaker. Every method
  gets the same items (the BM25 and vector baselines index the text alone).
* Each question is one ``search(namespace, question, max(k))`` call, timed.
* recall@k of a question = |evidence ∩ top-k ids| / |evidence|. The top-level
  ``recall_at_k`` is the mean over every category 1-4 question that has
  evidence (micro average over questions, whatever their category);
  ``by_category`` splits it; category 5 (adversarial) is reported apart and
  never mixed in. Questions without evidence are not scored.
* ``latency_ms`` is the p50/p95 of the per-question search latency.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError, HiveDependencyError, HiveValidationError
from hive_middleware.evals.locomo import CATEGORY_NAMES, LocomoConversation, LocomoTurn, read_locomo
from hive_middleware.evals.retrievers import RetrievalItem, Retriever
from hive_middleware.markdown import markdown_table
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error
from hive_middleware.stats import percentile

__all__ = [
    "DEFAULT_KS",
    "ENGINE_MODULE",
    "ProgressFn",
    "evaluate_retriever",
    "load_engine_factory",
    "locomo_markdown",
    "parse_ks",
    "plot_locomo",
    "retriever_name",
    "run_locomo_eval",
    "turn_text",
]

ENGINE_MODULE = "hive_middleware.evals.engine_retriever"
"""Module that provides ``make_retriever(workdir: Path) -> Retriever`` for the engine."""

DEFAULT_KS: tuple[int, ...] = (5, 10, 25)

ProgressFn = Callable[[str, int, int], None]
"""``(method, conversations_done, conversations_total)`` after each conversation."""

_SCORED = (1, 2, 3, 4)
_ADVERSARIAL = 5


def load_engine_factory(module_name: str = ENGINE_MODULE) -> Callable[[Path], Retriever] | None:
    """The engine's ``make_retriever``, or ``None`` when the engine module does not exist.

    Args:
        module_name: Where to look; the default is the documented contract.

    Raises:
        HiveDependencyError: The module exists but has no callable ``make_retriever``.
    """
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return None
    module = importlib.import_module(module_name)
    factory = getattr(module, "make_retriever", None)
    if not callable(factory):
        raise HiveDependencyError(
            f"{module_name} must define make_retriever(workdir: Path) -> Retriever",
            dependency=module_name,
        )
    made: Callable[[Path], Retriever] = factory
    return made


def retriever_name(retriever: Retriever, default: str) -> str:
    """A retriever's ``name`` attribute, else ``default``."""
    name = getattr(retriever, "name", None)
    return name if isinstance(name, str) and name else default


def parse_ks(text: str) -> tuple[int, ...]:
    """Parse ``"5,10,25"`` into sorted distinct positive ints.

    Raises:
        HiveValidationError: A value is not a positive integer, or none is given.
    """
    ks: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise HiveValidationError(f"--k takes positive integers like 5,10,25; got {part!r}", field="k")
        ks.add(int(part))
    if not ks:
        raise HiveValidationError("--k needs at least one value, e.g. 5,10,25", field="k")
    return tuple(sorted(ks))


def turn_text(turn: LocomoTurn) -> str:
    """The text every method indexes for a turn (speaker, words, shared-photo caption)."""
    text = f"{turn.speaker}: {turn.text}"
    if turn.blip_caption:
        text += f" [shared a photo: {turn.blip_caption}]"
    return text


@dataclass
class _Tally:
    """Sums of per-question recall for one group of questions."""

    ks: tuple[int, ...]
    sums: dict[int, float] = field(default_factory=dict)
    n: int = 0

    def add(self, recalls: Mapping[int, float]) -> None:
        self.n += 1
        for k in self.ks:
            self.sums[k] = self.sums.get(k, 0.0) + recalls[k]

    def report(self) -> dict[str, Any]:
        return {
            "recall_at_k": {str(k): (self.sums.get(k, 0.0) / self.n if self.n else None) for k in self.ks},
            "n_questions": self.n,
        }


def evaluate_retriever(
    conversations: Sequence[LocomoConversation],
    retriever: Retriever,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    method: str = "retriever",
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Ingest every conversation into ``retriever`` and score every question.

    Args:
        conversations: The conversations (distinct ``sample_id``s).
        retriever: The method under test; not closed here.
        ks: Cut-offs; one search with ``max(ks)`` per question.
        method: Name passed to ``on_progress``.
        on_progress: Called after each conversation.

    Returns:
        ``{"recall_at_k", "by_category", "adversarial", "latency_ms", "n_questions"}``
        as in DESIGN §3 (``by_category``/``adversarial`` entries also carry
        their ``n_questions``).
    """
    ks = tuple(sorted(set(ks)))
    depth = ks[-1]
    overall = _Tally(ks)
    per_category = {c: _Tally(ks) for c in _SCORED}
    adversarial = _Tally(ks)
    latencies: list[float] = []
    for done, conv in enumerate(conversations, start=1):
        retriever.ingest(
            conv.sample_id,
            [RetrievalItem(t.dia_id, turn_text(t), t.valid_time, t.speaker) for t in conv.turns],
        )
        for q in conv.questions:
            if not q.evidence:
                continue
            start = time.perf_counter()
            ids = retriever.search(conv.sample_id, q.question, depth)
            latencies.append((time.perf_counter() - start) * 1000.0)
            gold = set(q.evidence)
            recalls = {k: len(gold.intersection(ids[:k])) / len(gold) for k in ks}
            if q.category == _ADVERSARIAL:
                adversarial.add(recalls)
            else:
                overall.add(recalls)
                per_category[q.category].add(recalls)
        if on_progress is not None:
            on_progress(method, done, len(conversations))
    top = overall.report()
    return {
        "recall_at_k": top["recall_at_k"],
        "by_category": {CATEGORY_NAMES[c]: per_category[c].report() for c in _SCORED},
        "adversarial": adversarial.report(),
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "n_questions": top["n_questions"],
    }


def _read_all(paths: Sequence[str | Path], skips: SkippedRecords) -> list[LocomoConversation]:
    if not paths:
        raise HiveDataError("no LoCoMo data given; pass --data FILE", path=None, field="data")
    conversations: list[LocomoConversation] = []
    origin: dict[str, str] = {}
    for path in paths:
        try:
            read = read_locomo(path, skips=skips)
        except HiveDataError as exc:
            if not Path(path).is_file():
                raise  # a wrong path is a usage mistake, not a malformed record
            skip_data_error(skips, exc)
            continue
        for conv in read:
            if conv.sample_id in origin:
                raise HiveDataError(
                    f"{path}: sample_id {conv.sample_id!r} was already read from {origin[conv.sample_id]}; "
                    "pass each conversation once",
                    path=str(path),
                    field="sample_id",
                )
            origin[conv.sample_id] = str(path)
            conversations.append(conv)
    if not conversations:
        raise HiveDataError(
            f"no usable LoCoMo conversation in {', '.join(str(p) for p in paths)} ({skips.describe()}); "
            "pass LoCoMo .json files",
            path=None, field="data",
        )
    return conversations


def run_locomo_eval(
    paths: Sequence[str | Path],
    ks: Sequence[int],
    engine: Retriever | None,
    baselines: Mapping[str, Retriever],
    *,
    on_progress: ProgressFn | None = None,
    method_seconds: dict[str, float] | None = None,
    ablations: Sequence[Retriever] = (),
    skips: SkippedRecords | None = None,
) -> dict[str, Any]:
    """Evaluate the engine (if any) and every baseline on the same LoCoMo files.

    Args:
        paths: LoCoMo JSON files (``sample_id``s must not repeat across them).
        ks: Recall cut-offs.
        engine: The memory engine's retriever, or ``None`` when there is none yet.
        baselines: Name -> baseline retriever (``bm25``, ``vector``).
        on_progress: Called after each conversation of each method.
        method_seconds: If given, filled with each method's wall time (ingest
            plus every search), by method name.
        ablations: Variants of the engine that search its store with signals
            switched off; evaluated after the engine (they do not ingest).
        skips: Where malformed or unscorable records are counted (default:
            the collector of :func:`~hive_middleware.skipped.recording_skips`,
            else a fresh one); reported as ``skipped``.

    Returns:
        The ``locomo.json`` payload: ``engine`` (its name or ``None``), the
        engine's ``recall_at_k``/``by_category``/``adversarial``/``latency_ms``
        (``None`` without an engine), ``baselines`` (same keys per baseline),
        ``n_questions`` (scored category 1-4 questions; the same for every
        method) and ``skipped`` (``{reason: n}`` of records left out).
        Retrievers are not closed.

    Raises:
        HiveDataError: A path is missing, no file holds a usable conversation,
            or conversations repeat across files.
        HiveValidationError: ``ks`` is empty or not positive.
    """
    if not ks or min(ks) < 1:
        raise HiveValidationError(f"ks must be positive integers, got {list(ks)}", field="k")
    skips = active_skips(skips)
    conversations = _read_all(paths, skips)
    seconds = method_seconds if method_seconds is not None else {}

    def timed(name: str, retriever: Retriever) -> dict[str, Any]:
        start = time.perf_counter()
        result = evaluate_retriever(conversations, retriever, ks, method=name, on_progress=on_progress)
        seconds[name] = time.perf_counter() - start
        return result

    results = {name: timed(name, r) for name, r in baselines.items()}
    engine_name = None if engine is None else retriever_name(engine, "engine")
    top = None if engine is None else timed(engine_name or "engine", engine)
    names = [] if top is None else [retriever_name(a, "ablation") for a in ablations]
    ablated = {name: timed(name, a) for name, a in zip(names, ablations, strict=False)}
    n_questions = sum(1 for c in conversations for q in c.questions if q.evidence and q.category in _SCORED)
    return {
        "engine": engine_name,
        "recall_at_k": None if top is None else top["recall_at_k"],
        "by_category": None if top is None else top["by_category"],
        "adversarial": None if top is None else top["adversarial"],
        "baselines": results,
        "ablations": ablated,
        "latency_ms": None if top is None else top["latency_ms"],
        "n_questions": n_questions,
        "skipped": skips.counts,
    }


def _methods(payload: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    methods: list[tuple[str, Mapping[str, Any]]] = []
    if payload.get("engine") is not None and payload.get("recall_at_k") is not None:
        methods.append((f"{payload['engine']} (engine)", payload))
    methods.extend(payload.get("ablations", {}).items())
    methods.extend(payload.get("baselines", {}).items())
    return methods


_GROUPS = ("all 1-4", *(CATEGORY_NAMES[c] for c in _SCORED), "adversarial")


def _group_recall(result: Mapping[str, Any], group: str, k: str) -> float | None:
    if group == "all 1-4":
        value = result["recall_at_k"].get(k)
    elif group == "adversarial":
        value = result["adversarial"]["recall_at_k"].get(k)
    else:
        value = result["by_category"][group]["recall_at_k"].get(k)
    return None if value is None else float(value)


def locomo_markdown(
    payload: Mapping[str, Any],
    *,
    data: Sequence[str | Path] = (),
    wall_s: float | None = None,
    method_seconds: Mapping[str, float] | None = None,
) -> str:
    """The Markdown summary: recall@k per method and category, and search latency."""
    methods = _methods(payload)
    ks = list(next(iter(methods))[1]["recall_at_k"]) if methods else []
    rows = []
    for name, result in methods:
        for k in ks:
            rows.append(
                [
                    name,
                    f"@{k}",
                    *[_group_recall(result, g, k) for g in _GROUPS],
                    result["latency_ms"]["p50"],
                    result["latency_ms"]["p95"],
                ]
            )
    header = ["method", "k", *_GROUPS, "p50 ms", "p95 ms"]
    lines = ["# LoCoMo evidence recall", ""]
    if data:
        lines.append("Data: " + ", ".join(str(d) for d in data))
    lines.append(f"Scored questions (categories 1-4 with evidence): {payload['n_questions']}")
    if payload.get("skipped"):
        lines.append(
            "Skipped records: " + ", ".join(f"{reason}: {n}" for reason, n in payload["skipped"].items())
        )
    if payload.get("engine") is None:
        lines.append(f"Engine: not evaluated (--no-engine, or no module {ENGINE_MODULE}); baselines only.")
    if wall_s is not None:
        lines.append(f"Run time: {wall_s:.1f} s")
    if method_seconds:
        lines.append(
            "Per method (ingest + searches): "
            + ", ".join(f"{n} {s:.1f} s" for n, s in method_seconds.items())
        )
    lines += ["", markdown_table(header, [[_cell(v) for v in row] for row in rows])]
    return "\n".join(lines)


def _cell(value: Any) -> Any:
    return "n/a" if value is None else value


def plot_locomo(payload: Mapping[str, Any]) -> Callable[[Any], None]:
    """A plot function for :func:`~hive_middleware.evals.report.write_report`: one
    panel per k, grouped bars of recall per category and method."""

    def draw(fig: Any) -> None:
        methods = _methods(payload)
        if not methods:
            return
        ks = list(methods[0][1]["recall_at_k"])
        axes = fig.subplots(1, len(ks), sharey=True, squeeze=False)[0]
        width = 0.8 / len(methods)
        for ax, k in zip(axes, ks, strict=True):
            for i, (name, result) in enumerate(methods):
                values = [_group_recall(result, g, k) or 0.0 for g in _GROUPS]
                xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(_GROUPS))]
                ax.bar(xs, values, width=width, label=name)
            ax.set_title(f"recall@{k}")
            ax.set_xticks(range(len(_GROUPS)))
            ax.set_xticklabels(_GROUPS, rotation=45, ha="right", fontsize=8)
            ax.set_ylim(0, 1)
        axes[0].set_ylabel("evidence recall")
        axes[0].legend(fontsize=8)

    return draw
