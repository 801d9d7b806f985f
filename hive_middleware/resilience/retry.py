"""Retry policy: which failures to retry, how long to back off, when to give up.

:class:`RetryPolicy` is pure: :meth:`RetryPolicy.decide` maps (attempt, failure,
elapsed time, a random draw) to a :class:`RetryDecision`. :func:`retrying` and
:func:`aretrying` plug it into tenacity's ``Retrying``/``AsyncRetrying`` with the
injected clock's sleep, so sync and async calls share the same decisions and
tests never wait.

Rules: retry rate limits (429), server errors (5xx), timeouts and connection
errors; never other 4xx or content-policy refusals. Back off exponentially with
jitter, never sooner than the provider's ``Retry-After``; stop after
``max_attempts`` or when the next wait would cross the total ``deadline_s``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hive_middleware.errors import HiveConfigError
from hive_middleware.resilience.classify import Failure, FailureKind, classify
from hive_middleware.resilience.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "AttemptEvent",
    "AttemptListener",
    "RetryDecision",
    "RetryPolicy",
    "RetryRun",
    "aretrying",
    "retrying",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, after how long, and why."""

    retry: bool
    delay: float
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """When and how to retry a model call.

    Args:
        max_attempts: Attempts in all, the first included (1 disables retries).
        deadline_s: Total time budget: no retry starts a wait that would end after it.
        initial_backoff_s: Wait before the second attempt (before jitter).
        max_backoff_s: Cap on the exponential wait.
        multiplier: Growth factor of the wait per attempt.
        jitter: Fraction of each wait that is randomised (0: none, 1: full jitter);
            the wait is ``backoff * (1 - jitter * U)`` with ``U`` uniform in [0, 1).

    Raises:
        HiveConfigError: a value out of range.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    deadline_s: float = DEFAULT_DEADLINE_S
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            (
                "max_attempts",
                isinstance(self.max_attempts, int) and self.max_attempts >= 1,
                "an integer >= 1",
            ),
            ("deadline_s", math.isfinite(self.deadline_s) and self.deadline_s > 0, "> 0 seconds"),
            (
                "initial_backoff_s",
                math.isfinite(self.initial_backoff_s) and self.initial_backoff_s >= 0,
                ">= 0 seconds",
            ),
            (
                "max_backoff_s",
                math.isfinite(self.max_backoff_s) and self.max_backoff_s >= self.initial_backoff_s,
                ">= initial_backoff_s",
            ),
            ("multiplier", math.isfinite(self.multiplier) and self.multiplier >= 1, ">= 1"),
            ("jitter", 0 <= self.jitter <= 1, "in [0, 1]"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise HiveConfigError(
                    f"retry policy {name} must be {want}, got {getattr(self, name)!r}", key=name
                )

    def backoff(self, attempt: int, draw: float) -> float:
        """Wait after failed attempt number ``attempt`` (1-based) given a uniform ``draw``."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return base * (1.0 - self.jitter * draw)

    def decide(self, attempt: int, failure: Failure, elapsed: float, draw: float) -> RetryDecision:
        """Decide what follows failed attempt ``attempt``.

        Args:
            attempt: Number of the attempt that just failed (1-based).
            failure: Its classification.
            elapsed: Seconds since the first attempt started.
            draw: Uniform random number in [0, 1) for the jitter.

        Returns:
            The decision; ``delay`` honours ``failure.retry_after``.
        """
        if not failure.retryable:
            return RetryDecision(False, 0.0, f"{failure.kind} is not retryable")
        delay = self.backoff(attempt, draw)
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        if attempt >= self.max_attempts:
            return RetryDecision(False, delay, f"{self.max_attempts} attempts used")
        if elapsed + delay > self.deadline_s:
            return RetryDecision(
                False, delay, f"waiting {delay:.3f}s would pass the {self.deadline_s:g}s deadline"
            )
        return RetryDecision(True, delay, "retryable")


AttemptOutcome = Literal["success", "retry", "give_up", "fatal"]


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    """One attempt of a guarded call.

    Attributes:
        model: Model (or breaker name) the attempt went to.
        attempt: Attempt number, 1-based.
        outcome: ``success``; ``retry`` (another attempt follows after ``delay``);
            ``give_up`` (retryable but attempts or deadline exhausted); ``fatal`` (not retryable).
        kind: Failure kind, ``None`` on success.
        status_code: HTTP status when known.
        provider: Provider when known.
        delay: Seconds waited before the next attempt (0 unless ``retry``).
        retry_after: The provider's ``Retry-After``, if it sent one.
        elapsed: Seconds since the first attempt started.
        wall: Unix time of the event.
        reason: Why the decision was taken.
    """

    model: str
    attempt: int
    outcome: AttemptOutcome
    kind: FailureKind | None
    status_code: int | None
    provider: str | None
    delay: float
    retry_after: float | None
    elapsed: float
    wall: float
    reason: str


