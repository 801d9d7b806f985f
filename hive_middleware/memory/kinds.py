"""Retention rules of the cognitive memory kinds, as pure functions.

Each rule reads records and the current time (passed in, never read from a
clock) and returns what the store should do: ids to expire or evict, records
to create. The store applies the result in one commit, so every rule is tested
without I/O and without sleeping.

* **sensory**: lives ``MemoryConfig.sensory_ttl_s`` seconds; after that it is
  hidden from search and recall (:func:`sensory_expired`) and
  :func:`expired_sensory` lists it for expiry.
* **working**: at most ``MemoryConfig.working_slots`` current records per task
  (``metadata["task"]``); the oldest are evicted (:func:`working_evictions`);
  all are cleared when the task ends (:func:`working_clear`).
* **episodic**: consolidated into semantic facts (:func:`consolidate`): episodes
  that state the same entity/attribute cue are grouped; the latest statement
  gives the fact, the episodes agreeing with it are its ``derived_from`` sources.
* **semantic**: confidence decays exponentially with
  ``MemoryConfig.semantic_half_life_days`` since the record was written or last
  confirmed (:func:`effective_confidence`); each confirmation raises it
  (:func:`confirmed_confidence`) and restarts the decay.
* **procedural**: ``metadata["steps"]`` is a list of steps
  (:func:`check_procedural`), ``metadata["usage_count"]`` counts uses
  (:func:`record_use`).
* **prospective**: ``metadata["trigger"]`` holds keywords and/or a regex
  (:func:`parse_trigger`); :func:`matching_prospective` recalls those whose
  trigger matches arriving content.
* **any kind**: at most ``MemoryConfig.max_records_per_namespace`` current
  records per namespace; the least recently used are evicted
  (:func:`lru_evictions`). Eviction expires, it does not delete: history stays.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import hlc_physical_ms
from hive_middleware.memory.cues import Cue, extract_cues
from hive_middleware.types import MemoryKind, MemoryRecord

__all__ = [
    "DEFAULT_MAX_TRIGGER_REGEX_CHARS",
    "LAST_USED_KEY",
    "STEPS_KEY",
    "TASK_KEY",
    "TRIGGER_KEY",
    "USAGE_COUNT_KEY",
    "Consolidation",
    "Trigger",
    "check_procedural",
    "check_prospective",
    "confirmed_confidence",
    "consolidate",
    "decayed_confidence",
    "effective_confidence",
    "expired_sensory",
    "lru_evictions",
    "matching_prospective",
    "parse_trigger",
    "record_ms",
    "record_use",
    "sensory_expired",
    "trigger_matches",
    "working_clear",
    "working_evictions",
]

TASK_KEY = "task"
"""Metadata key naming the task a working memory belongs to."""
STEPS_KEY = "steps"
"""Metadata key of a procedural memory's list of steps."""
USAGE_COUNT_KEY = "usage_count"
"""Metadata key counting how often a procedure was used."""
LAST_USED_KEY = "last_used_ms"
"""Metadata key: wall-clock ms of the last use (LRU order, procedures)."""
TRIGGER_KEY = "trigger"
"""Metadata key of a prospective memory's trigger condition."""
DEFAULT_MAX_TRIGGER_REGEX_CHARS = 500
"""Longest trigger regex accepted (a guard against pathological patterns)."""

_MS_PER_DAY = 86_400_000.0
_POSSESSIVE_DETERMINERS = frozenset({"my", "our", "your", "his", "her", "their"})


def record_ms(record: MemoryRecord) -> int:
    """Wall-clock milliseconds at which the store recorded ``record``."""
    return hlc_physical_ms(record.recorded_at)


def _current(records: Iterable[MemoryRecord]) -> list[MemoryRecord]:
    return [r for r in records if r.expired_at is None]


def _oldest_first(records: Iterable[MemoryRecord]) -> list[MemoryRecord]:
    return sorted(records, key=lambda r: (r.recorded_at, r.id))


# --- sensory -----------------------------------------------------------------


def sensory_expired(record: MemoryRecord, now_ms: int, ttl_s: float) -> bool:
    """Whether ``record`` is a sensory memory older than ``ttl_s`` seconds at ``now_ms``."""
    return record.kind is MemoryKind.SENSORY and now_ms - record_ms(record) >= ttl_s * 1000.0


