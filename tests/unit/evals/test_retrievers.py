"""Retriever baselines: BM25 on SQLite FTS5 and exact-cosine vectors; the Retriever port."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.evals.retrievers import (
    BM25Retriever,
    RetrievalItem,
    Retriever,
    VectorRetriever,
    fts5_query,
)

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
ITEMS = [
    RetrievalItem("D1:1", "Caroline: I went to the LGBTQ support group yesterday.", T0),
    RetrievalItem("D1:2", "Melanie: I painted a sunrise over the lake last week.", T0),
    RetrievalItem(
        "D1:3", "Caroline: The support group really helped me; I'm researching adoption agencies.", T0
    ),
    RetrievalItem("D1:4", "Melanie: My kids love camping at the beach.", None),
]


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder (test double for the Embedder port)."""

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self.calls = 0

    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            vec = [0.0] * self._dim
            for word in re.findall(r"\w+", text.lower()):
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim] += 1.0
            out.append(vec)
        return out


@pytest.fixture(params=["bm25", "vector"])
def retriever(request: pytest.FixtureRequest) -> Retriever:
    r: Retriever = BM25Retriever() if request.param == "bm25" else VectorRetriever(HashingEmbedder())
    yield r  # type: ignore[misc]
    r.close()


def test_both_satisfy_the_port(retriever: Retriever) -> None:
    assert isinstance(retriever, Retriever)


def test_ranks_the_matching_turn_first(retriever: Retriever) -> None:
    retriever.ingest("conv-1", ITEMS)
    assert retriever.search("conv-1", "adoption agencies", 2)[0] == "D1:3"
    assert retriever.search("conv-1", "painted sunrise lake", 1) == ["D1:2"]
    hits = retriever.search("conv-1", "support group", 10)
    assert set(hits[:2]) == {"D1:1", "D1:3"}
    assert len(hits) == len(set(hits)) <= len(ITEMS)


def test_namespaces_are_isolated(retriever: Retriever) -> None:
    retriever.ingest("a", ITEMS[:2])
    retriever.ingest("b", [RetrievalItem("B1", "adoption agencies and painting", None)])
    assert set(retriever.search("a", "adoption painting", 10)) <= {"D1:1", "D1:2"}
    assert retriever.search("b", "adoption painting", 10) == ["B1"]
    assert retriever.search("missing", "adoption", 5) == []


def test_ingest_in_several_calls(retriever: Retriever) -> None:
    retriever.ingest("c", ITEMS[:2])
    retriever.ingest("c", ITEMS[2:])
    assert retriever.search("c", "camping beach kids", 1) == ["D1:4"]


def test_bad_input(retriever: Retriever) -> None:
    retriever.ingest("c", ITEMS[:1])
    with pytest.raises(HiveValidationError, match="already"):
        retriever.ingest("c", ITEMS[:1])
    with pytest.raises(HiveValidationError, match="naive"):
        retriever.ingest("c", [RetrievalItem("x", "t", datetime(2023, 1, 1))])
    with pytest.raises(HiveValidationError, match="k must be"):
        retriever.search("c", "support", 0)
    with pytest.raises(HiveValidationError, match="namespace"):
        retriever.ingest("", ITEMS[1:2])


def test_bm25_returns_only_matching_turns_and_handles_empty_queries() -> None:
    r = BM25Retriever()
    r.ingest("c", ITEMS)
    assert r.search("c", "zebra", 5) == []
    assert r.search("c", "", 5) == []
    assert r.search("c", "?!", 5) == []
    # only stopwords: they are kept rather than matching nothing
    r.ingest("s", [RetrievalItem("s1", "what is it", None), RetrievalItem("s2", "nothing here", None)])
    assert r.search("s", "What is it?", 5) == ["s1"]
    r.close()


def test_bm25_stems_and_ignores_fts_syntax() -> None:
    r = BM25Retriever()
    r.ingest("c", ITEMS)
    assert r.search("c", "paintings", 1) == ["D1:2"]
    for hostile in [
        '"',
        "NEAR(support group)",
        "text: adoption",
        "adoption*",
        "AND OR NOT",
        "a'b\"c",
        "^camping",
    ]:
        r.search("c", hostile, 3)  # never raises an FTS5 syntax error
    r.close()


def test_bm25_on_a_file(tmp_path: Path) -> None:
    r = BM25Retriever(tmp_path / "bm25.sqlite")
    r.ingest("c", ITEMS)
    assert r.search("c", "beach", 1) == ["D1:4"]
    r.close()
    assert (tmp_path / "bm25.sqlite").stat().st_size > 0


def test_fts5_query_quotes_and_drops_stopwords() -> None:
    assert fts5_query("What did Caroline research?") == '"caroline" OR "research"'
    assert fts5_query("the the") == '"the"'
    assert fts5_query("  ") is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_query_is_safe(query: str) -> None:
    r = BM25Retriever()
    r.ingest("c", ITEMS)
    hits = r.search("c", query, 3)
    assert len(hits) <= 3 and set(hits) <= {it.id for it in ITEMS}
    r.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=15), st.integers(1, 20))
def test_vector_search_is_exact_top_k(texts: list[str], k: int) -> None:
    emb = HashingEmbedder(16)
    r = VectorRetriever(emb)
    r.ingest("c", [RetrievalItem(str(i), t, None) for i, t in enumerate(texts)])
    query = texts[0]
    hits = r.search("c", query, k)
    if not query.strip():
        assert hits == []
        return
    assert len(hits) == min(k, len(texts)) and len(set(hits)) == len(hits)
    # brute force cosine: the returned scores are the k largest, in order
    import numpy as np

    m = np.asarray(emb.embed(texts), dtype=np.float64)
    q = np.asarray(emb.embed([query])[0], dtype=np.float64)
    cos = [
        float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q)))
        if np.linalg.norm(v) and np.linalg.norm(q)
        else 0.0
        for v in m
    ]
    got = [cos[int(h)] for h in hits]
    assert got == sorted(got, reverse=True)
    assert min(got) >= sorted(cos, reverse=True)[len(hits) - 1] - 1e-5


@pytest.mark.slow
def test_vector_retriever_with_the_packaged_model_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = VectorRetriever()
    r.ingest("c", ITEMS)
    # a paraphrase with no shared content word: only a semantic model finds it
    assert r.search("c", "Which child-placement organisations is she looking into?", 1) == ["D1:3"]
    r.close()
