"""Hybrid retrieval: vector + BM25 + graph expansion + time, fused by reciprocal rank.

Each signal produces a ranking of record ids:

* ``vector``: nearest neighbours of the query embedding (needs the worker to
  have embedded the records; until then the other signals still find them);
* ``bm25``: the graph store's keyword index;
* ``graph``: neighbours (one hop, any edge kind) of the strongest fused hits,
  ranked by the rank of the hit they hang off, so context around a good hit
  (the turn before and after, the cause, the superseded version) comes along;
  with ``graph_inherit > 0`` a neighbour instead adds that share of its seed's
  fused score to its own, so it ranks by how good the match beside it was;
* ``recency``: the strongest candidates ordered newest first by ``valid_from``
  (falling back to ``recorded_at``), weighted ``weight_recency``, plus
  ``weight_recency_present`` when the query asks about the present ("now",
  "currently", "latest"...; see :func:`present_intent`);
* ``author``: when the query names the author of some of the tenant's records
  (``metadata["author"]``, see :func:`~hive_middleware.memory.mentions.author_mentions`),
  each candidate by a named author gains ``weight_author / (rrf_k + 1)`` (what
  a first rank in a signal is worth);
* ``date``: when the query names a day or a month
  (:func:`~hive_middleware.memory.mentions.date_mentions`), each candidate
  valid then (``valid_from``, else ``recorded_at``, on a day in the span) gains
  ``weight_date / (rrf_k + 1)``.

Names and dates leave the text the keyword and vector signals match: they say
*who* and *when*, and matched as words they rank every record that merely
contains them.

Candidates are then filtered by time (current versions only, or what was known
and valid ``as_of``), namespace prefix, kind, tags and confidence, and fused:
``score(d) = sum_s w_s / (rrf_k + rank_s(d))`` with 1-based ranks.

Per-agent trust (``MemoryConfig.agent_trust``) scales the fused score last:
``final(d) = trust(agent(d)) * score(d)``, where ``agent(d)`` is the record's
``namespace[1]`` and an agent not listed (or a record without an agent) weighs
1.0 (:func:`agent_trust`). Of two equally relevant records, the one written by
the less trusted agent ranks lower; with no weights set, ranking is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime

from hive_middleware.config import MemoryConfig
from hive_middleware.memory.clock import hlc_to_datetime
from hive_middleware.memory.mentions import DateSpan, author_mentions, date_mentions
from hive_middleware.memory.records import namespace_agent, namespace_has_prefix
from hive_middleware.ports import Embedder, GraphStore, VectorIndex
from hive_middleware.types import MemoryKind, MemoryRecord

__all__ = [
    "AsOf",
    "SearchResult",
    "agent_trust",
    "hybrid_search",
    "present_intent",
    "rrf_fuse",
    "visible",
]


@dataclass(frozen=True, slots=True)
class AsOf:
    """A point in time: ``stamp`` (HLC, what the store knew) and ``moment`` (world time).

    ``moment=None`` asks about belief only (an HLC stamp given directly): the
    validity interval is not checked, because stamps and valid times closed by
    a supersession can share a millisecond.
    """

    stamp: int
    moment: datetime | None


def visible(record: MemoryRecord, as_of: AsOf | None) -> bool:
    """Whether ``record`` is the belief to report now (``as_of=None``) or at ``as_of``.

    Now: not expired. At ``as_of``: recorded by then, not yet expired then, and
    (for a world-time ``moment``) its validity interval ``[valid_from, valid_to)``
    contains the moment.
    """
    if as_of is None:
        return record.expired_at is None
    if record.recorded_at > as_of.stamp:
        return False
    if record.expired_at is not None and record.expired_at <= as_of.stamp:
        return False
    if as_of.moment is None:
        return True
    if record.valid_from is not None and record.valid_from > as_of.moment:
        return False
    return record.valid_to is None or record.valid_to > as_of.moment


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One search hit.

    Attributes:
        record: The memory.
        score: Its fused reciprocal-rank score (higher is better).
        signals: The signals that found it (``vector``, ``bm25``, ``graph``, ``recency``).
        ranks: Its 1-based rank in each signal that found it.
    """

    record: MemoryRecord
    score: float
    signals: tuple[str, ...]
    ranks: Mapping[str, int] = field(default_factory=dict)


