"""Rule-based entity/attribute cue extraction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.memory.cues import Cue, extract_cues, normalize_text, positive_form, single_cue


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Alice's email is a@x.org", Cue("alice", "email", "a@x.org")),
        ("Alice's email is now b@x.org.", Cue("alice", "email", "b@x.org")),
        ("The capital of France is Paris.", Cue("france", "capital", "paris")),
        ("project deadline: May 3", Cue("project", "deadline", "may 3")),
        ("Alice moved to Berlin", Cue("alice", "location", "berlin")),
        ("Alice lives in Paris", Cue("alice", "location", "paris")),
        ("Bob works at Acme Corp", Cue("bob", "employer", "acme corp")),
        ("The build server is now down", Cue("build server", "state", "down")),
        ("my name is Bob", Cue("my", "name", "bob")),
        ("my phone number is 555-1234", Cue("my", "phone number", "555-1234")),
        ("the project deadline is May 3", Cue("project", "deadline", "may 3")),
    ],
)
def test_positive_rules(text: str, cue: Cue) -> None:
    assert extract_cues(text) == (cue,)


@pytest.mark.parametrize(
    ("text", "cue", "positive"),
    [
        ("Bob no longer works at Acme", Cue("bob", "employer", "acme", True), "bob works at acme"),
        ("Alice's email is no longer a@x.org", Cue("alice", "email", "a@x.org", True), "alice's email is a@x.org"),
        ("Alice isn't vegetarian anymore", Cue("alice", "*", "alice is vegetarian", True), "alice is vegetarian"),
        ("Bob doesn't use vim anymore", Cue("bob", "*", "bob use vim", True), "bob use vim"),
    ],
)
def test_negation_rules(text: str, cue: Cue, positive: str) -> None:
    assert positive_form(text) == positive
    assert extract_cues(text) == (cue,)


@pytest.mark.parametrize(
    "text",
    ["Hey, how are you?", "Note: call Bob", "The weather is nice", "It is now 5pm", "this thing is great", ""],
)
def test_no_cue_in_chatter_or_labels(text: str) -> None:
    assert extract_cues(text) == ()


def test_long_sentences_are_not_parsed() -> None:
    assert extract_cues("Alice's email is " + "x" * 300) == ()


def test_single_cue_only_when_unambiguous() -> None:
    two = "Alice lives in Paris. Bob works at Acme."
    assert len(extract_cues(two)) == 2
    assert single_cue(two) is None
    assert single_cue("Alice lives in Paris.") == Cue("alice", "location", "paris")


def test_normalize_text_folds_case_space_and_trailing_punctuation() -> None:
    assert normalize_text("  Alice   LIVES in Paris!! ") == "alice lives in paris"
    assert normalize_text("Alice’s") == "alice's"


@given(st.text(max_size=300))
def test_extraction_is_total_and_deterministic(text: str) -> None:
    assert extract_cues(text) == extract_cues(text)
    assert normalize_text(normalize_text(text)) == normalize_text(text)
