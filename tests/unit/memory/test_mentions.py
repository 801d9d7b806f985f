"""Author mentions: names are found as proper names, never as the ordinary words they may also be."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.config import MemoryConfig
from hive_middleware.memory.mentions import author_mentions, common_words
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import InMemoryGraphStore


def test_the_common_word_list_is_a_real_list_of_words() -> None:
    words = common_words()
    assert 2000 < len(words) < 10000
    assert all(word == word.lower() and word.isalpha() for word in words)
    for word in (
        "will",
        "may",
        "bill",
        "mark",
        "grace",
        "frank",
        "summer",
        "user",
        "assistant",
        "the",
        "what",
    ):
        assert word in words
    # Mostly names: they stay names wherever they stand.
    for name in ("john", "april", "maria", "caroline", "melanie", "jon", "gina", "tim", "andrew", "joanna"):
        assert name not in words


@pytest.mark.parametrize(
    ("query", "named", "rest"),
    [
        ("What will the deploy break?", set(), "What will the deploy break?"),
        ("What did Will say?", {"Will"}, "What did say?"),
        ("What did will say?", set(), "What did will say?"),
        ("WHAT DID WILL SAY?", set(), "WHAT DID WILL SAY?"),
        ("Will the deploy break?", set(), "Will the deploy break?"),
        ("Did Will's fix land?", {"Will"}, "Did fix land?"),
        ("Did Will’s fix land?", {"Will"}, "Did fix land?"),
        ("May I see May's notes?", {"May"}, "May I see notes?"),
        ("Deploy now. Will it break?", set(), "Deploy now. Will it break?"),
        ("Deploy now. (Will it break?)", set(), "Deploy now. (Will it break?)"),
        ("Q: Will it break?", set(), "Q: Will it break?"),
        ("notes\nWill it break?", set(), "notes\nWill it break?"),
        ('What did "Will" say?', {"Will"}, "What did say?"),
        ("'May' wrote the notes", {"May"}, "wrote the notes"),
        ("What did Maria and Will say?", {"Maria", "Will"}, "What did and say?"),
    ],
)
def test_a_name_that_is_a_common_word_is_a_name_only_where_written_as_one(
    query: str, named: set[str], rest: str
) -> None:
    assert author_mentions(query, {"Will", "May", "Maria"}) == (frozenset(named), rest)


def test_a_lower_case_author_is_never_captured_by_the_word() -> None:
    authors = {"user", "assistant"}
    assert author_mentions("the user said the build is red", authors)[0] == frozenset()
    assert author_mentions("What did the user's assistant say?", authors)[0] == frozenset()
    assert author_mentions("User asked twice.", authors)[0] == frozenset()
    # Quoted, or capitalised inside a sentence, it is the author.
    assert author_mentions('What did "user" say?', authors) == (frozenset({"user"}), "What did say?")
    assert author_mentions("What did ‘assistant’ answer?", authors)[0] == frozenset({"assistant"})
    assert author_mentions("What did User say?", authors)[0] == frozenset({"user"})


def test_a_name_that_is_no_common_word_is_found_anywhere_as_written_or_capitalised() -> None:
    assert author_mentions("Caroline's plans?", {"Caroline"})[0] == frozenset({"Caroline"})
    assert author_mentions("Did Caroline and Melanie meet?", {"Caroline", "Melanie"})[0] == frozenset(
        {"Caroline", "Melanie"}
    )
    # As written or capitalised, never another case.
    assert author_mentions("What is Maria's job?", {"maria"})[0] == frozenset({"maria"})
    assert author_mentions("What is maria's job?", {"Maria"}) == (frozenset(), "What is maria's job?")
    # Multi-word names, even across a line break; a common word beside an uncommon one stays a name.
    assert author_mentions("Where did Maria Lopez go?", {"Maria Lopez"}) == (
        frozenset({"Maria Lopez"}),
        "Where did go?",
    )
    assert author_mentions("Where did Maria\nLopez go?", {"Maria Lopez"})[0] == frozenset({"Maria Lopez"})
    assert author_mentions("Will Smith said so.", {"Will Smith"})[0] == frozenset({"Will Smith"})


def test_longer_names_are_taken_first() -> None:
    authors = {"Jo", "Jo Lee", "Grace", "Grace Lee"}
    assert author_mentions("Did Jo Lee and Jo meet?", authors) == (
        frozenset({"Jo Lee", "Jo"}),
        "Did and meet?",
    )
    assert author_mentions("What did Jo Lee say?", authors)[0] == frozenset({"Jo Lee"})
    assert author_mentions("What did Grace Lee say?", authors)[0] == frozenset({"Grace Lee"})


def test_search_gives_no_author_signal_for_an_ordinary_word() -> None:
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(vector_index="none"))
    store.remember("The deploy will break the payments job.", metadata={"author": "Bob"})
    store.remember("I will look at it tomorrow.", metadata={"author": "Will"})
    top = store.search("What will the deploy break?", k=2)
    assert top and all("author" not in hit.signals for hit in top)
    assert "author" in store.search("What did Will say about tomorrow?", k=1)[0].signals


_LOWER_WORDS = st.sampled_from(sorted(common_words()))
_SEPARATORS = st.sampled_from([" ", " ", " ", ", ", ". ", "? ", "! ", ": ", "\n", "'s "])


@given(
    name=_LOWER_WORDS,
    words=st.lists(_LOWER_WORDS, min_size=1, max_size=12),
    separators=st.lists(_SEPARATORS, min_size=13, max_size=13),
    at=st.integers(min_value=0, max_value=12),
)
def test_a_common_word_in_lower_case_is_never_an_author(
    name: str, words: list[str], separators: list[str], at: int
) -> None:
    words.insert(min(at, len(words)), name)
    sentence = "".join(word + separator for word, separator in zip(words, separators, strict=False))
    for author in (name, name.capitalize()):
        assert author_mentions(sentence, {author}) == (frozenset(), sentence)