def rrf_fuse(
    rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float], rrf_k: int
) -> list[tuple[str, float, dict[str, int]]]:
    """Reciprocal-rank fusion of several rankings.

    Args:
        rankings: Signal name -> ids, best first (duplicates keep their first rank).
        weights: Signal name -> weight (missing: 1.0; 0 removes the signal).
        rrf_k: The RRF constant; larger flattens the curve.

    Returns:
        ``(id, score, {signal: rank})`` best first; ties broken by id.
    """
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for signal, ids in rankings.items():
        weight = weights.get(signal, 1.0)
        if weight <= 0:
            continue
        seen: set[str] = set()
        for position, record_id in enumerate(ids, start=1):
            if record_id in seen:
                continue
            seen.add(record_id)
            scores[record_id] = scores.get(record_id, 0.0) + weight / (rrf_k + position)
            ranks.setdefault(record_id, {})[signal] = position
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(record_id, score, ranks[record_id]) for record_id, score in ordered]


_PRESENT_CUES = frozenset(
    {"now", "current", "currently", "nowadays", "presently", "latest", "anymore", "still"}
)
_WORD = re.compile(r"\w+", re.UNICODE)


def present_intent(query: str) -> tuple[bool, str]:
    """Whether ``query`` asks about the present ("now", "currently", "latest" ...), and
    the query without those cue words for keyword matching.

    The cues say *when*, not *what*: matched as keywords they rank turns that
    merely say "now" above the fact asked about, so they become a time signal
    (recency) instead.
    """
    words = _WORD.findall(query)
    kept = [w for w in words if w.lower() not in _PRESENT_CUES]
    if len(kept) == len(words):
        return False, query
    return True, " ".join(kept) if kept else query


def agent_trust(config: MemoryConfig, namespace: Sequence[str]) -> float:
    """The trust weight of the agent owning ``namespace`` (``MemoryConfig.agent_trust``; 1.0 when not listed)."""
    agent = namespace_agent(namespace)
    return 1.0 if agent is None else config.agent_trust.get(agent, 1.0)


def _moment(record: MemoryRecord) -> datetime:
    # When a record became true: its valid time, else when it was recorded.
    return record.valid_from or hlc_to_datetime(record.recorded_at)


def _valid_on(record: MemoryRecord, spans: Sequence[DateSpan]) -> bool:
    day = _moment(record).date()
    return any(span.contains(day) for span in spans)


def _recency_key(record: MemoryRecord) -> float:
    return _moment(record).timestamp()