AttemptListener = Callable[[AttemptEvent], None]


class RetryRun:
    """The per-call state tenacity's callbacks share (one per guarded call).

    A driver may make the first attempts itself (reporting them with
    :meth:`succeeded`/:meth:`failed`) and hand the rest to tenacity, setting
    ``offset`` to the attempts already made.

    Attributes:
        failure: Classification of the last failed attempt.
        decision: Decision taken after it.
        attempts: Attempts made so far.
        offset: Attempts made before tenacity took over.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        model: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        listeners: tuple[AttemptListener, ...] = (),
        start: float | None = None,
    ) -> None:
        self.policy = policy
        self.model = model
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.listeners = listeners
        self.start = clock.now() if start is None else start
        self.failure: Failure | None = None
        self.decision: RetryDecision | None = None
        self.attempts = 0
        self.offset = 0
        self._retry_next = False

    def _emit(self, attempt: int, outcome: AttemptOutcome, reason: str) -> None:
        if not self.listeners:
            return
        failure = self.failure if outcome != "success" else None
        decision = self.decision
        event = AttemptEvent(
            self.model,
            attempt,
            outcome,
            failure.kind if failure else None,
            failure.status_code if failure else None,
            failure.provider if failure else None,
            decision.delay if (decision is not None and outcome == "retry") else 0.0,
            failure.retry_after if failure else None,
            self.clock.now() - self.start,
            self.clock.wall(),
            reason,
        )
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("retry listener %r failed on %s", listener, event)

    # decisions ---------------------------------------------------------------

    def succeeded(self, attempt: int) -> None:
        """Record that attempt number ``attempt`` succeeded."""
        self.attempts = attempt
        self.failure = None
        self._emit(attempt, "success", "ok")

    def failed(self, attempt: int, exc: BaseException) -> bool:
        """Classify the failure of attempt ``attempt`` and decide; true means retry.

        On true, ``self.decision.delay`` is the wait before the next attempt; on
        false the caller re-raises (an event says whether it gave up or the error
        was fatal).
        """
        self.attempts = attempt
        self.failure = classify(exc)
        self.decision = self.policy.decide(
            attempt, self.failure, self.clock.now() - self.start, self.rng.random()
        )
        if not self.failure.retryable:
            self._emit(attempt, "fatal", self.decision.reason)
            return False
        if not self.decision.retry:
            self._emit(attempt, "give_up", self.decision.reason)
            return False
        self._emit(attempt, "retry", self.decision.reason)
        return True

    # tenacity callbacks -----------------------------------------------------
    # ``offset`` counts attempts made before tenacity took over (the guard makes
    # the first attempt directly so a call that succeeds at once skips the loop).

    def should_retry(self, state: tenacity.RetryCallState) -> bool:
        """tenacity ``retry=``: classify the outcome and take the decision."""
        attempt = self.offset + state.attempt_number
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            self.succeeded(attempt)
            return False
        exc = outcome.exception()
        assert exc is not None
        self._retry_next = self.failed(attempt, exc)
        # A fatal error must be re-raised by tenacity as the result, not as "stop".
        return self.failure is not None and self.failure.retryable

    def wait(self, state: tenacity.RetryCallState) -> float:
        """tenacity ``wait=``: the decided delay."""
        return self.decision.delay if self.decision is not None else 0.0

    def stop(self, state: tenacity.RetryCallState) -> bool:
        """tenacity ``stop=``: stop unless the decision was to retry."""
        return not self._retry_next


def retrying(run: RetryRun) -> tenacity.Retrying:
    """A tenacity ``Retrying`` driven by ``run`` (sleeps on its clock; re-raises the last error)."""
    import tenacity

    return tenacity.Retrying(
        retry=run.should_retry, wait=run.wait, stop=run.stop, sleep=run.clock.sleep, reraise=True
    )


def aretrying(run: RetryRun) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` driven by ``run`` (awaits its clock's ``asleep``)."""
    import tenacity

    return tenacity.AsyncRetrying(
        retry=run.should_retry, wait=run.wait, stop=run.stop, sleep=run.clock.asleep, reraise=True
    )
