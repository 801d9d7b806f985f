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
machine (:mod:`.breaker_state`, pure) runs inside a
:class:`~hive_middleware.resilience.breaker_store.BreakerStore`: the default
in-process store keeps it under one short lock and never sleeps, so the same
object serves threads and asyncio tasks; a shared store (Redis) makes every
process one circuit. State changes this process causes are delivered to its
listeners as :class:`BreakerEvent` after the store call returns; a failing
listener is logged and never breaks the call (hooks fail open, the guard itself
fails closed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hive_middleware.errors import HiveCircuitOpen, HiveConfigError
from hive_middleware.resilience.breaker_state import (
    AdmitOutcome,
    BreakerSettings,
    BreakerState,
    Permit,
    Transition,
    Verdict,
)
from hive_middleware.resilience.breaker_store import BreakerStore, InMemoryBreakerStore
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
        listeners: Called with every :class:`BreakerEvent` this process causes.
        store: Where the state lives (default: a private in-process store). A
            shared store makes every process using the same ``name`` one circuit.

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
        store: BreakerStore | None = None,
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
        self.store: BreakerStore = store if store is not None else InMemoryBreakerStore()
        self.settings = BreakerSettings(
            failure_threshold=failure_threshold,
            failure_rate_threshold=failure_rate_threshold,
            window_s=window_s,
            min_calls=min_calls,
            cooldown_s=cooldown_s,
            probe_timeout_s=probe_timeout_s,
        )
        self._listeners: list[BreakerListener] = list(listeners)

    # -- observation -------------------------------------------------------

    def add_listener(self, listener: BreakerListener) -> None:
        """Subscribe to state changes."""
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        """Current state (an open circuit whose cooldown passed reads as half-open)."""
        return self.store.snapshot(self.name, self.settings, self.clock.now()).state

    @property
    def generation(self) -> int:
        """Number of state changes so far; permits from an older generation are stale."""
        return self.store.snapshot(self.name, self.settings, self.clock.now()).generation

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success in the current closed period."""
        return self.store.snapshot(self.name, self.settings, self.clock.now()).consecutive_failures

    # -- admission ---------------------------------------------------------

    def before_call(self) -> Permit:
        """Ask to make one call.

        Returns:
            A permit to pass to :meth:`record_success`, :meth:`record_failure` or :meth:`release`.

        Raises:
            HiveCircuitOpen: the circuit is open, or half-open with its probe in flight.
        """
        return self._admitted(self.store.admit(self.name, self.settings, self.clock.now()))

    async def abefore_call(self) -> Permit:
        """Async :meth:`before_call` (a shared store answers without blocking the loop)."""
        return self._admitted(await self.store.aadmit(self.name, self.settings, self.clock.now()))

    def _admitted(self, outcome: AdmitOutcome) -> Permit:
        self._emit(outcome.transitions)
        if outcome.ticket is None:
            raise self._refusal(outcome.retry_after, outcome.why)
        return Permit(self.name, outcome.ticket, outcome.generation, outcome.probe, outcome.origin)

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
        self._record(permit, "success")

    def record_failure(self, permit: Permit) -> None:
        """Report that the admitted call failed because of the model or its provider."""
        self._record(permit, "failure")

    def release(self, permit: Permit) -> None:
        """Report no verdict (the call was cancelled before it said anything).

        A released probe frees the half-open slot for the next caller.
        """
        self._record(permit, "none")

    def record(self, permit: Permit, verdict: Verdict) -> None:
        """Report ``"success"``, ``"failure"`` or ``"none"`` (see the three methods above)."""
        self._record(permit, verdict)

    async def arecord(self, permit: Permit, verdict: Verdict) -> None:
        """Async :meth:`record`."""
        self._emit(await self.store.arecord(self.name, self.settings, permit, verdict, self.clock.now()))

    def _record(self, permit: Permit, verdict: Verdict) -> None:
        self._emit(self.store.record(self.name, self.settings, permit, verdict, self.clock.now()))

    # -- transitions -------------------------------------------------------

    def _emit(self, transitions: Iterable[Transition]) -> None:
        for change in transitions:
            event = BreakerEvent(self.name, change.old, change.new, change.at, self.clock.wall(), change.reason)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("circuit breaker listener %r failed on %s", listener, event)

    def reset(self) -> None:
        """Close the circuit and forget its history (an operator's override)."""
        self._emit(self.store.reset(self.name, self.clock.now()))

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
