"""The words a keyword index sees: tokenised and stemmed as the embedded SQLite index does.

Blind keyword tokens (:mod:`hive_middleware.memory.sealing`) are computed from
normalised words, and a query word must normalise to the same term as the
word it should find. :func:`keyword_terms` runs text through SQLite FTS5's own
``porter unicode61`` tokenizer (an in-memory table per thread, read back through
``fts5vocab``), the tokenizer of the embedded store's ``records_fts``: case and
diacritics folded, words split on anything but letters and digits, Porter
stemmed. So "Deploying", "deploys" and "deploy" give one term, as they do in
an unsealed store.

Words in :data:`STOPWORDS` are left out of both documents and queries: they
match most records and carry almost no weight, and leaving them out of a
sealed index hides the most frequent tokens.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from hive_middleware.errors import HiveStorageError

__all__ = ["STOPWORDS", "TOKENIZER", "keyword_terms", "query_terms"]

TOKENIZER = "porter unicode61"
"""The FTS5 tokenizer whose terms these are (the embedded SQLite keyword index uses it too)."""

STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from",
        "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "me",
        "my", "no", "not", "of", "on", "or", "our", "she", "so", "than", "that", "the", "their", "them",
        "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where",
        "which", "who", "whom", "why", "will", "with", "would", "you", "your",
    ]
)
"""Words so common that indexing or matching them only adds cost."""

_local = threading.local()


def _tokenizer() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is not None and _local.pid == os.getpid():
        return conn
    try:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute(f"CREATE VIRTUAL TABLE words USING fts5(text, tokenize='{TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, 'instance')")
    except sqlite3.Error as exc:
        raise HiveStorageError(
            f"this Python's SQLite lacks FTS5 ({exc}); keyword terms need a SQLite built with FTS5"
        ) from exc
    _local.conn, _local.pid = conn, os.getpid()
    return conn


def _stemmed(text: str) -> list[str]:
    """Every term of ``text`` in order, repeats kept."""
    conn = _tokenizer()
    conn.execute("BEGIN")
    try:
        conn.execute("INSERT INTO words(rowid, text) VALUES (1, ?)", (text,))
        terms = [row[0] for row in conn.execute("SELECT term FROM terms ORDER BY offset")]
    finally:
        conn.execute("ROLLBACK")
    return terms


_STOP_TERMS: frozenset[str] | None = None


def _stop_terms() -> frozenset[str]:
    # The stopwords as the tokenizer stems them ("was" -> "wa", "this" -> "thi").
    global _STOP_TERMS
    if _STOP_TERMS is None:
        _STOP_TERMS = frozenset(_stemmed(" ".join(sorted(STOPWORDS))))
    return _STOP_TERMS


def keyword_terms(text: str) -> list[str]:
    """The indexable terms of ``text``, in order, repeats kept (so term frequencies hold), stopwords out."""
    if not text:
        return []
    stop = _stop_terms()
    return [term for term in _stemmed(text) if term not in stop]


def query_terms(text: str) -> list[str]:
    """The distinct indexable terms of a query, in order (stopwords out, as in :func:`keyword_terms`)."""
    return list(dict.fromkeys(keyword_terms(text)))
