"""LoCoMo reader: quirks of the published data, errors naming file and field, properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveDataError
from hive_middleware.evals.locomo import (
    _NO_EVIDENCE_REASON,
    locomo_stats,
    normalise_dia_id,
    parse_locomo_datetime,
    parse_locomo_samples,
    read_locomo,
)
from hive_middleware.skipped import SkippedRecords


def _sample(**overrides: Any) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "sample_id": "conv-x",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a cat."},
                {
                    "speaker": "Ben",
                    "dia_id": "D1:2",
                    "text": "Look!",
                    "blip_caption": "a photo of a dog",
                    "img_url": ["http://x/y.jpg"],
                },
            ],
            "session_2_date_time": "12:19 am on 4 January, 2024",
            "session_2": [{"speaker": "Ana", "dia_id": "D2:1", "text": "The cat is called Miso."}],
            "session_3_date_time": "9:02 am on 22 November, 2023",
        },
        "qa": [
            {"question": "Pet?", "answer": "cat", "evidence": ["D1:1"], "category": 4},
            {"question": "Year?", "answer": 2023, "evidence": ["D1:1 ", "D:2:1"], "category": 2},
            {"question": "Both?", "answer": "x", "evidence": ["D1:1; D2:1", "D", "D9:9"], "category": 1},
            {"question": "Why?", "answer": "y", "category": 3},
            {"question": "Dog name?", "adversarial_answer": "Rex", "evidence": ["D1: 2"], "category": 5},
        ],
    }
    sample.update(overrides)
    return sample


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(data))
    return path


def test_reads_turns_sessions_and_times(tmp_path: Path) -> None:
    (conv,) = read_locomo(_write(tmp_path, [_sample()]))
    assert conv.sample_id == "conv-x"
    assert (conv.speaker_a, conv.speaker_b) == ("Ana", "Ben")
    assert [t.dia_id for t in conv.turns] == ["D1:1", "D1:2", "D2:1"]
    assert conv.turns[0].valid_time == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert conv.turns[2].valid_time == datetime(2024, 1, 4, 0, 19, tzinfo=UTC)
    assert conv.turns[2].session == 2
    assert conv.turns[1].blip_caption == "a photo of a dog"
    assert conv.turns[1].extra == {"img_url": ["http://x/y.jpg"]}
    # session 3 has a date-time but no turns
    assert set(conv.sessions) == {1, 2}
    assert conv.empty_sessions == (3,)


def test_quirks_answers_and_evidence(tmp_path: Path) -> None:
    (conv,) = read_locomo(_write(tmp_path, [_sample()]))
    q = conv.questions
    assert q[1].answer == "2023"
    assert q[1].evidence == ("D1:1", "D2:1")
    assert q[2].evidence == ("D1:1", "D2:1")
    # the question without evidence (q[3] in the file) is skipped: it cannot be scored
    assert all(question.evidence for question in q)
    assert q[3].answer == "" and q[3].adversarial_answer == "Rex"
    assert q[3].evidence == ("D1:2",) and q[3].category_name == "adversarial"
    assert conv.dropped_evidence == ("D", "D9:9")
    assert conv.normalised_evidence == 4


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s["conversation"].pop("speaker_a"), "speaker_a"),
        (lambda s: s["conversation"].__setitem__("session_1_date_time", "yesterday"), "session_1_date_time"),
        (lambda s: s["conversation"].pop("session_2_date_time"), "session_2_date_time"),
        (lambda s: s["conversation"]["session_1"][0].__setitem__("dia_id", "turn one"), "dia_id"),
        (lambda s: s["conversation"]["session_1"][0].__setitem__("text", None), "text"),
        (lambda s: s["conversation"]["session_1"][1].__setitem__("dia_id", "D1:1"), "appears twice"),
        (lambda s: s["qa"][0].__setitem__("category", 7), "category"),
        (lambda s: s["qa"][0].__setitem__("evidence", "D1:1"), "evidence"),
        (lambda s: s["qa"][0].__setitem__("answer", ["a"]), "answer"),
        (lambda s: s.__setitem__("qa", {}), "qa"),
    ],
)
def test_malformed_records_are_skipped_naming_file_and_field(tmp_path: Path, mutate: Any, field: str) -> None:
    """The bad record (sample, session, turn or question) is left out, counted, and warned about in one line;
    a file with nothing usable left is refused naming the file."""
    sample = _sample()
    mutate(sample)
    path = _write(tmp_path, [sample])
    lines: list[str] = []
    skips = SkippedRecords(lines.append)
    try:
        read_locomo(path, skips=skips)
    except HiveDataError as exc:
        assert str(path) in exc.message and exc.fields["path"] == str(path)
    assert skips.total >= 1
    assert any(field in line and path.name in line for line in lines), lines


def test_not_json_and_not_a_list_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HiveDataError, match="not valid JSON"):
        read_locomo(bad)
    with pytest.raises(HiveDataError, match="list of samples"):
        read_locomo(_write(tmp_path, {"sample_id": "x"}))
    with pytest.raises(HiveDataError, match="does not exist"):
        read_locomo(tmp_path / "nope.json")
    skips = SkippedRecords(lambda _line: None)
    assert len(read_locomo(_write(tmp_path, [_sample(), _sample()]), skips=skips)) == 1
    assert skips.counts == {"sample_id: sample_id 'conv-x' appears twice": 1, _NO_EVIDENCE_REASON: 2}
    with pytest.raises(HiveDataError, match="no usable LoCoMo sample"):
        read_locomo(_write(tmp_path, [{"sample_id": "a"}]), skips=skips)


def test_stats(tmp_path: Path) -> None:
    stats = locomo_stats(_write(tmp_path, [_sample()]))
    assert stats["conversations"] == 1
    assert stats["sessions"] == 2 and stats["turns"] == 3 and stats["questions"] == 4
    assert stats["questions_per_category"] == {
        "multi_hop": 1,
        "temporal": 1,
        "open_domain": 0,
        "single_hop": 1,
        "adversarial": 1,
    }
    assert stats["questions_without_evidence"] == 1
    assert stats["evidence_dropped"] == 2 and stats["empty_sessions"] == 1


def test_real_file_quirks(shared_data: Path) -> None:
    path = shared_data / "locomo" / "locomo_dev.json"
    conversations = read_locomo(path)
    assert len(conversations) >= 1
    for conv in conversations:
        ids = {t.dia_id for t in conv.turns}
        for q in conv.questions:
            assert set(q.evidence) <= ids
            assert isinstance(q.answer, str)
        for t in conv.turns:
            assert t.valid_time.tzinfo is not None and t.session in conv.sessions
    stats = locomo_stats(path)
    assert stats["turns"] == sum(len(c.turns) for c in conversations)
    assert sum(stats["questions_per_category"].values()) == stats["questions"]


# -- properties -------------------------------------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]  # fmt: skip


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31)))
def test_datetime_round_trip(moment: datetime) -> None:
    hour12 = moment.hour % 12 or 12
    half = "am" if moment.hour < 12 else "pm"
    text = f"{hour12}:{moment.minute:02d} {half} on {moment.day} {_MONTHS[moment.month - 1]}, {moment.year}"
    parsed = parse_locomo_datetime(text)
    assert parsed == moment.replace(second=0, microsecond=0, tzinfo=UTC)


@given(st.text(max_size=40))
def test_datetime_rejects_or_parses_utc(text: str) -> None:
    try:
        parsed = parse_locomo_datetime(text)
    except ValueError:
        return
    assert parsed.tzinfo is UTC


@given(
    st.integers(0, 999),
    st.integers(0, 999),
    st.sampled_from(["D{s}:{t}", " D{s}:{t} ", "D:{s}:{t}", "D{s}: {t}", "d{s} : {t}", "D0{s}:{t}"]),
)
def test_dia_id_normalisation(session: int, turn: int, shape: str) -> None:
    assert normalise_dia_id(shape.format(s=session, t=turn)) == (f"D{session}:{turn}",)


@given(st.text(max_size=20))
def test_dia_id_normalisation_never_crashes(text: str) -> None:
    ids = normalise_dia_id(text)
    if ids is not None:
        assert all(i.startswith("D") and ":" in i for i in ids)


@settings(max_examples=50, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                    max_leaves=10))  # fmt: skip
def test_arbitrary_json_is_read_or_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    path = tmp_path_factory.mktemp("h") / "x.json"
    path.write_text(json.dumps(data))
    try:
        read_locomo(path)
    except HiveDataError as exc:
        assert str(path) in exc.message


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["speaker", "dia_id", "text"]), st.none() | st.integers() | st.lists(st.text(max_size=3))
)
def test_corrupted_turn_field_skips_that_turn(field: str, value: Any) -> None:
    sample = _sample()
    sample["conversation"]["session_2"][0][field] = value
    lines: list[str] = []
    (conv,) = parse_locomo_samples([sample], source="mem.json", skips=SkippedRecords(lines.append))
    assert "D2:1" not in {t.dia_id for t in conv.turns}
    assert any(f"session_2[0].{field}" in line for line in lines)
