"""Optional LLM extractor, driven by litellm ``mock_response`` (offline)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveModelError
from hive_middleware.memory.extractor import ExtractedFact, ExtractedRelation, LLMExtractor

MODEL = "gpt-4o-mini"
REPLY = {
    "facts": [
        {"entity": "alice", "attribute": "location", "value": "berlin"},
        {"entity": "alice", "attribute": "location", "value": "berlin"},
        {"entity": "bob", "attribute": "age", "value": 41},
        {"entity": "broken"},
    ],
    "entities": ["alice", "berlin", "", "alice"],
    "relations": [{"source": "alice", "relation": "lives_in", "target": "berlin"}, "nonsense"],
}
CONVERSATION = [
    {"role": "user", "content": "I moved to Berlin last month."},
    {"role": "assistant", "content": "Nice! How is Berlin?"},
]


def _mock(reply: Any) -> LLMExtractor:
    return LLMExtractor(MODEL, completion_kwargs={"mock_response": reply})


def test_off_by_default() -> None:
    assert MemoryConfig().extractor_model is None  # type: ignore[call-arg]
    assert LLMExtractor.from_config(MemoryConfig()) is None  # type: ignore[call-arg]


def test_from_config_carries_the_budget() -> None:
    cfg = MemoryConfig(extractor_model=MODEL, extractor_max_calls=3)  # type: ignore[call-arg]
    extractor = LLMExtractor.from_config(cfg)
    assert extractor is not None and extractor.max_calls == 3 and extractor.model == MODEL


def test_extracts_facts_entities_relations_from_messages() -> None:
    result = _mock(json.dumps(REPLY)).extract(CONVERSATION)
    assert result.facts == (ExtractedFact("alice", "location", "berlin"), ExtractedFact("bob", "age", "41"))
    assert result.entities == ("alice", "berlin")
    assert result.relations == (ExtractedRelation("alice", "lives_in", "berlin"),)
    assert result.calls == 1 and result.skipped_windows == 0
    assert result.rejected == 3  # the fact without fields, the empty entity, the non-object relation
    assert result.facts[0].key == "fact:alice:location"
    assert result.facts[0].content == "alice's location is berlin"


def test_code_fenced_json_is_accepted() -> None:
    result = _mock("```json\n" + json.dumps({"facts": [], "entities": ["x"]}) + "\n```").extract("hello")
    assert result.entities == ("x",)


def test_empty_conversation_makes_no_call() -> None:
    calls: list[Any] = []
    extractor = LLMExtractor(MODEL, completion=lambda **kw: calls.append(kw))
    assert extractor.extract([]).calls == 0
    assert calls == []


def test_call_budget_bounds_calls_and_reports_skipped_windows() -> None:
    sent: list[str] = []

    def completion(**kwargs: Any) -> Any:
        from hive_middleware.tokens import load_litellm

        sent.append(kwargs["messages"][1]["content"])
        return load_litellm().completion(**kwargs)

    extractor = LLMExtractor(
        MODEL, max_calls=2, max_chars=60, completion=completion,
        completion_kwargs={"mock_response": json.dumps({"facts": []})},
    )
    messages = [{"role": "user", "content": f"message number {i} " + "x" * 30} for i in range(6)]
    result = extractor.extract(messages)
    assert result.calls == 2 == len(sent)
    assert result.skipped_windows == 4
    assert "number 5" in sent[-1]  # the newest windows are the ones sent
    assert all(len(text) <= 60 for text in sent)


def test_provider_exception_raises_typed_model_error() -> None:
    from hive_middleware.tokens import load_litellm

    litellm = load_litellm()
    limited = litellm.RateLimitError("slow down", llm_provider="openai", model=MODEL)
    with pytest.raises(HiveModelError) as info:
        _mock(limited).extract(CONVERSATION)
    assert info.value.status_code == 429
    assert info.value.provider == "openai"
    assert info.value.__cause__ is not None
    with pytest.raises(HiveModelError) as info2:
        _mock(ValueError("boom")).extract(CONVERSATION)
    assert "boom" in str(info2.value)


@pytest.mark.parametrize("reply", ["not json at all", "[1, 2]"])
def test_non_object_reply_raises_model_error(reply: str) -> None:
    with pytest.raises(HiveModelError, match="JSON"):
        _mock(reply).extract("Alice lives in Berlin")


@pytest.mark.anyio
async def test_async_twin() -> None:
    result = await _mock(json.dumps(REPLY)).aextract(CONVERSATION)
    assert result.facts[0] == ExtractedFact("alice", "location", "berlin")
    with pytest.raises(HiveModelError):
        await _mock(ValueError("down")).aextract(CONVERSATION)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(HiveConfigError):
        LLMExtractor("")
    with pytest.raises(HiveConfigError):
        LLMExtractor(MODEL, max_calls=0)


def test_module_import_does_not_import_litellm() -> None:
    import importlib

    sys.modules.pop("hive_middleware.memory.extractor", None)
    had = "litellm" in sys.modules
    importlib.import_module("hive_middleware.memory.extractor")
    assert had or "litellm" not in sys.modules


def test_store_remembers_extracted_facts_through_conflict_resolution(tmp_path: Any) -> None:
    from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

    from hive_middleware.memory.store import MemoryStore
    from hive_middleware.types import MemoryKind

    graph = SQLiteGraphStore(tmp_path / "hive")
    store = MemoryStore(graph, namespace=("acme", "a1"), start_worker=False, on_close=graph.close)
    try:
        with pytest.raises(HiveConfigError):
            store.remember_extracted(CONVERSATION)
        turn = store.remember("I moved to Berlin last month.")
        records, found = store.remember_extracted(CONVERSATION, extractor=_mock(json.dumps(REPLY)), caused_by=[turn.id])
        assert found.calls == 1
        assert [r.content for r in records] == [
            "alice's location is berlin", "bob's age is 41", "alice's location is berlin",
        ]
        assert records[2].id == records[0].id  # the relation restates the fact: it confirms it
        assert all(r.kind is MemoryKind.SEMANTIC for r in records)
        assert store.recall("fact:alice:location") == records[0]
        assert [s.record.id for s in store.why("fact:alice:location")] == [turn.id]
        # The same extraction again confirms instead of piling up; a changed value supersedes.
        again, _ = store.remember_extracted(CONVERSATION, extractor=_mock(json.dumps(REPLY)))
        assert again[0].id == records[0].id
        moved = {"facts": [{"entity": "alice", "attribute": "location", "value": "rome"}]}
        (rome,), _ = store.remember_extracted("Alice moved to Rome", extractor=_mock(json.dumps(moved)))
        assert store.recall("fact:alice:location") == rome
        assert len(store.history("fact:alice:location")) == 2
        with pytest.raises(HiveModelError):
            store.remember_extracted(CONVERSATION, extractor=_mock(ValueError("down")))
    finally:
        store.close()
