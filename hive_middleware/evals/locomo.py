"""Reader for LoCoMo long-conversation files (``locomo10.json`` and slices of it).

A file is a JSON list of samples ``{"sample_id", "conversation", "qa", ...}``.
``conversation`` holds ``speaker_a``, ``speaker_b``, ``session_<n>`` (a list of
turns ``{"speaker", "dia_id": "D<n>:<i>", "text", ...}``) and
``session_<n>_date_time`` (``"1:56 pm on 8 May, 2023"``). ``qa`` items are
``{"question", "answer", "evidence": [dia_id, ...], "category"}``; category 5
(adversarial) items carry ``adversarial_answer`` instead of ``answer``.

Quirks of the published data, and what this reader does with them:

* Integer answers (``2022``) become strings; a missing answer (category 5)
  becomes ``""``.
* Malformed evidence ids are normalised when the intended id is unambiguous
  (``"D1:3 "``, ``"D:1:3"``, ``"D1: 3"``, ``"D01:03"`` -> ``"D1:3"``; a string
  holding several ids separated by ``;``/``,``/spaces is split). Anything else
  (``"D"``), and ids naming no turn of the conversation, are dropped and
  counted in :attr:`LocomoConversation.dropped_evidence`.
* Some samples give date-times for sessions that have no turns: those sessions
  are not part of :attr:`LocomoConversation.sessions`; their numbers are kept
  in :attr:`LocomoConversation.empty_sessions`.

Session date-times carry no zone in the data; they are read as UTC.

Malformed or unscorable records are skipped, not fatal (see
:mod:`hive_middleware.skipped`): a question without usable evidence (some
category-3 items have none) or with a malformed field, a malformed turn, a
session whose date-time is missing or unreadable (with its turns), a sample
without a usable id, speakers or turns, and a repeated ``sample_id`` are each
left out, counted under their reason with one warning line naming the file and
the field. A file that is not a JSON list, or holds no usable sample, raises
:class:`~hive_middleware.errors.HiveDataError`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error

__all__ = [
    "CATEGORY_NAMES",
    "LocomoConversation",
    "LocomoQuestion",
    "LocomoTurn",
    "locomo_stats",
    "normalise_dia_id",
    "parse_locomo_datetime",
    "parse_locomo_samples",
    "read_locomo",
]

CATEGORY_NAMES: Mapping[int, str] = {
    1: "multi_hop",
    2: "temporal",
    3: "open_domain",
    4: "single_hop",
    5: "adversarial",
}
"""Official LoCoMo category numbers and the names the eval reports use."""

_SESSION_KEY = re.compile(r"session_(\d+)")
_SESSION_DT_KEY = re.compile(r"session_(\d+)_date_time")
# Tolerates stray spaces and an extra colon after the D: "D1: 3", "D:1:3", " d1:3 ".
_LOOSE_ID = re.compile(r"\s*[Dd]\s*:?\s*(\d+)\s*:\s*(\d+)\s*")
_ID_SEPARATORS = re.compile(r"[;,]|\s+(?=[Dd])")
_DATETIME = re.compile(
    r"\s*(\d{1,2}):(\d{2})\s*([ap])\.?\s*m\.?\s+on\s+(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})\s*",
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# Keys of a turn that the dataclass models directly; the rest go to ``extra``.
_TURN_CORE_KEYS = frozenset({"speaker", "dia_id", "text", "blip_caption"})


@dataclass(frozen=True)
class LocomoTurn:
    """One dialogue turn.

    Attributes:
        dia_id: Canonical id ``D<session>:<index>``.
        speaker: Who spoke.
        text: What was said.
        session: Session number.
        valid_time: The session's date-time (UTC), used as the turn's valid time.
        blip_caption: Caption of the image shared in this turn, if any.
        extra: Other fields of the turn as published (``img_url``, ``query`` ...).
    """

    dia_id: str
    speaker: str
    text: str
    session: int
    valid_time: datetime
    blip_caption: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LocomoQuestion:
    """One question with its gold evidence.

    Attributes:
        question: The question text.
        answer: Gold answer as a string (``""`` when the item has none, as for
            most adversarial items).
        evidence: Canonical dia_ids of the evidence turns, normalised; may be empty.
        category: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial.
        adversarial_answer: The misleading answer of category-5 items, else ``None``.
    """

    question: str
    answer: str
    evidence: tuple[str, ...]
    category: int
    adversarial_answer: str | None = None

    @property
    def category_name(self) -> str:
        """The category's report name (``multi_hop``, ``temporal`` ...)."""
        return CATEGORY_NAMES[self.category]


