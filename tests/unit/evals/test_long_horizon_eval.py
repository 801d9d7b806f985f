"""Long-horizon harness: hits, current_first, content-only ingestion, payload keys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hive_middleware.evals.long_horizon import read_long_horizon
from hive_middleware.evals.long_horizon_eval import (
    evaluate_long_horizon,
    keywords_found,
    long_horizon_markdown,
    run_long_horizon_eval,
)
from hive_middleware.evals.retrievers import BM25Retriever, RetrievalItem

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "long_horizon"
DIALOGUE, QUESTIONS = EXAMPLE / "dialogue.json", EXAMPLE / "questions.json"


class KeywordOracle:
    """Puts turns containing a question's keywords at a chosen rank; records ingestion."""

    name = "oracle"

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.items: list[RetrievalItem] = []
        self.batches = 0
        self.data = read_long_horizon(DIALOGUE, QUESTIONS)

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        self.batches += 1
        self.items.extend(items)

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        (q,) = [q for q in self.data.questions if q.text == query]
        wanted = [
            it.id for it in self.items if any(kw.lower() in it.text.lower() for kw in q.required_keywords)
        ]
        filler = [it.id for it in self.items if it.id not in wanted][: self.rank]
        return (filler + wanted)[:k]

    def close(self) -> None:
        pass


def test_keywords_found_is_case_insensitive_and_needs_all() -> None:
    assert keywords_found(["pg-central-1", "PRIMARY"], ["The primary is PG-CENTRAL-1"])
    assert keywords_found(["a", "b"], ["has a", "has b"])
    assert not keywords_found(["a", "zz"], ["has a"])


def test_ingests_contents_only_in_blocks() -> None:
    oracle = KeywordOracle(rank=0)
    evaluate_long_horizon(oracle.data, oracle)
    turns = oracle.data.turns
    assert [it.text for it in oracle.items] == [t.content for t in turns]
    assert [it.id for it in oracle.items] == [str(t.turn) for t in turns]
    assert all(it.valid_time is None for it in oracle.items)
    assert oracle.batches == len({t.block for t in turns})


@pytest.mark.parametrize(("rank", "hit", "current"), [(0, 1.0, 1.0), (5, 1.0, 0.0), (20, 0.0, 0.0)])
def test_hit_and_current_first_depths(rank: int, hit: float, current: float) -> None:
    oracle = KeywordOracle(rank)
    result = evaluate_long_horizon(oracle.data, oracle)
    assert set(result) == {"hit_rate", "by_category", "current_first"}
    assert result["current_first"] == current
    if rank == 5:
        # keywords spread over several turns may be pushed past rank 10: hit rate is at most 1
        assert result["hit_rate"] > 0.7
    else:
        assert result["hit_rate"] == hit
    assert sum(c["n_questions"] for c in result["by_category"].values()) == len(oracle.data.questions)


def test_payload_and_markdown_with_bm25() -> None:
    bm25 = BM25Retriever()
    payload = run_long_horizon_eval(DIALOGUE, QUESTIONS, None, {"bm25": bm25})
    bm25.close()
    assert set(payload) == {"engine", "hit_rate", "by_category", "current_first", "baselines", "skipped"}
    assert payload["skipped"] == {}
    assert payload["engine"] is None and payload["hit_rate"] is None
    result = payload["baselines"]["bm25"]
    assert set(result) == {"hit_rate", "by_category", "current_first"}
    assert 0.0 <= result["current_first"] <= 1.0 and 0.0 < result["hit_rate"] <= 1.0
    assert set(result["by_category"]) == {"current", "history", "stable"}
    assert "| bm25 |" in long_horizon_markdown(payload)


def test_engine_fills_top_level() -> None:
    engine = KeywordOracle(rank=0)
    payload = run_long_horizon_eval(DIALOGUE, QUESTIONS, engine, {})
    assert payload["engine"] == "oracle"
    assert payload["hit_rate"] == 1.0 and payload["current_first"] == 1.0
