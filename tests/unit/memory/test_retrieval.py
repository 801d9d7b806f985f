"""Fusion and time signals of hybrid retrieval."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.mentions import DateSpan, author_mentions, date_mentions
from hive_middleware.memory.retrieval import present_intent, rrf_fuse
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
    assert author_mentions("What is Maria's job?", authors) == (frozenset({"Maria"}), "What is job?")
    # A proper name: as written (or capitalised), not in another case (more in test_mentions.py).
    assert author_mentions("What is maria's job?", authors) == (frozenset(), "What is maria's job?")
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


@pytest.mark.parametrize(
    ("query", "start", "end", "rest"),
    [
        (
            "What did Gina find on 1 February, 2023?",
            date(2023, 2, 1),
            date(2023, 2, 2),
            "What did Gina find on ?",
        ),
        (
            "What did John do before August 3, 2023?",
            date(2023, 8, 3),
            date(2023, 8, 4),
            "What did John do before ?",
        ),
        ("What happened in Dec 2022?", date(2022, 12, 1), date(2023, 1, 1), "What happened in ?"),
        ("deploys on 2024-02-29", date(2024, 2, 29), date(2024, 3, 1), "deploys on"),
        ("on 8th may 2023 we", date(2023, 5, 8), date(2023, 5, 9), "on we"),
        # An impossible day still names its month.
        ("31 February 2023 event", date(2023, 2, 1), date(2023, 3, 1), "31 event"),
    ],
)
def test_date_mentions_name_days_and_months(query: str, start: date, end: date, rest: str) -> None:
    spans, left = date_mentions(query)
    assert spans == (DateSpan(start, end),)
    assert left == rest


@pytest.mark.parametrize("query", ["the may 2000 users", "in 2023", "on Monday", "2023-13-01 builds"])
def test_date_mentions_ignore_what_is_not_a_date(query: str) -> None:
    assert date_mentions(query) == ((), query)


def test_date_mentions_keep_a_query_that_is_only_a_date() -> None:
    spans, left = date_mentions("May 2023")
    assert len(spans) == 1 and left == "May 2023"


def test_search_prefers_records_valid_on_the_date_the_query_names() -> None:
    config = MemoryConfig(vector_index="none")
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=config)
    day = datetime(2023, 2, 1, 14, 0, tzinfo=UTC)
    on_day = store.remember("The deploy went out.", valid_from=day)
    store.remember("The deploy went out again, 1 February 2023 style.", valid_from=day + timedelta(days=30))
    top = store.search("What went out on 1 February 2023?", k=2)
    assert top[0].record.id == on_day.id and "date" in top[0].signals
    off = MemoryStore(
        InMemoryGraphStore(), namespace=("acme",), config=config.model_copy(update={"weight_date": 0.0})
    )
    off.remember("The deploy went out.", valid_from=day)
    other = off.remember(
        "The deploy went out again, 1 February 2023 style.", valid_from=day + timedelta(days=30)
    )
    assert off.search("What went out on 1 February 2023?", k=1)[0].record.id == other.id


@pytest.mark.parametrize("context", [7, "x" * 2001])
def test_bad_context_is_refused(context: object) -> None:
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(vector_index="none"))
    with pytest.raises(HiveValidationError, match="context"):
        store.remember("note", metadata={"context": context})


def test_search_weights_override_signals_for_one_call() -> None:
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(vector_index="none"))
    store.remember("Maria, I adopted a cat last week.", metadata={"author": "Bob"})
    by_maria = store.remember("I adopted a puppy called Rex.", metadata={"author": "Maria"})
    assert store.search("Which pet has Maria adopted?", k=1)[0].record.id == by_maria.id
    assert (
        store.search("Which pet has Maria adopted?", k=1, weights={"author": 0})[0].record.id != by_maria.id
    )
    assert store.config.weight_author > 0  # the store's own configuration is untouched
    with pytest.raises(HiveValidationError, match="unknown search signal 'colour'"):
        store.search("pet", weights={"colour": 1.0})
    for bad in (-1.0, float("nan"), True, "1"):
        with pytest.raises(HiveValidationError, match="must be a number >= 0"):
            store.search("pet", weights={"bm25": bad})  # type: ignore[dict-item]
