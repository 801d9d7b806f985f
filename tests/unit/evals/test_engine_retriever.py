"""The memory engine as an eval Retriever: item ids out, tenant per namespace, neighbours linked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hive_middleware.errors import HiveValidationError
from hive_middleware.evals.engine_retriever import MemoryEngineRetriever, make_retriever
from hive_middleware.evals.retrievers import RetrievalItem, Retriever
from hive_middleware.types import EdgeKind

S1 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
S2 = datetime(2023, 5, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def retriever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemoryEngineRetriever:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")
    made = make_retriever(tmp_path)
    assert isinstance(made, Retriever)
    return made


def test_ingest_and_search_return_item_ids(retriever: MemoryEngineRetriever) -> None:
    items = [
        RetrievalItem("D1:1", "Caroline: I went to the LGBTQ support group yesterday.", S1),
        RetrievalItem("D1:2", "Melanie: That sounds powerful! How did it feel?", S1),
        RetrievalItem("D2:1", "Melanie: I painted a sunrise over the lake last week.", S2),
    ]
    try:
        retriever.ingest("conv-1", items)
        retriever.ingest("conv-2", [RetrievalItem("D1:1", "Bob: the support group met on Tuesday.", S1)])
        assert retriever.store.graph.outbox_pending() == 0  # ingest waits for the vectors
        top = retriever.search("conv-1", "When did Caroline go to the support group?", 2)
        assert top[0] == "D1:1" and len(top) == 2 and set(top) <= {"D1:1", "D1:2", "D2:1"}
        assert retriever.search("conv-2", "support group", 5) == ["D1:1"]
        assert retriever.search("unknown", "support group", 5) == []
        # Turns of one session are linked; the session boundary is not.
        store = retriever.store
        rid = {item: record for record, item in retriever._item_of["conv-1"].items()}
        assert store.graph.traverse("conv-1", [rid["D1:1"]], kinds=[EdgeKind.RELATED_TO]) == {rid["D1:2"]: 1}
        assert store.graph.traverse("conv-1", [rid["D2:1"]], kinds=[EdgeKind.RELATED_TO]) == {}
    finally:
        retriever.close()


def test_items_carry_author_and_session_context(retriever: MemoryEngineRetriever) -> None:
    items = [
        RetrievalItem("D1:1", "Caroline: Can you share the recipe?", S1, "Caroline"),
        RetrievalItem("D1:2", "Melanie: Sure, I can mail it.", S1, "Melanie"),
        RetrievalItem("D2:1", "Melanie: New session.", S2, "Melanie"),
        RetrievalItem("D3:1", "Undated turn.", None),
        RetrievalItem("D3:2", "Another undated turn.", None),
    ]
    try:
        retriever.ingest("conv-1", items)
        item_of = retriever._item_of["conv-1"]
        meta = {item_of[r.id]: r.metadata for r in retriever.store.graph.scan("conv-1")}
        assert meta["D1:1"]["author"] == "Caroline" and "context" not in meta["D1:1"]
        assert meta["D1:2"]["context"] == "Caroline: Can you share the recipe?"
        assert "context" not in meta["D2:1"]  # a new session starts without context
        assert "context" not in meta["D3:2"]  # undated: no session to take it from
        assert meta["D3:2"]["author"] == "eval user"  # no speaker: the role and the agent, as in the product
        assert retriever.store.graph.authors("conv-1") == frozenset({"Caroline", "Melanie", "eval user"})
        ablated = retriever.without("author", "date")
        ablated.ingest("conv-1", items)  # a no-op: the parent holds the data
        assert ablated.name == "hive-memory without author+date"
        assert set(ablated.search("conv-1", "What did Melanie mail?", 5)) <= set(meta)
        with pytest.raises(HiveValidationError, match="unknown search signal"):
            retriever.without("colour")
    finally:
        retriever.close()
