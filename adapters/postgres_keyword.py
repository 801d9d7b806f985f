"""BM25 keyword ranking over PostgreSQL full-text search, for :mod:`.postgres_graph`.

``ts_rank``/``ts_rank_cd`` know nothing of how rare a word is, so a question's
common words (a speaker's name, "like") outrank the one rare word that matters,
and scoring every record that holds a common word is what makes a search slow.
This module ranks the way the SQLite store's FTS5 ``bm25()`` does:

* The query's words are reduced to lexemes by the same ``english`` configuration
  that built the records' ``tsv`` (cached per word: the mapping never changes).
* Each lexeme's document frequency in the tenant, and the tenant's record count
  and mean length, are read from the index and cached for
  :data:`STATS_TTL_S` seconds (they only weigh terms; a record committed a moment
  ago is still found, since candidates always come from the live index).
* Candidates are the records holding the rarest lexemes, adding lexemes in order
  of rarity while their frequencies sum to at most :data:`CANDIDATE_BUDGET`
  (always at least the rarest one): a record that holds only very common words
  of the query would rank near the bottom anyway, and skipping them bounds the
  work. Every lexeme of the query still scores the candidates.
* A candidate's score is ``sum(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len)))``
  with ``k1 = 1.2``, ``b = 0.75``; ``tf`` is ``ts_rank`` of the single lexeme
  with the content weighing 1 and ``metadata["context"]`` weighing
  ``KEYWORD_CONTEXT_WEIGHT`` (scaled so one content occurrence counts 1; more
  occurrences saturate), ``len`` the record's words.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from hive_middleware.memory.records import KEYWORD_CONTEXT_WEIGHT

__all__ = ["CANDIDATE_BUDGET", "STATS_TTL_S", "TS_CONFIG", "KeywordRanker", "query_words"]

TS_CONFIG = "english"
STATS_TTL_S = 30.0
CANDIDATE_BUDGET = 2000
_MAX_CACHED_WORDS = 50_000
# ts_rank of one occurrence of weight 1 for a one-lexeme query (normalisation 0).
_TS_RANK_ONE = 0.6079271
_WEIGHTS = [0.0, 0.0, KEYWORD_CONTEXT_WEIGHT, 1.0]  # ts_rank's {D, C, B, A}: context is B, content A
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LEXEME = re.compile(r"[^\W_]+", re.UNICODE)

Query = Callable[[str, str, Any], list[Any]]
"""``query(what, sql, params) -> rows``: runs one read on the store's pool."""


def query_words(text: str) -> list[str]:
    """The distinct words of ``text`` (runs of letters and digits), lower-cased, in order.

    Records are indexed through the same split, so paths, hosts and identifiers
    (``src/flux_core.py``) are found by their words, as in the SQLite store.
    """
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))