def expired_sensory(records: Iterable[MemoryRecord], now_ms: int, ttl_s: float) -> list[str]:
    """Ids of the current sensory records past their TTL, oldest first."""
    return [r.id for r in _oldest_first(_current(records)) if sensory_expired(r, now_ms, ttl_s)]


# --- working -----------------------------------------------------------------


def _task_of(record: MemoryRecord) -> str | None:
    task = record.metadata.get(TASK_KEY)
    return str(task) if task is not None else None


def working_evictions(records: Iterable[MemoryRecord], task: str | None, slots: int) -> list[str]:
    """Ids of the oldest current working records of ``task`` beyond ``slots``.

    Args:
        records: Candidate records (any kinds; others are ignored).
        task: The task (``metadata["task"]``; ``None`` = records without a task).
        slots: How many may stay.
    """
    mine = [r for r in _current(records) if r.kind is MemoryKind.WORKING and _task_of(r) == task]
    ordered = _oldest_first(mine)
    excess = len(ordered) - slots
    return [r.id for r in ordered[:excess]] if excess > 0 else []


def working_clear(records: Iterable[MemoryRecord], task: str) -> list[str]:
    """Ids of every current working record of ``task`` (the task ended)."""
    return [r.id for r in _oldest_first(_current(records)) if r.kind is MemoryKind.WORKING and _task_of(r) == task]


# --- episodic -> semantic ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consolidation:
    """A semantic fact distilled from episodes.

    Attributes:
        key: Stable key of the fact (``fact:<entity>:<attribute>``), so a later
            consolidation with another value supersedes it.
        content: The fact as a sentence whose cue is the same slot.
        entity: Who or what it is about.
        attribute: Which property.
        value: The value the latest episode states.
        derived_from: Ids of the episodes that state this value, oldest first.
        confidence: Fraction of the slot's episodes that agree with the value.
        valid_from: World time of the latest supporting episode, if known.
    """

    key: str
    content: str
    entity: str
    attribute: str
    value: str
    derived_from: tuple[str, ...]
    confidence: float
    valid_from: datetime | None


def _render(cue: Cue) -> str:
    if cue.entity in _POSSESSIVE_DETERMINERS:
        return f"{cue.entity} {cue.attribute} is {cue.value}"
    if cue.attribute == "state":
        return f"{cue.entity} is now {cue.value}"
    return f"{cue.entity}'s {cue.attribute} is {cue.value}"


def _episode_order(record: MemoryRecord) -> tuple[float, int, str]:
    world = record.valid_from.timestamp() if record.valid_from is not None else float("-inf")
    return (world, record.recorded_at, record.id)


def consolidate(records: Iterable[MemoryRecord], *, min_support: int = 1) -> list[Consolidation]:
    """Group current episodic records by entity/attribute cue and emit one fact per group.

    Within a group, episodes are ordered by ``valid_from`` (world time), then
    ``recorded_at``; the latest statement's value is the fact. A group whose
    latest statement is a negation ("X no longer ...") yields no fact; ``*``
    cues (unparsed negations) never form groups. Deterministic: the same records
    give the same facts in the same order (sorted by key).

    Args:
        records: Records of one namespace; non-episodic and expired ones are ignored.
        min_support: Fewest agreeing episodes needed to emit a fact.

    Returns:
        The facts to write (as semantic records with ``derived_from`` edges).
    """
    groups: dict[tuple[str, str], list[tuple[MemoryRecord, Cue]]] = defaultdict(list)
    for record in _current(records):
        if record.kind is not MemoryKind.EPISODIC:
            continue
        for cue in extract_cues(record.content):
            if cue.attribute != "*" and cue.entity:
                groups[cue.slot].append((record, cue))
    facts: list[Consolidation] = []
    for (entity, attribute), members in sorted(groups.items()):
        members.sort(key=lambda m: _episode_order(m[0]))
        latest_record, latest = members[-1]
        if latest.negated:
            continue
        agreeing = [m for m in members if not m[1].negated and m[1].value == latest.value]
        if len(agreeing) < min_support:
            continue
        facts.append(
            Consolidation(
                key=latest.fact_key or f"fact:{entity}:{attribute}",
                content=_render(latest),
                entity=entity,
                attribute=attribute,
                value=latest.value,
                derived_from=tuple(dict.fromkeys(r.id for r, _ in agreeing)),
                confidence=len(agreeing) / len(members),
                valid_from=latest_record.valid_from,
            )
        )
    return facts


