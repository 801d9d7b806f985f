"""Fusion and time signals of hybrid retrieval."""

from __future__ import annotations

import pytest

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.retrieval import author_mentions, present_intent, rrf_fuse
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import InMemoryGraphStore


def test_rrf_fuse_weights_ranks_and_ties() -> None:
    fused = rrf_fuse({"a": ["x", "y", "x"], "b": ["y", "z"]}, {"a": 1.0, "b": 2.0}, rrf_k=1)
    assert [rid for rid, _, _ in fused] == ["y", "z", "x"]
    assert fused[0][2] == {"a": 2, "b": 1}
    assert rrf_fuse({"a": ["x"]}, {"a": 0.0}, rrf_k=1) == []
    assert [rid for rid, _, _ in rrf_fuse({"a": ["q", "p"], "b": ["p", "q"]}, {}, rrf_k=5)] == ["p", "q"]


def test_present_intent_strips_time_cues() -> None:
    assert present_intent("Who currently owns payments?") == (True, "Who owns payments")
    assert present_intent("What is the deadline now") == (True, "What is the deadline")
    assert present_intent("Who owns payments?") == (False, "Who owns payments?")
    assert present_intent("now") == (True, "now")


def test_present_questions_prefer_the_latest_statement() -> None:
    store = MemoryStore(
        InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(weight_recency_present=1.5)
    )
    store.remember("Tomas owns the payments module.")
    for i in range(3):
        store.remember(f"Unrelated standup note {i}.")
    latest = store.remember("Kwame owns the payments module from today.")
    assert store.search("Who currently owns the payments module?", k=1)[0].record.id == latest.id
    top = store.search("Who owns the payments module?", k=2)
    assert "recency" not in top[0].signals


def test_author_mentions_finds_names_and_strips_them() -> None:
    authors = {"Maria", "Jo Lee", "Jo"}
    assert author_mentions("Where has Maria made friends?", authors) == (
        frozenset({"Maria"}),
        "Where has made friends?",
    )
    assert author_mentions("What is maria's job?", authors) == (frozenset({"Maria"}), "What is job?")
    assert author_mentions("What did Jo Lee say?", authors)[0] == frozenset({"Jo Lee"})
    # Whole words only: "Jo" is not named by "Joanna", nor by "Jo" inside "Jo Lee" once that is stripped.
    assert author_mentions("What did Joanna say?", authors) == (frozenset(), "What did Joanna say?")
    assert author_mentions("Did Maria and Jo meet?", authors) == (frozenset({"Maria", "Jo"}), "Did and meet?")
    # A query that is only a name keeps its words.
    assert author_mentions("Maria", authors) == (frozenset({"Maria"}), "Maria")
    assert author_mentions("anything", ()) == (frozenset(), "anything")


def test_search_prefers_records_by_the_author_the_query_names() -> None:
    config = MemoryConfig(vector_index="none")
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=config)
    by_bob = store.remember("Maria, I adopted a cat last week.", metadata={"author": "Bob"})
    by_maria = store.remember("I adopted a puppy called Rex.", metadata={"author": "Maria"})
    top = store.search("Which pet has Maria adopted?", k=2)
    assert top[0].record.id == by_maria.id and "author" in top[0].signals
    assert top[1].record.id == by_bob.id and "author" not in top[1].signals
    plain = MemoryStore(
        InMemoryGraphStore(), namespace=("acme",), config=config.model_copy(update={"weight_author": 0.0})
    )
    plain.remember("Maria, I adopted a cat last week.", metadata={"author": "Bob"})
    plain.remember("I adopted a puppy called Rex.", metadata={"author": "Maria"})
    assert plain.search("Which pet has Maria adopted?", k=1)[0].record.content.startswith("Maria, I adopted")


@pytest.mark.parametrize("author", ["", "   ", 7, "x" * 201])
def test_bad_author_is_refused(author: object) -> None:
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(vector_index="none"))
    with pytest.raises(HiveValidationError, match="author"):
        store.remember("note", metadata={"author": author})