def hybrid_search(
    *,
    graph: GraphStore,
    vectors: VectorIndex | None,
    embedder: Embedder | None,
    config: MemoryConfig,
    namespace: tuple[str, ...],
    query: str,
    k: int,
    as_of: AsOf | None = None,
    kinds: Iterable[MemoryKind] | None = None,
    tags: Iterable[str] | None = None,
    min_confidence: float | None = None,
    embed_query: Callable[[str], list[float]] | None = None,
    hide: Callable[[MemoryRecord], bool] | None = None,
    executor: Executor | None = None,
) -> list[SearchResult]:
    """Rank the records of ``namespace`` (and below) for ``query``; see the module docstring.

    Args:
        graph: Source of records, keyword index and edges.
        vectors: Vector index (``None``: no vector signal).
        embedder: Embeds the query (``None``: no vector signal).
        config: Weights, RRF constant and candidate depths.
        namespace: Namespace prefix to search; its first element is the tenant.
        query: Free text.
        k: Results wanted.
        as_of: Search what was known and valid then (``None``: current beliefs).
        kinds: Keep only these kinds.
        tags: Keep only records carrying all these tags.
        min_confidence: Keep only records at least this confident.
        embed_query: Overrides ``embedder.embed`` for the query (a cache).
        executor: If given, the vector branch (query embedding + index query)
            runs there while this thread runs the keyword search.
        hide: Drops records it returns true for (sensory memories past their TTL).

    Returns:
        Up to ``k`` results, best first.
    """
    tenant = namespace[0]
    kind_set = frozenset(kinds) if kinds is not None else None
    tag_set = frozenset(tags) if tags is not None else None
    filtered = kind_set is not None or tag_set is not None or min_confidence is not None
    filtered = filtered or len(namespace) > 1 or as_of is not None
    depth = max(config.search_candidates, k * 2) * (4 if filtered else 1)

    named: frozenset[str] = frozenset()
    subject = query
    if config.weight_author > 0:
        named, subject = author_mentions(subject, graph.authors(tenant))
    spans: tuple[DateSpan, ...] = ()
    if config.weight_date > 0:
        spans, subject = date_mentions(subject)

    def vector_ranking() -> list[str]:
        assert vectors is not None and embedder is not None
        vector = embed_query(subject) if embed_query is not None else embedder.embed([subject])[0]
        return [rid for rid, _ in vectors.query(tenant, vector, depth)]

    use_vectors = vectors is not None and embedder is not None and config.weight_vector > 0
    pending: Future[list[str]] | None = None
    if use_vectors and executor is not None:
        pending = executor.submit(vector_ranking)
    rankings: dict[str, list[str]] = {}
    present, keyword_query = present_intent(subject)
    rankings["bm25"] = [rid for rid, _ in graph.keyword_search(tenant, keyword_query, depth)]
    if pending is not None:
        rankings["vector"] = pending.result()
    elif use_vectors:
        rankings["vector"] = vector_ranking()

    records: dict[str, MemoryRecord] = {}

    def keep(ids: Iterable[str]) -> list[str]:
        wanted = [rid for rid in ids if rid not in records]
        if wanted:
            records.update(graph.get(tenant, wanted))
        out = []
        for rid in ids:
            record = records.get(rid)
            if record is None or not visible(record, as_of):
                continue
            if hide is not None and hide(record):
                continue
            if len(namespace) > 1 and not namespace_has_prefix(record.namespace, namespace):
                continue
            if kind_set is not None and record.kind not in kind_set:
                continue
            if tag_set is not None and not tag_set <= set(record.tags):
                continue
            if min_confidence is not None and record.confidence < min_confidence:
                continue
            out.append(rid)
        return out

    all_ids = list(dict.fromkeys(rid for ids in rankings.values() for rid in ids))
    allowed = set(keep(all_ids))
    rankings = {signal: [rid for rid in ids if rid in allowed] for signal, ids in rankings.items()}
    weights = {
        "vector": config.weight_vector,
        "bm25": config.weight_bm25,
        "graph": config.weight_graph,
        "recency": config.weight_recency + (config.weight_recency_present if present else 0.0),
    }

    author_bonus = config.weight_author / (config.rrf_k + 1) if named else 0.0
    date_bonus = config.weight_date / (config.rrf_k + 1) if spans else 0.0

    def boosted(fused: list[tuple[str, float, dict[str, int]]]) -> list[tuple[str, float, dict[str, int]]]:
        # Candidates by an author, or valid on a date, the query names gain what a first rank is worth.
        if not (author_bonus or date_bonus):
            return fused
        out = []
        for rid, score, ranks in fused:
            record = records[rid]
            if author_bonus and record.metadata.get("author") in named:
                score, ranks = score + author_bonus, ranks | {"author": 1}
            if date_bonus and _valid_on(record, spans):
                score, ranks = score + date_bonus, ranks | {"date": 1}
            out.append((rid, score, ranks))
        out.sort(key=lambda t: (-t[1], t[0]))
        return out

    inherited: dict[str, float] = {}
    if config.expand_top > 0 and config.weight_graph > 0:
        first = rrf_fuse(rankings, weights, config.rrf_k)
        expanded: list[str] = []
        for seed, seed_score, _ in first[: config.expand_top]:
            reached = graph.traverse(tenant, [seed], depth=1, direction="both")
            near = keep(sorted(reached, key=lambda rid: (reached[rid], rid)))
            expanded.extend(near)
            for rid in near:
                # A neighbour of a strong hit inherits a share of its score, so the
                # turn around a good match ranks by how good that match was.
                share = config.graph_inherit * seed_score
                if share > inherited.get(rid, 0.0):
                    inherited[rid] = share
        rankings["graph"] = list(dict.fromkeys(expanded))
        if config.graph_inherit > 0:
            weights["graph"] = 0.0

    if weights["recency"] > 0:
        # Order the strongest candidates newest first: among things that match,
        # the latest statement is the one that holds now.
        pool = [
            rid
            for rid, _, _ in boosted(rrf_fuse(rankings, weights | {"recency": 0.0}, config.rrf_k))[
                : max(k, 10)
            ]
        ]
        rankings["recency"] = sorted(
            pool, key=lambda rid: (-_recency_key(records[rid]), -records[rid].recorded_at, rid)
        )

    fused = rrf_fuse(rankings, weights, config.rrf_k)
    if inherited:
        scored = {rid: (score, ranks) for rid, score, ranks in fused}
        for rid, share in inherited.items():
            score, ranks = scored.get(rid, (0.0, {}))
            scored[rid] = (score + share, ranks | {"graph": rankings["graph"].index(rid) + 1})
        fused = sorted(((rid, sr[0], sr[1]) for rid, sr in scored.items()), key=lambda t: (-t[1], t[0]))
    fused = boosted(fused)
    if config.agent_trust:
        # A less trusted agent's record keeps its signals but contributes less.
        fused = sorted(
            ((rid, score * agent_trust(config, records[rid].namespace), ranks) for rid, score, ranks in fused),
            key=lambda t: (-t[1], t[0]),
        )
    return [
        SearchResult(record=records[rid], score=score, signals=tuple(sorted(ranks)), ranks=ranks)
        for rid, score, ranks in fused[:k]
    ]