# --- semantic ----------------------------------------------------------------


def decayed_confidence(confidence: float, age_s: float, half_life_days: float) -> float:
    """``confidence * 0.5 ** (age_days / half_life_days)``; no decay for a negative age."""
    if age_s <= 0:
        return confidence
    return float(confidence * 0.5 ** ((age_s * 1000.0 / _MS_PER_DAY) / half_life_days))


def effective_confidence(
    record: MemoryRecord, now_ms: int, half_life_days: float, last_confirmed_ms: int | None = None
) -> float:
    """A record's confidence at ``now_ms``: semantic records decay, others do not.

    The stored confidence holds at the later of the record's write and its last
    confirmation (``last_confirmed_ms``, the newest ``confirmed_by`` edge), and
    decays from there.
    """
    if record.kind is not MemoryKind.SEMANTIC:
        return record.confidence
    reference = max(record_ms(record), last_confirmed_ms or 0)
    return decayed_confidence(record.confidence, (now_ms - reference) / 1000.0, half_life_days)


def confirmed_confidence(confidence: float, delta: float) -> float:
    """Confidence after one confirmation: ``min(1, confidence + delta)``."""
    return min(1.0, max(0.0, confidence + delta))


# --- procedural --------------------------------------------------------------


def check_procedural(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete a procedural memory's metadata.

    ``steps`` must be a non-empty list of non-empty strings; ``usage_count``
    defaults to 0.

    Raises:
        HiveValidationError: ``steps`` missing or malformed, or a bad ``usage_count``.
    """
    steps = metadata.get(STEPS_KEY)
    if not isinstance(steps, list | tuple) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise HiveValidationError(
            "a procedural memory needs metadata['steps']: a non-empty list of step strings, "
            f"got {steps!r}",
            field="metadata.steps",
        )
    count = metadata.get(USAGE_COUNT_KEY, 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise HiveValidationError(
            f"metadata['usage_count'] must be a non-negative integer, got {count!r}", field="metadata.usage_count"
        )
    return {**metadata, STEPS_KEY: list(steps), USAGE_COUNT_KEY: count}


def record_use(metadata: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """Metadata after one use: ``usage_count`` + 1 and ``last_used_ms`` = ``now_ms``."""
    count = metadata.get(USAGE_COUNT_KEY, 0)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 0
    return {**metadata, USAGE_COUNT_KEY: count + 1, LAST_USED_KEY: now_ms}


# --- prospective -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a prospective memory should come back.

    It fires when *every* given condition holds: ``keywords`` (any one appears
    as a whole word or phrase, case-insensitive), ``all_keywords`` (all appear),
    ``regex`` (``re.search`` finds it, case-insensitive).
    """

    keywords: tuple[str, ...] = ()
    all_keywords: tuple[str, ...] = ()
    regex: str | None = None

    def matches(self, content: str) -> bool:
        """Whether arriving ``content`` fires this trigger."""
        return trigger_matches(self, content)


def _keyword_list(raw: object, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(k, str) and k.strip() for k in raw):
        raise HiveValidationError(
            f"trigger {name!r} must be a list of non-empty strings, got {raw!r}", field=f"metadata.trigger.{name}"
        )
    return tuple(k.strip() for k in raw)


def parse_trigger(metadata: Mapping[str, Any]) -> Trigger:
    """Read ``metadata["trigger"]``: ``{"keywords": [...], "all_keywords": [...], "regex": "..."}``.

    A bare string or list is shorthand for ``{"keywords": ...}``.

    Raises:
        HiveValidationError: no trigger, no condition in it, a malformed keyword
            list, or a regex that does not compile or is too long.
    """
    raw = metadata.get(TRIGGER_KEY)
    if isinstance(raw, str | list | tuple):
        raw = {"keywords": raw}
    if not isinstance(raw, Mapping):
        raise HiveValidationError(
            "a prospective memory needs metadata['trigger'] with 'keywords', 'all_keywords' and/or 'regex'; "
            f"got {raw!r}",
            field="metadata.trigger",
        )
    unknown = set(raw) - {"keywords", "all_keywords", "regex"}
    if unknown:
        raise HiveValidationError(
            f"unknown trigger fields {sorted(unknown)}; use 'keywords', 'all_keywords', 'regex'",
            field="metadata.trigger",
        )
    regex = raw.get("regex")
    if regex is not None:
        if not isinstance(regex, str) or not regex or len(regex) > DEFAULT_MAX_TRIGGER_REGEX_CHARS:
            raise HiveValidationError(
                f"trigger 'regex' must be a non-empty string of at most {DEFAULT_MAX_TRIGGER_REGEX_CHARS} "
                f"characters, got {regex!r}",
                field="metadata.trigger.regex",
            )
        try:
            re.compile(regex)
        except re.error as exc:
            raise HiveValidationError(
                f"trigger 'regex' {regex!r} does not compile: {exc}", field="metadata.trigger.regex"
            ) from exc
    trigger = Trigger(
        _keyword_list(raw.get("keywords"), "keywords"), _keyword_list(raw.get("all_keywords"), "all_keywords"), regex
    )
    if not (trigger.keywords or trigger.all_keywords or trigger.regex):
        raise HiveValidationError("the trigger has no condition; give keywords or a regex", field="metadata.trigger")
    return trigger


def check_prospective(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a prospective memory's metadata and store its trigger in the long form."""
    trigger = parse_trigger(metadata)
    long_form: dict[str, Any] = {}
    if trigger.keywords:
        long_form["keywords"] = list(trigger.keywords)
    if trigger.all_keywords:
        long_form["all_keywords"] = list(trigger.all_keywords)
    if trigger.regex:
        long_form["regex"] = trigger.regex
    return {**metadata, TRIGGER_KEY: long_form}


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase.casefold())}(?!\w)", text) is not None


