"""Reader for the long-horizon memory format (DESIGN §3).

Two JSON files:

* dialogue: a list of ``{"turn": int, "block": int|str, "content": str,
  "facts": [{"entity", "attribute", "value"}]}``. ``facts`` is ground truth
  for scoring and analysis; evaluations never ingest it.
* questions: a list of ``{"question_id", "text", "expected_answer", "category",
  "rubric": {"required_keywords": [str, ...]}}``.

A question *asks for a current value* when its text contains the word
``current``, ``currently`` or ``now`` (any case, whole words, so "know" does
not count).

Malformed or unscorable records are skipped, not fatal (see
:mod:`hive_middleware.skipped`): a turn with a malformed field or a repeated
turn number, and a question with a malformed field, a repeated ``question_id``
or an empty ``rubric.required_keywords`` (nothing to score) are left out,
counted under their reason with one warning line naming the file and the field.
A file that is missing, not JSON, not a list, or holds no usable record raises
:class:`~hive_middleware.errors.HiveDataError` naming the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error

__all__ = [
    "LongHorizonDataset",
    "LongHorizonFact",
    "LongHorizonQuestion",
    "LongHorizonTurn",
    "asks_current_value",
    "parse_long_horizon_dialogue",
    "parse_long_horizon_questions",
    "read_long_horizon",
    "read_long_horizon_dialogue",
    "read_long_horizon_questions",
]

_CURRENT_WORDS = re.compile(r"\b(?:current|currently|now)\b", re.IGNORECASE)


@dataclass(frozen=True)
class LongHorizonFact:
    """A ground-truth fact stated by a turn: ``entity.attribute = value``."""

    entity: str
    attribute: str
    value: str


@dataclass(frozen=True)
class LongHorizonTurn:
    """One dialogue turn.

    Attributes:
        turn: Position in the dialogue (unique).
        block: The block (episode, day, meeting) the turn belongs to.
        content: What was said; the only thing a memory may ingest.
        facts: Ground-truth facts this turn states (for scoring only).
    """

    turn: int
    block: int | str
    content: str
    facts: tuple[LongHorizonFact, ...] = ()


@dataclass(frozen=True)
class LongHorizonQuestion:
    """One question with its scoring rubric.

    Attributes:
        question_id: Unique id.
        text: The question.
        expected_answer: The reference answer (numbers are converted to strings).
        category: Free-form category name used to group results.
        required_keywords: Every one must appear (case-insensitive) in the
            retrieved contents for a hit.
    """

    question_id: str
    text: str
    expected_answer: str
    category: str
    required_keywords: tuple[str, ...]

    @property
    def asks_current(self) -> bool:
        """Whether the question asks for a current value (see :func:`asks_current_value`)."""
        return asks_current_value(self.text)


@dataclass(frozen=True)
class LongHorizonDataset:
    """A dialogue and the questions about it."""

    turns: tuple[LongHorizonTurn, ...]
    questions: tuple[LongHorizonQuestion, ...]


def asks_current_value(text: str) -> bool:
    """True when ``text`` contains the word current, currently or now (any case)."""
    return _CURRENT_WORDS.search(text) is not None


def read_long_horizon(
    dialogue: str | Path, questions: str | Path, *, skips: SkippedRecords | None = None
) -> LongHorizonDataset:
    """Read a dialogue file and its questions file, skipping malformed or unscorable records.

    Args:
        dialogue: The dialogue file.
        questions: The questions file.
        skips: Where skipped records are counted (default: the collector of
            :func:`~hive_middleware.skipped.recording_skips`, else warnings only).

    Raises:
        HiveDataError: Either file is missing, not a JSON list, or holds no usable record.
    """
    skips = active_skips(skips)
    return LongHorizonDataset(
        turns=tuple(read_long_horizon_dialogue(dialogue, skips=skips)),
        questions=tuple(read_long_horizon_questions(questions, skips=skips)),
    )


def read_long_horizon_dialogue(path: str | Path, *, skips: SkippedRecords | None = None) -> list[LongHorizonTurn]:
    """Read a dialogue JSON file.

    Args:
        path: The file.
        skips: Where skipped turns are counted (see :func:`read_long_horizon`).

    Returns:
        The usable turns, in file order.

    Raises:
        HiveDataError: Missing file, bad JSON, not a list, or no usable turn.
    """
    p = Path(path)
    return parse_long_horizon_dialogue(_load(p, "dialogue"), source=str(p), skips=skips)


def read_long_horizon_questions(
    path: str | Path, *, skips: SkippedRecords | None = None
) -> list[LongHorizonQuestion]:
    """Read a questions JSON file.

    Args:
        path: The file.
        skips: Where skipped questions are counted (see :func:`read_long_horizon`).

    Returns:
        The usable questions, in file order.

    Raises:
        HiveDataError: Missing file, bad JSON, not a list, or no usable question.
    """
    p = Path(path)
    return parse_long_horizon_questions(_load(p, "questions"), source=str(p), skips=skips)


def parse_long_horizon_dialogue(
    raw: Any, *, source: str = "<dialogue>", skips: SkippedRecords | None = None
) -> list[LongHorizonTurn]:
    """Build turns from decoded JSON; see the module docstring for the format.

    Raises:
        HiveDataError: ``raw`` is not a non-empty list, or no turn in it is usable.
    """
    skips = active_skips(skips)
    if not isinstance(raw, list) or not raw:
        raise _error(source, "<root>", "expected a non-empty JSON list of turns")
    turns: list[LongHorizonTurn] = []
    seen: set[int] = set()
    for i, item in enumerate(raw):
        try:
            turn = _parse_turn(item, source, f"[{i}]", seen)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        seen.add(turn.turn)
        turns.append(turn)
    if not turns:
        raise _error(source, "<root>", f"no usable turn among {len(raw)} ({skips.describe()})")
    return turns


def _parse_turn(item: Any, source: str, where: str, seen: set[int]) -> LongHorizonTurn:
    obj = _object(item, source, where)
    number = obj.get("turn")
    if isinstance(number, bool) or not isinstance(number, int):
        raise _error(source, f"{where}.turn", f"expected an integer, got {number!r}")
    if number in seen:
        raise _error(source, f"{where}.turn", f"turn {number} appears twice")
    block = obj.get("block")
    if isinstance(block, bool) or not isinstance(block, (int, str)):
        raise _error(source, f"{where}.block", f"expected an integer or string, got {block!r}")
    content = _text(obj.get("content"), source, f"{where}.content")
    raw_facts = obj.get("facts", [])
    if not isinstance(raw_facts, list):
        raise _error(source, f"{where}.facts", f"expected a list, got {type(raw_facts).__name__}")
    facts = tuple(_fact(f, source, f"{where}.facts[{j}]") for j, f in enumerate(raw_facts))
    return LongHorizonTurn(turn=number, block=block, content=content, facts=facts)


def parse_long_horizon_questions(
    raw: Any, *, source: str = "<questions>", skips: SkippedRecords | None = None
) -> list[LongHorizonQuestion]:
    """Build questions from decoded JSON; see the module docstring for the format.

    Raises:
        HiveDataError: ``raw`` is not a non-empty list, or no question in it is usable.
    """
    skips = active_skips(skips)
    if not isinstance(raw, list) or not raw:
        raise _error(source, "<root>", "expected a non-empty JSON list of questions")
    questions: list[LongHorizonQuestion] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        try:
            question = _parse_question(item, source, f"[{i}]", seen)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        seen.add(question.question_id)
        questions.append(question)
    if not questions:
        raise _error(source, "<root>", f"no usable question among {len(raw)} ({skips.describe()})")
    return questions


def _parse_question(item: Any, source: str, where: str, seen: set[str]) -> LongHorizonQuestion:
    obj = _object(item, source, where)
    qid = _scalar(obj.get("question_id"), source, f"{where}.question_id")
    if qid in seen:
        raise _error(source, f"{where}.question_id", f"question_id {qid!r} appears twice")
    rubric = obj.get("rubric")
    if not isinstance(rubric, dict):
        raise _error(source, f"{where}.rubric", "expected an object with required_keywords")
    keywords = rubric.get("required_keywords")
    if isinstance(keywords, list) and not keywords:
        raise _error(source, f"{where}.rubric.required_keywords", "is empty: nothing to score the question by")
    if not isinstance(keywords, list):
        raise _error(source, f"{where}.rubric.required_keywords", "expected a non-empty list of strings")
    kw = tuple(_text(k, source, f"{where}.rubric.required_keywords[{j}]") for j, k in enumerate(keywords))
    return LongHorizonQuestion(
        question_id=qid,
        text=_text(obj.get("text"), source, f"{where}.text"),
        expected_answer=_scalar(obj.get("expected_answer"), source, f"{where}.expected_answer"),
        category=_text(obj.get("category"), source, f"{where}.category"),
        required_keywords=kw,
    )


def _load(path: Path, what: str) -> Any:
    if not path.is_file():
        raise HiveDataError(f"long-horizon {what} file {path} does not exist", path=str(path), field=None)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HiveDataError(f"{path}: not valid JSON ({exc})", path=str(path), field=None) from exc


def _error(source: str, where: str, what: str) -> HiveDataError:
    return HiveDataError(f"{source}: field {where}: {what}", path=source, field=where, problem=what)


def _object(value: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(source, where, f"expected an object, got {type(value).__name__}")
    return value


def _text(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(source, where, f"expected a non-empty string, got {value!r}")
    return value


def _scalar(value: Any, source: str, where: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return _text(value, source, where)


def _fact(value: Any, source: str, where: str) -> LongHorizonFact:
    obj = _object(value, source, where)
    return LongHorizonFact(
        entity=_text(obj.get("entity"), source, f"{where}.entity"),
        attribute=_text(obj.get("attribute"), source, f"{where}.attribute"),
        value=_scalar(obj.get("value"), source, f"{where}.value"),
    )
