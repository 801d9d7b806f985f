"""Long-horizon reader: the example dataset, clear errors, and properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveDataError
from hive_middleware.evals.long_horizon import (
    LongHorizonFact,
    asks_current_value,
    parse_long_horizon_dialogue,
    parse_long_horizon_questions,
    read_long_horizon,
)
from hive_middleware.skipped import SkippedRecords

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "long_horizon"


def _turn(n: int = 1, **kw: Any) -> dict[str, Any]:
    turn: dict[str, Any] = {"turn": n, "block": 1, "content": f"turn {n}", "facts": []}
    turn.update(kw)
    return turn


def _question(qid: str = "q1", **kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {
        "question_id": qid,
        "text": "What is the host now?",
        "expected_answer": "db-2",
        "category": "current",
        "rubric": {"required_keywords": ["db-2"]},
    }
    q.update(kw)
    return q


def test_example_dataset_reads_and_is_consistent() -> None:
    data = read_long_horizon(EXAMPLE / "dialogue.json", EXAMPLE / "questions.json")
    assert len(data.turns) == 200 and len(data.questions) >= 30
    assert [t.turn for t in data.turns] == list(range(1, 201))
    corpus = " ".join(t.content for t in data.turns).lower()
    for q in data.questions:
        assert all(k.lower() in corpus for k in q.required_keywords), q.question_id
    # facts really change over time: some attribute has several values
    values: dict[tuple[str, str], set[str]] = {}
    for t in data.turns:
        for f in t.facts:
            values.setdefault((f.entity, f.attribute), set()).add(f.value)
    assert sum(1 for v in values.values() if len(v) >= 3) >= 2
    assert sum(q.asks_current for q in data.questions) >= 10


def test_parses_fields() -> None:
    (turn,) = parse_long_horizon_dialogue(
        [_turn(3, block="w1", facts=[{"entity": "db", "attribute": "host", "value": 2}])]
    )
    assert turn.turn == 3 and turn.block == "w1"
    assert turn.facts == (LongHorizonFact("db", "host", "2"),)
    (q,) = parse_long_horizon_questions([_question(question_id=7, expected_answer=2024)])
    assert q.question_id == "7" and q.expected_answer == "2024"
    assert q.required_keywords == ("db-2",) and q.asks_current


@pytest.mark.parametrize(
    ("dialogue", "field"),
    [
        ({"turn": 1}, "<root>"),
        ([], "<root>"),
        ([_turn(content="")], "[0].content"),
        ([_turn(turn="1")], "[0].turn"),
        ([_turn(1), _turn(1)], "[1].turn"),
        ([_turn(block=None)], "[0].block"),
        ([_turn(facts={"entity": "x"})], "[0].facts"),
        ([_turn(facts=[{"entity": "x", "attribute": "y"}])], "[0].facts[0].value"),
    ],
)
def test_bad_dialogue_names_field(tmp_path: Path, dialogue: Any, field: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dialogue))
    qpath = tmp_path / "q.json"
    qpath.write_text(json.dumps([_question()]))
    if field == "<root>":
        with pytest.raises(HiveDataError) as info:
            read_long_horizon(path, qpath)
        assert info.value.fields["path"] == str(path) and info.value.fields["field"] == field
        assert str(path) in info.value.message
        return
    # the bad turn is skipped beside a good one, counted and warned about naming the field
    path.write_text(json.dumps([*dialogue, _turn(99)]))
    lines: list[str] = []
    skips = SkippedRecords(lines.append)
    data = read_long_horizon(path, qpath, skips=skips)
    assert 99 in {t.turn for t in data.turns}
    assert skips.total == 1 and any(field in line and path.name in line for line in lines)
    if len(dialogue) > 1:
        return
    # alone, nothing usable remains: the file is refused in one message naming it and the reason
    path.write_text(json.dumps(dialogue))
    with pytest.raises(HiveDataError, match="no usable turn") as info:
        read_long_horizon(path, qpath, skips=SkippedRecords(lambda _line: None))
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("questions", "field"),
    [
        ([_question(rubric={})], "[0].rubric.required_keywords"),
        ([_question(rubric={"required_keywords": []})], "[0].rubric.required_keywords"),
        ([_question(rubric={"required_keywords": [3]})], "[0].rubric.required_keywords[0]"),
        ([_question(rubric=None)], "[0].rubric"),
        ([_question(text=None)], "[0].text"),
        ([_question("a"), _question("a")], "[1].question_id"),
        ([_question(category=2)], "[0].category"),
    ],
)
def test_bad_questions_are_skipped_naming_field(questions: Any, field: str) -> None:
    lines: list[str] = []
    skips = SkippedRecords(lines.append)
    kept = parse_long_horizon_questions([*questions, _question("good")], source="q.json", skips=skips)
    assert [q.question_id for q in kept][-1] == "good"
    assert skips.total == 1 and any(f"q.json: {field} " in line for line in lines), lines


def test_an_empty_keyword_list_skips_only_that_question() -> None:
    questions = [_question(str(i)) for i in range(70)]
    questions[67]["rubric"] = {"required_keywords": []}
    skips = SkippedRecords(lambda _line: None)
    kept = parse_long_horizon_questions(questions, source="q.json", skips=skips)
    assert len(kept) == 69 and "67" not in {q.question_id for q in kept}
    assert skips.counts == {"rubric.required_keywords: is empty: nothing to score the question by": 1}


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(HiveDataError, match="does not exist"):
        read_long_horizon(tmp_path / "none.json", EXAMPLE / "questions.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(HiveDataError, match="not valid JSON"):
        read_long_horizon(EXAMPLE / "dialogue.json", bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Who is on-call now?", True),
        ("What is CURRENTLY deployed?", True),
        ("the current host", True),
        ("Do you know the host?", False),
        ("What was the currency?", False),
        ("Now, who?", True),
    ],
)
def test_asks_current_value(text: str, expected: bool) -> None:
    assert asks_current_value(text) is expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None)
@given(_json)
def test_arbitrary_json_is_parsed_or_refused_cleanly(raw: Any) -> None:
    for parse in (parse_long_horizon_dialogue, parse_long_horizon_questions):
        try:
            parse(raw, source="x.json")
        except HiveDataError as exc:
            assert exc.fields["path"] == "x.json" and exc.fields["field"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1000, 1000), st.text(min_size=1, max_size=30).filter(str.strip)),
                min_size=1, max_size=20, unique_by=lambda t: t[0]))  # fmt: skip
def test_valid_dialogues_round_trip(items: list[tuple[int, str]]) -> None:
    turns = parse_long_horizon_dialogue([_turn(n, content=c) for n, c in items])
    assert [(t.turn, t.content) for t in turns] == items