@dataclass(frozen=True)
class LocomoConversation:
    """One LoCoMo sample: two speakers, dated sessions of turns, and questions.

    Attributes:
        sample_id: The sample's id (``conv-26``).
        speaker_a: First speaker's name.
        speaker_b: Second speaker's name.
        turns: Every turn, in session then turn order.
        questions: The ``qa`` items.
        sessions: Session number -> date-time, for sessions that have turns.
        empty_sessions: Session numbers that have a date-time but no turns.
        dropped_evidence: Raw evidence strings that were dropped (unparseable,
            or naming no turn of this conversation).
        normalised_evidence: How many evidence strings were repaired.
    """

    sample_id: str
    speaker_a: str
    speaker_b: str
    turns: tuple[LocomoTurn, ...]
    questions: tuple[LocomoQuestion, ...]
    sessions: Mapping[int, datetime]
    empty_sessions: tuple[int, ...] = ()
    dropped_evidence: tuple[str, ...] = ()
    normalised_evidence: int = 0


def parse_locomo_datetime(text: str) -> datetime:
    """Parse a LoCoMo session date-time such as ``"1:56 pm on 8 May, 2023"``.

    Args:
        text: The published string.

    Returns:
        A timezone-aware UTC datetime.

    Raises:
        ValueError: The string is not in that format or names an impossible date.
    """
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise ValueError(f"expected a date-time like '1:56 pm on 8 May, 2023', got {text!r}")
    hour, minute, half, day, month_name, year = m.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError(f"unknown month {month_name!r} in {text!r}")
    h = int(hour)
    if not 1 <= h <= 12:
        raise ValueError(f"hour {h} is not on a 12-hour clock in {text!r}")
    h = h % 12 + (12 if half.lower() == "p" else 0)
    return datetime(int(year), month, int(day), h, int(minute), tzinfo=UTC)


def normalise_dia_id(raw: str) -> tuple[str, ...] | None:
    """Canonical dia_id(s) for a possibly malformed evidence string.

    Args:
        raw: An evidence entry as published.

    Returns:
        The canonical ids (usually one; several when the string joins ids with
        ``;``/``,``), or ``None`` when some part cannot be read unambiguously.
    """
    parts = [p for p in _ID_SEPARATORS.split(raw) if p.strip()]
    if not parts:
        return None
    ids: list[str] = []
    for part in parts:
        m = _LOOSE_ID.fullmatch(part)
        if m is None:
            return None
        ids.append(f"D{int(m.group(1))}:{int(m.group(2))}")
    return tuple(ids)


def read_locomo(path: str | Path, *, skips: SkippedRecords | None = None) -> list[LocomoConversation]:
    """Read a LoCoMo JSON file, skipping malformed or unscorable records.

    Args:
        path: A file holding a JSON list of LoCoMo samples.
        skips: Where skipped records are counted (default: the collector of
            :func:`~hive_middleware.skipped.recording_skips`, else warnings only).

    Returns:
        The usable conversations, in file order.

    Raises:
        HiveDataError: The file is missing, is not a JSON list, or holds no
            usable sample (``path`` and ``field`` name where).
    """
    p = Path(path)
    if not p.is_file():
        raise HiveDataError(f"LoCoMo file {p} does not exist or is not a file", path=str(p), field=None)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HiveDataError(
            f"{p}: not valid JSON ({exc}); pass a LoCoMo .json file", path=str(p), field=None
        ) from exc
    return parse_locomo_samples(raw, source=str(p), skips=skips)


def parse_locomo_samples(
    raw: Any, *, source: str = "<data>", skips: SkippedRecords | None = None
) -> list[LocomoConversation]:
    """Build conversations from already-decoded LoCoMo JSON, skipping malformed records.

    Args:
        raw: The decoded JSON (a list of samples).
        source: Name used in error messages (the file path).
        skips: Where skipped records are counted (see :func:`read_locomo`).

    Returns:
        The usable conversations, in order.

    Raises:
        HiveDataError: ``raw`` is not a list, or no sample in it is usable.
    """
    skips = active_skips(skips)
    if not isinstance(raw, list):
        raise _error(source, "<root>", f"expected a JSON list of samples, got {type(raw).__name__}")
    conversations: list[LocomoConversation] = []
    seen: set[str] = set()
    for i, sample in enumerate(raw):
        try:
            conv = _parse_sample(sample, source, f"[{i}]", skips)
            if conv.sample_id in seen:
                raise _error(source, f"[{i}].sample_id", f"sample_id {conv.sample_id!r} appears twice")
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        seen.add(conv.sample_id)
        conversations.append(conv)
    if not conversations:
        raise _error(
            source, "<root>",
            f"no usable LoCoMo sample among {len(raw)} ({skips.describe()}); pass a LoCoMo .json file",
        )
    return conversations


