"""Circuit breaker per model or deployment: closed → open → half-open (one probe) → closed.

* **closed**: calls pass. It opens after ``failure_threshold`` consecutive
  failures, or when the failure rate over the last ``window_s`` seconds reaches
  ``failure_rate_threshold`` with at least ``min_calls`` calls seen.
* **open**: calls are refused with :class:`~hive_middleware.errors.HiveCircuitOpen`
  until ``cooldown_s`` has passed.
* **half-open**: exactly one caller, the probe, is admitted, however many
  threads or tasks arrive at once; the others are refused. The probe's success
  closes the circuit; its failure re-opens it. A probe that never reports (its
  caller died) is replaced after ``probe_timeout_s``.

Every admission hands out a :class:`Permit`; outcomes are reported with it, so
a slow call admitted before the circuit opened cannot close it later. The state
machine runs under one short lock and never sleeps, so the same object serves
threads and asyncio tasks. State changes are delivered to listeners as
:class:`BreakerEvent` after the lock is released; a failing listener is logged
and never breaks the call (hooks fail open, the guard itself fails closed).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from hive_middleware.errors import HiveCircuitOpen, HiveConfigError
from hive_middleware.resilience.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "DEFAULT_COOLDOWN_S",
    "DEFAULT_FAILURE_THRESHOLD",
    "BreakerEvent",
    "BreakerListener",
    "BreakerState",
    "CircuitBreaker",
    "Permit",
]

logger = logging.getLogger(__name__)

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_COOLDOWN_S = 30.0
# The rate window is kept as this many time slots, so memory stays constant
# however many calls pass (a deque of every outcome would grow with traffic).
_WINDOW_SLOTS = 10


class BreakerState(StrEnum):
    """The three states of a circuit."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """A state change.

    Attributes:
        breaker: Name of the breaker (model or deployment).
        old: State before.
        new: State after.
        at: Monotonic time of the change (the breaker's clock).
        wall: Unix time of the change.
        reason: Why, e.g. ``"5 consecutive failures"`` or ``"probe succeeded"``.
    """

    breaker: str
    old: BreakerState
    new: BreakerState
    at: float
    wall: float
    reason: str


BreakerListener = Callable[[BreakerEvent], None]


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission to one call; report its outcome with it.

    Attributes:
        breaker: Name of the breaker that admitted the call.
        ticket: Unique number of this admission.
        generation: State generation it was admitted in (outcomes from an older
            generation do not move the state).
        probe: Whether this call is the half-open probe.
    """

    breaker: str
    ticket: int
    generation: int
    probe: bool


def _check(name: str, ok: bool, value: object, hint: str) -> None:
    if not ok:
        raise HiveConfigError(f"circuit breaker {name} {hint}, got {value!r}", key=name)


class CircuitBreaker:
    """One circuit for one model or deployment.

    Args:
        name: What it protects (model name or ``model@api_base``), used in errors and events.
        failure_threshold: Consecutive failures that open the circuit.
        failure_rate_threshold: Failure fraction over the window that opens it (``None``: off).
        window_s: Length of the failure-rate window in seconds.
        min_calls: Calls needed in the window before the rate may open it.
        cooldown_s: Seconds open before the half-open probe.
        probe_timeout_s: Seconds after which an unanswered probe is replaced
            (``None``: never; a lost probe then needs :meth:`release`).
        clock: Time source.
        listeners: Called with every :class:`BreakerEvent`.

    Raises:
        HiveConfigError: a threshold, window or cooldown out of range.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        failure_rate_threshold: float | None = 0.5,
        window_s: float = 60.0,
        min_calls: int = 10,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        probe_timeout_s: float | None = 120.0,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[BreakerListener] = (),
    ) -> None:
        _check(
            "failure_threshold",
            isinstance(failure_threshold, int) and failure_threshold >= 1,
            failure_threshold,
            "must be an integer >= 1",
        )
        _check(
            "failure_rate_threshold",
            failure_rate_threshold is None or 0 < failure_rate_threshold <= 1,
            failure_rate_threshold,
            "must be in (0, 1] or None",
        )
        _check("window_s", math.isfinite(window_s) and window_s > 0, window_s, "must be > 0 seconds")
        _check(
            "min_calls", isinstance(min_calls, int) and min_calls >= 1, min_calls, "must be an integer >= 1"
        )
        _check("cooldown_s", math.isfinite(cooldown_s) and cooldown_s > 0, cooldown_s, "must be > 0 seconds")
        _check(
            "probe_timeout_s",
            probe_timeout_s is None or probe_timeout_s > 0,
            probe_timeout_s,
            "must be > 0 seconds or None",
        )
        self.name = name
        self.failure_threshold = failure_threshold
        self.failure_rate_threshold = failure_rate_threshold
        self.window_s = window_s
        self.min_calls = min_calls
        self.cooldown_s = cooldown_s
        self.probe_timeout_s = probe_timeout_s
        self.clock = clock
        self._listeners: list[BreakerListener] = list(listeners)
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive = 0
        self._slot_s = window_s / _WINDOW_SLOTS
        self._slots: deque[list[int]] = deque()  # [slot index, calls, failures]
        self._opened_at = 0.0
        self._probe_ticket: int | None = None
        self._probe_started = 0.0

    # -- observation -------------------------------------------------------

    def add_listener(self, listener: BreakerListener) -> None:
        """Subscribe to state changes."""
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        """Current state (an open circuit whose cooldown passed reads as half-open)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self.clock.now() >= self._opened_at + self.cooldown_s:
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def generation(self) -> int:
        """Number of state changes so far; permits from an older generation are stale."""
        with self._lock:
            return self._generation

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success in the current closed period."""
        with self._lock:
            return self._consecutive

    # -- admission ---------------------------------------------------------

    def before_call(self) -> Permit:
        """Ask to make one call.

        Returns:
            A permit to pass to :meth:`record_success`, :meth:`record_failure` or :meth:`release`.

        Raises:
            HiveCircuitOpen: the circuit is open, or half-open with its probe in flight.
        """
        events: list[BreakerEvent] = []
        try:
            with self._lock:
                return self._admit(self.clock.now(), events)
        finally:
            if events:
                self._emit(events)

    def _admit(self, now: float, events: list[BreakerEvent]) -> Permit:
        if self._state is BreakerState.CLOSED:
            return Permit(self.name, next(self._tickets), self._generation, False)
        if self._state is BreakerState.OPEN:
            reopen_at = self._opened_at + self.cooldown_s
            if now < reopen_at:
                raise self._refusal(reopen_at - now, "open")
            self._transition(BreakerState.HALF_OPEN, now, "cooldown elapsed", events)
        # Half-open: one probe at a time; a probe that never reported is replaced.
        if self._probe_ticket is not None and (
            self.probe_timeout_s is None or now < self._probe_started + self.probe_timeout_s
        ):
            # The probe usually answers long before its timeout: suggest at most a cooldown.
            wait = self.cooldown_s
            if self.probe_timeout_s is not None:
                wait = min(wait, self._probe_started + self.probe_timeout_s - now)
            raise self._refusal(wait, "half-open with a probe in flight")
        permit = Permit(self.name, next(self._tickets), self._generation, True)
        self._probe_ticket = permit.ticket
        self._probe_started = now
        return permit

    def _refusal(self, retry_after: float, why: str) -> HiveCircuitOpen:
        return HiveCircuitOpen(
            f"circuit for {self.name!r} is {why}: the model failed repeatedly; retry in "
            f"{retry_after:.3f}s or configure a fallback model",
            retry_after=max(retry_after, 0.0),
            breaker=self.name,
        )

    # -- outcomes ----------------------------------------------------------

    def record_success(self, permit: Permit) -> None:
        """Report that the admitted call succeeded (or failed for reasons not the model's)."""
        self._record(permit, failed=False)

    def record_failure(self, permit: Permit) -> None:
        """Report that the admitted call failed because of the model or its provider."""
        self._record(permit, failed=True)

    def release(self, permit: Permit) -> None:
        """Report no verdict (the call was cancelled before it said anything).

        A released probe frees the half-open slot for the next caller.
        """
        with self._lock:
            if permit.probe and permit.ticket == self._probe_ticket:
                self._probe_ticket = None

    def _record(self, permit: Permit, *, failed: bool) -> None:
        events: list[BreakerEvent] = []
        with self._lock:
            if permit.generation == self._generation:
                now = self.clock.now()
                if self._state is BreakerState.HALF_OPEN:
                    if permit.ticket == self._probe_ticket:
                        self._probe_ticket = None
                        if failed:
                            self._open(now, "probe failed", events)
                        else:
                            self._transition(BreakerState.CLOSED, now, "probe succeeded", events)
                elif self._state is BreakerState.CLOSED:
                    self._count(now, failed, events)
        if events:
            self._emit(events)

    def _count(self, now: float, failed: bool, events: list[BreakerEvent]) -> None:
        index = int(now // self._slot_s)
        while self._slots and self._slots[0][0] <= index - _WINDOW_SLOTS:
            self._slots.popleft()
        if not self._slots or self._slots[-1][0] != index:
            self._slots.append([index, 0, 0])
        slot = self._slots[-1]
        slot[1] += 1
        if not failed:
            self._consecutive = 0
            return
        slot[2] += 1
        self._consecutive += 1
        if self._consecutive >= self.failure_threshold:
            self._open(now, f"{self._consecutive} consecutive failures", events)
            return
        if self.failure_rate_threshold is not None:
            calls = sum(s[1] for s in self._slots)
            failures = sum(s[2] for s in self._slots)
            if calls >= self.min_calls and failures / calls >= self.failure_rate_threshold:
                self._open(now, f"failure rate {failures}/{calls} over {self.window_s:g}s", events)

    # -- transitions -------------------------------------------------------

    def _open(self, now: float, reason: str, events: list[BreakerEvent]) -> None:
        self._opened_at = now
        self._transition(BreakerState.OPEN, now, reason, events)

    def _transition(self, new: BreakerState, now: float, reason: str, events: list[BreakerEvent]) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probe_ticket = None
        if new is BreakerState.CLOSED:
            self._consecutive = 0
            self._slots.clear()
        events.append(BreakerEvent(self.name, old, new, now, self.clock.wall(), reason))

    def _emit(self, events: list[BreakerEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("circuit breaker listener %r failed on %s", listener, event)

    def reset(self) -> None:
        """Close the circuit and forget its history (an operator's override)."""
        events: list[BreakerEvent] = []
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                self._transition(BreakerState.CLOSED, self.clock.now(), "reset", events)
            self._consecutive = 0
            self._slots.clear()
        if events:
            self._emit(events)

    # -- context manager ---------------------------------------------------

    @contextmanager
    def protect(self, is_failure: Callable[[BaseException], bool] | None = None) -> Iterator[Permit]:
        """``with breaker.protect(): call()``: admit, then record the outcome.

        Works inside ``async def`` too (it never awaits). A normal exit records a
        success; an exception records a failure when ``is_failure(exc)`` is true
        (default: every ``Exception``) and a success otherwise; cancellation and
        other ``BaseException``s release the permit without a verdict.

        Raises:
            HiveCircuitOpen: on entry, when the call is refused.
        """
        permit = self.before_call()
        try:
            yield permit
        except Exception as exc:
            if is_failure is None or is_failure(exc):
                self.record_failure(permit)
            else:
                self.record_success(permit)
            raise
        except BaseException:
            self.release(permit)
            raise
        else:
            self.record_success(permit)