def trigger_matches(trigger: Trigger, content: str) -> bool:
    """Whether ``content`` fires ``trigger`` (see :class:`Trigger`)."""
    text = content.casefold()
    if trigger.keywords and not any(_has_phrase(text, k) for k in trigger.keywords):
        return False
    if trigger.all_keywords and not all(_has_phrase(text, k) for k in trigger.all_keywords):
        return False
    return not (trigger.regex and re.search(trigger.regex, content, re.IGNORECASE) is None)


def matching_prospective(content: str, records: Iterable[MemoryRecord]) -> list[MemoryRecord]:
    """The current prospective records whose trigger ``content`` fires, oldest first.

    Records without a valid trigger never fire (they were refused at write time
    by :func:`check_prospective`; this keeps a hand-edited store from raising).
    """
    fired: list[MemoryRecord] = []
    for record in _oldest_first(_current(records)):
        if record.kind is not MemoryKind.PROSPECTIVE:
            continue
        try:
            trigger = parse_trigger(record.metadata)
        except HiveValidationError:
            continue
        if trigger_matches(trigger, content):
            fired.append(record)
    return fired


# --- LRU ---------------------------------------------------------------------


def _last_used(record: MemoryRecord) -> int:
    used = record.metadata.get(LAST_USED_KEY)
    base = record_ms(record)
    return max(base, used) if isinstance(used, int) and not isinstance(used, bool) else base


def lru_evictions(records: Sequence[MemoryRecord], limit: int | None) -> list[str]:
    """Ids of the least recently used current records beyond ``limit`` per namespace.

    Last use is the later of the record's write and ``metadata["last_used_ms"]``;
    the id breaks ties. ``limit=None`` evicts nothing.
    """
    if limit is None:
        return []
    by_namespace: dict[tuple[str, ...], list[MemoryRecord]] = defaultdict(list)
    for record in _current(records):
        by_namespace[record.namespace].append(record)
    evicted: list[str] = []
    for namespace in sorted(by_namespace):
        members = sorted(by_namespace[namespace], key=lambda r: (_last_used(r), r.recorded_at, r.id))
        excess = len(members) - limit
        if excess > 0:
            evicted.extend(r.id for r in members[:excess])
    return evicted
