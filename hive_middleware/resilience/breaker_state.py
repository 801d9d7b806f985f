"""Circuit-breaker state machine: pure functions of (record, settings, now), no locks, no I/O.

Shared by every :class:`~hive_middleware.resilience.breaker_store.BreakerStore`:
the in-process store runs these functions under a lock, and a shared store
(Redis) runs the same steps server-side in one script, so one half-open probe
and one failure count serve every process. The rules:

* **closed**: calls pass. It opens after ``failure_threshold`` consecutive
  failures, or when the failure rate over the last ``window_s`` seconds reaches
  ``failure_rate_threshold`` with at least ``min_calls`` calls seen.
* **open**: calls are refused until ``cooldown_s`` has passed.
* **half-open**: exactly one caller, the probe, is admitted; the others are
  refused. The probe's success closes the circuit; its failure re-opens it. A
  probe that never reports is replaced after ``probe_timeout_s``.

Every state change bumps ``generation``; an outcome reported with a permit of an
older generation does not move the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "WINDOW_SLOTS",
    "AdmitOutcome",
    "BreakerRecord",
    "BreakerSettings",
    "BreakerState",
    "Permit",
    "Transition",
    "Verdict",
    "admit",
    "observed_state",
    "record_outcome",
    "reset_record",
]

#: The rate window is kept as this many time slots, so memory stays constant
#: however many calls pass (a list of every outcome would grow with traffic).
WINDOW_SLOTS = 10

#: What a finished call says about the model: ``"none"`` means no verdict (cancelled).
Verdict = Literal["success", "failure", "none"]


class BreakerState(StrEnum):
    """The three states of a circuit."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission to one call; report its outcome with it.

    Attributes:
        breaker: Name of the breaker that admitted the call.
        ticket: Unique number of this admission (unique per store).
        generation: State generation it was admitted in (outcomes from an older
            generation do not move the state).
        probe: Whether this call is the half-open probe.
        origin: Which store issued it (``"local"`` or ``"shared"``), so an outcome
            goes back to the store whose state it belongs to.
    """

    breaker: str
    ticket: int
    generation: int
    probe: bool
    origin: str = "local"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Thresholds of one breaker (validated by :class:`~hive_middleware.resilience.breaker.CircuitBreaker`)."""

    failure_threshold: int
    failure_rate_threshold: float | None
    window_s: float
    min_calls: int
    cooldown_s: float
    probe_timeout_s: float | None

    @property
    def slot_s(self) -> float:
        """Length of one slot of the failure-rate window."""
        return self.window_s / WINDOW_SLOTS