def locomo_stats(path: str | Path) -> dict[str, Any]:
    """Counts for ``hive data stats``.

    Args:
        path: A LoCoMo JSON file.

    Returns:
        ``{"conversations", "sessions", "turns", "questions", "questions_per_category"
        (by category name), "questions_without_evidence", "evidence_normalised",
        "evidence_dropped", "empty_sessions", "skipped"}``; questions and turns
        count usable records only, ``skipped`` says what was left out and why.

    Raises:
        HiveDataError: The file is malformed.
    """
    skips = SkippedRecords(lambda _line: None)
    conversations = read_locomo(path, skips=skips)
    per_category: Counter[str] = Counter()
    for conv in conversations:
        per_category.update(q.category_name for q in conv.questions)
    return {
        "conversations": len(conversations),
        "sessions": sum(len(c.sessions) for c in conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "questions_per_category": {name: per_category.get(name, 0) for name in CATEGORY_NAMES.values()},
        "questions_without_evidence": skips.counts.get(_NO_EVIDENCE_REASON, 0),
        "evidence_normalised": sum(c.normalised_evidence for c in conversations),
        "evidence_dropped": sum(len(c.dropped_evidence) for c in conversations),
        "empty_sessions": sum(len(c.empty_sessions) for c in conversations),
        "skipped": skips.counts,
    }


def _error(source: str, where: str, what: str) -> HiveDataError:
    return HiveDataError(f"{source}: field {where}: {what}", path=source, field=where, problem=what)


_NO_EVIDENCE = "has no evidence naming a turn of the conversation, so it cannot be scored"
_NO_EVIDENCE_REASON = f"qa[].evidence: {_NO_EVIDENCE}"


def _require_str(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise _error(source, where, f"expected a string, got {type(value).__name__}")
    return value


def _parse_sample(sample: Any, source: str, where: str, skips: SkippedRecords) -> LocomoConversation:
    if not isinstance(sample, dict):
        raise _error(source, where, f"expected an object, got {type(sample).__name__}")
    sample_id = _require_str(sample.get("sample_id"), source, f"{where}.sample_id")
    where = f"{where}({sample_id})"
    conv = sample.get("conversation")
    if not isinstance(conv, dict):
        raise _error(source, f"{where}.conversation", "missing or not an object")
    speaker_a = _require_str(conv.get("speaker_a"), source, f"{where}.conversation.speaker_a")
    speaker_b = _require_str(conv.get("speaker_b"), source, f"{where}.conversation.speaker_b")

    dates: dict[int, datetime] = {}
    bad_dates: dict[int, HiveDataError] = {}
    raw_sessions: dict[int, Any] = {}
    for key, value in conv.items():
        if m := _SESSION_DT_KEY.fullmatch(key):
            try:
                text = _require_str(value, source, f"{where}.conversation.{key}")
                try:
                    dates[int(m.group(1))] = parse_locomo_datetime(text)
                except ValueError as exc:
                    raise _error(source, f"{where}.conversation.{key}", str(exc)) from exc
            except HiveDataError as exc:
                bad_dates[int(m.group(1))] = exc  # reported only if the session has turns
        elif m := _SESSION_KEY.fullmatch(key):
            raw_sessions[int(m.group(1))] = value

    turns: list[LocomoTurn] = []
    sessions: dict[int, datetime] = {}
    turn_ids: set[str] = set()
    for number in sorted(raw_sessions):
        field_name = f"{where}.conversation.session_{number}"
        items = raw_sessions[number]
        try:
            if not isinstance(items, list):
                raise _error(source, field_name, f"expected a list of turns, got {type(items).__name__}")
            if items and number in bad_dates:
                raise bad_dates[number]
            if items and number not in dates:
                raise _error(
                    source, f"{field_name}_date_time", "missing for a session with turns; the session is skipped"
                )
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        if not items:
            continue
        kept = 0
        for i, t in enumerate(items):
            try:
                turn = _parse_turn(t, number, dates[number], source, f"{field_name}[{i}]")
                if turn.dia_id in turn_ids:
                    raise _error(source, f"{field_name}[{i}].dia_id", f"dia_id {turn.dia_id} appears twice")
            except HiveDataError as exc:
                skip_data_error(skips, exc)
                continue
            turn_ids.add(turn.dia_id)
            turns.append(turn)
            kept += 1
        if kept:
            sessions[number] = dates[number]
    if not turns:
        raise _error(source, f"{where}.conversation", "no session has any usable turn")

    qa = sample.get("qa", [])
    if not isinstance(qa, list):
        raise _error(source, f"{where}.qa", f"expected a list, got {type(qa).__name__}")
    questions: list[LocomoQuestion] = []
    dropped: list[str] = []
    repaired = 0
    for i, item in enumerate(qa):
        try:
            question, item_dropped, item_repaired = _parse_question(item, turn_ids, source, f"{where}.qa[{i}]")
            if not question.evidence:
                raise _error(source, f"{where}.qa[{i}].evidence", _NO_EVIDENCE)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        questions.append(question)
        dropped.extend(item_dropped)
        repaired += item_repaired
    return LocomoConversation(
        sample_id=sample_id,
        speaker_a=speaker_a,
        speaker_b=speaker_b,
        turns=tuple(turns),
        questions=tuple(questions),
        sessions=sessions,
        empty_sessions=tuple(sorted(set(dates) - set(sessions))),
        dropped_evidence=tuple(dropped),
        normalised_evidence=repaired,
    )


def _parse_turn(raw: Any, session: int, valid_time: datetime, source: str, where: str) -> LocomoTurn:
    if not isinstance(raw, dict):
        raise _error(source, where, f"expected a turn object, got {type(raw).__name__}")
    speaker = _require_str(raw.get("speaker"), source, f"{where}.speaker")
    text = _require_str(raw.get("text"), source, f"{where}.text")
    raw_id = _require_str(raw.get("dia_id"), source, f"{where}.dia_id")
    ids = normalise_dia_id(raw_id)
    if ids is None or len(ids) != 1:
        raise _error(source, f"{where}.dia_id", f"expected an id like 'D1:3', got {raw_id!r}")
    caption = raw.get("blip_caption")
    if caption is not None and not isinstance(caption, str):
        raise _error(source, f"{where}.blip_caption", f"expected a string, got {type(caption).__name__}")
    extra = {k: v for k, v in raw.items() if k not in _TURN_CORE_KEYS}
    return LocomoTurn(
        dia_id=ids[0],
        speaker=speaker,
        text=text,
        session=session,
        valid_time=valid_time,
        blip_caption=caption,
        extra=extra,
    )


def _parse_question(
    raw: Any, turn_ids: set[str], source: str, where: str
) -> tuple[LocomoQuestion, list[str], int]:
    if not isinstance(raw, dict):
        raise _error(source, where, f"expected a qa object, got {type(raw).__name__}")
    question = _require_str(raw.get("question"), source, f"{where}.question")
    category = raw.get("category")
    if isinstance(category, bool) or not isinstance(category, int) or category not in CATEGORY_NAMES:
        raise _error(source, f"{where}.category", f"expected an integer 1-5, got {category!r}")
    answer = _answer_text(raw.get("answer"), source, f"{where}.answer")
    adversarial = raw.get("adversarial_answer")
    adversarial_answer = (
        None if adversarial is None else _answer_text(adversarial, source, f"{where}.adversarial_answer")
    )
    raw_evidence = raw.get("evidence", [])
    if raw_evidence is None:
        raw_evidence = []
    if not isinstance(raw_evidence, list):
        raise _error(
            source, f"{where}.evidence", f"expected a list of dia_ids, got {type(raw_evidence).__name__}"
        )
    evidence, dropped, repaired = _clean_evidence(raw_evidence, turn_ids, source, f"{where}.evidence")
    return (
        LocomoQuestion(
            question=question,
            answer=answer,
            evidence=evidence,
            category=category,
            adversarial_answer=adversarial_answer,
        ),
        dropped,
        repaired,
    )


def _answer_text(value: Any, source: str, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _error(source, where, f"expected a string or number, got {type(value).__name__}")


def _clean_evidence(
    raw_evidence: Iterable[Any], turn_ids: set[str], source: str, where: str
) -> tuple[tuple[str, ...], list[str], int]:
    kept: list[str] = []
    dropped: list[str] = []
    repaired = 0
    for i, entry in enumerate(raw_evidence):
        text = _require_str(entry, source, f"{where}[{i}]")
        ids = normalise_dia_id(text)
        if ids is None:
            dropped.append(text)
            continue
        if ids != (text,):
            repaired += 1
        for dia_id in ids:
            if dia_id not in turn_ids:
                dropped.append(dia_id)
            elif dia_id not in kept:
                kept.append(dia_id)
    return tuple(kept), dropped, repaired