class KeywordRanker:
    """BM25 ranking of one store's records (see the module docstring).

    Args:
        query: Runs a read on the store's connection pool.
        clock: Monotonic seconds (injected in tests).
    """

    def __init__(self, query: Query, clock: Callable[[], float] = time.monotonic) -> None:
        self._query = query
        self._clock = clock
        self._lock = threading.Lock()
        self._lexemes: dict[str, tuple[str, ...]] = {}
        self._df: dict[tuple[str, str], tuple[float, int]] = {}
        self._corpus: dict[str, tuple[float, int, float]] = {}

    def forget(self, tenant: str) -> None:
        """Drop the cached statistics of ``tenant`` (after an erase)."""
        with self._lock:
            self._corpus.pop(tenant, None)
            for key in [key for key in self._df if key[0] == tenant]:
                del self._df[key]

    def search(self, tenant: str, text: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` ``(record_id, score)`` pairs of ``tenant``, best first, scores > 0."""
        words = query_words(text)
        if not words or k <= 0:
            return []
        lexemes = self._lexemes_of(words)
        if not lexemes:
            return []
        count, mean_len = self._corpus_stats(tenant)
        if count == 0:
            return []
        df = self._frequencies(tenant, lexemes)
        terms = sorted((d, lex) for lex, d in df.items() if d > 0)
        if not terms:
            return []
        chosen: list[str] = []
        total = 0
        for d, lex in terms:
            if chosen and total + d > CANDIDATE_BUDGET:
                break
            chosen.append(lex)
            total += d
        idf = [math.log(1 + (max(count, d) - d + 0.5) / (d + 0.5)) for d, _ in terms]
        rows = self._query(
            "search keywords",
            "SELECT r.id, s.score FROM hive_records r CROSS JOIN LATERAL ("
            "  SELECT sum(t.idf * x.tf * 2.2 / (x.tf + 1.2 * (0.25 + 0.75 * "
            "    (r.content_words + r.context_words) / %(avg)s))) AS score"
            "  FROM unnest(%(terms)s::tsquery[], %(idf)s::float8[]) AS t(q, idf)"
            "  CROSS JOIN LATERAL (SELECT ts_rank(%(w)s::real[], r.tsv, t.q, 0) / %(one)s AS tf) x"
            "  WHERE x.tf > 0) s "
            "WHERE r.tenant = %(tenant)s AND r.tsv @@ %(candidates)s::tsquery "
            "ORDER BY s.score DESC, r.seq LIMIT %(k)s",
            {
                "avg": max(mean_len, 1.0),
                "terms": [_quoted(lex) for _, lex in terms],
                "idf": idf,
                "w": _WEIGHTS,
                "one": _TS_RANK_ONE,
                "tenant": tenant,
                "candidates": " | ".join(_quoted(lex) for lex in chosen),
                "k": k,
            },
        )
        return [(r[0], max(float(r[1] or 0.0), 1e-9)) for r in rows]

    def _lexemes_of(self, words: Sequence[str]) -> list[str]:
        with self._lock:
            missing = [w for w in words if w not in self._lexemes]
        if missing:
            rows = self._query(
                "normalise query words",
                f"SELECT w, array(SELECT lexeme FROM unnest(to_tsvector('{TS_CONFIG}', w))) "
                "FROM unnest(%s::text[]) AS w",
                (missing,),
            )
            with self._lock:
                if len(self._lexemes) > _MAX_CACHED_WORDS:
                    self._lexemes.clear()
                for word, found in rows:
                    # A lexeme of letters and digits only can be quoted into a tsquery safely.
                    self._lexemes[word] = tuple(lex for lex in found if _LEXEME.fullmatch(lex))
        with self._lock:
            out = [lex for w in words for lex in self._lexemes.get(w, ())]
        return list(dict.fromkeys(out))

    def _corpus_stats(self, tenant: str) -> tuple[int, float]:
        now = self._clock()
        with self._lock:
            cached = self._corpus.get(tenant)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        row = self._query(
            "count a tenant's records",
            "SELECT count(*), coalesce(avg(content_words + context_words), 0) FROM hive_records WHERE tenant = %s",
            (tenant,),
        )[0]
        count, mean_len = int(row[0]), float(row[1])
        if count:
            # An empty tenant is not cached: its first record must be found at once.
            with self._lock:
                self._corpus[tenant] = (now + STATS_TTL_S, count, mean_len)
        return count, mean_len

    def _frequencies(self, tenant: str, lexemes: Sequence[str]) -> dict[str, int]:
        now = self._clock()
        out: dict[str, int] = {}
        with self._lock:
            for lex in lexemes:
                cached = self._df.get((tenant, lex))
                if cached is not None and cached[0] > now:
                    out[lex] = cached[1]
        missing = [lex for lex in lexemes if lex not in out]
        if missing:
            rows = self._query(
                "count keyword frequencies",
                "SELECT u.i, (SELECT count(*) FROM hive_records r WHERE r.tenant = %s AND r.tsv @@ u.q) "
                "FROM unnest(%s::tsquery[]) WITH ORDINALITY AS u(q, i)",
                (tenant, [_quoted(lex) for lex in missing]),
            )
            with self._lock:
                if len(self._df) > _MAX_CACHED_WORDS:
                    self._df.clear()
                for i, d in rows:
                    lex = missing[int(i) - 1]
                    out[lex] = int(d)
                    if d:
                        # A lexeme absent now is not cached: a record holding it may come next.
                        self._df[(tenant, lex)] = (now + STATS_TTL_S, int(d))
        return out


def _quoted(lexeme: str) -> str:
    return f"'{lexeme}'"