@dataclass(slots=True)
class BreakerRecord:
    """Mutable state of one breaker. A breaker never seen is ``BreakerRecord()`` (closed)."""

    state: BreakerState = BreakerState.CLOSED
    generation: int = 0
    consecutive: int = 0
    slots: list[list[int]] = field(default_factory=list)  # [slot index, calls, failures], oldest first
    opened_at: float = 0.0
    probe_ticket: int | None = None
    probe_started: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change made by one store call (``at`` is the caller's clock)."""

    old: BreakerState
    new: BreakerState
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class AdmitOutcome:
    """Result of :func:`admit`.

    Attributes:
        ticket: The admitted call's ticket, ``None`` when refused.
        generation: Generation of the admission.
        probe: Whether the admitted call is the half-open probe.
        retry_after: When refused, seconds until a call may be admitted.
        why: When refused, the state in words (``"open"``, ``"half-open with a probe in flight"``).
        transitions: State changes made while deciding (open → half-open).
        origin: Which store decided (``"local"`` or ``"shared"``), copied to the permit.
    """

    ticket: int | None
    generation: int
    probe: bool = False
    retry_after: float = 0.0
    why: str = ""
    transitions: tuple[Transition, ...] = ()
    origin: str = "local"


def observed_state(record: BreakerRecord, settings: BreakerSettings, now: float) -> BreakerState:
    """The state a caller would see now (an open circuit past its cooldown reads as half-open)."""
    if record.state is BreakerState.OPEN and now >= record.opened_at + settings.cooldown_s:
        return BreakerState.HALF_OPEN
    return record.state


def _transition(record: BreakerRecord, new: BreakerState, now: float, reason: str) -> Transition:
    old = record.state
    record.state = new
    record.generation += 1
    record.probe_ticket = None
    if new is BreakerState.CLOSED:
        record.consecutive = 0
        record.slots.clear()
    return Transition(old, new, now, reason)


def _open(record: BreakerRecord, now: float, reason: str) -> Transition:
    record.opened_at = now
    return _transition(record, BreakerState.OPEN, now, reason)


def admit(
    record: BreakerRecord, settings: BreakerSettings, now: float, next_ticket: Callable[[], int]
) -> AdmitOutcome:
    """Decide whether one call may go now; mutates ``record`` when it admits or changes state.

    Args:
        record: The breaker's state (mutated).
        settings: Its thresholds.
        now: Current time of the store's clock.
        next_ticket: Hands out a fresh ticket; called only when the call is admitted.

    Returns:
        The admission (``ticket`` set) or the refusal (``retry_after``, ``why``).
    """
    if record.state is BreakerState.CLOSED:
        return AdmitOutcome(next_ticket(), record.generation)
    transitions: tuple[Transition, ...] = ()
    if record.state is BreakerState.OPEN:
        reopen_at = record.opened_at + settings.cooldown_s
        if now < reopen_at:
            return AdmitOutcome(None, record.generation, retry_after=reopen_at - now, why="open")
        transitions = (_transition(record, BreakerState.HALF_OPEN, now, "cooldown elapsed"),)
    # Half-open: one probe at a time; a probe that never reported is replaced.
    timeout = settings.probe_timeout_s
    if record.probe_ticket is not None and (timeout is None or now < record.probe_started + timeout):
        # The probe usually answers long before its timeout: suggest at most a cooldown.
        wait = settings.cooldown_s
        if timeout is not None:
            wait = min(wait, record.probe_started + timeout - now)
        return AdmitOutcome(
            None,
            record.generation,
            retry_after=wait,
            why="half-open with a probe in flight",
            transitions=transitions,
        )
    ticket = next_ticket()
    record.probe_ticket = ticket
    record.probe_started = now
    return AdmitOutcome(ticket, record.generation, probe=True, transitions=transitions)


def _count(record: BreakerRecord, settings: BreakerSettings, now: float, failed: bool) -> list[Transition]:
    index = int(now // settings.slot_s)
    while record.slots and record.slots[0][0] <= index - WINDOW_SLOTS:
        record.slots.pop(0)
    if not record.slots or record.slots[-1][0] != index:
        record.slots.append([index, 0, 0])
    slot = record.slots[-1]
    slot[1] += 1
    if not failed:
        record.consecutive = 0
        return []
    slot[2] += 1
    record.consecutive += 1
    if record.consecutive >= settings.failure_threshold:
        return [_open(record, now, f"{record.consecutive} consecutive failures")]
    if settings.failure_rate_threshold is not None:
        calls = sum(s[1] for s in record.slots)
        failures = sum(s[2] for s in record.slots)
        if calls >= settings.min_calls and failures / calls >= settings.failure_rate_threshold:
            return [_open(record, now, f"failure rate {failures}/{calls} over {settings.window_s:g}s")]
    return []


def record_outcome(
    record: BreakerRecord,
    settings: BreakerSettings,
    generation: int,
    ticket: int,
    verdict: Verdict,
    now: float,
) -> list[Transition]:
    """Apply the outcome of the call admitted with ``(generation, ticket)``; mutates ``record``.

    ``"none"`` frees the half-open slot if the call was the probe and changes
    nothing else. An outcome from an older generation changes nothing.

    Returns:
        The state changes it caused.
    """
    if verdict == "none":
        if ticket == record.probe_ticket:
            record.probe_ticket = None
        return []
    if generation != record.generation:
        return []
    failed = verdict == "failure"
    if record.state is BreakerState.HALF_OPEN:
        if ticket != record.probe_ticket:
            return []
        record.probe_ticket = None
        if failed:
            return [_open(record, now, "probe failed")]
        return [_transition(record, BreakerState.CLOSED, now, "probe succeeded")]
    if record.state is BreakerState.CLOSED:
        return _count(record, settings, now, failed)
    return []


def reset_record(record: BreakerRecord, now: float) -> list[Transition]:
    """Close the circuit and forget its history (an operator's override); mutates ``record``."""
    transitions = []
    if record.state is not BreakerState.CLOSED:
        transitions.append(_transition(record, BreakerState.CLOSED, now, "reset"))
    record.consecutive = 0
    record.slots.clear()
    return transitions
