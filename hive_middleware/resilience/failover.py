"""Shared limiter and breaker stores that fall back to in-process state while their server is down.

Guards fail closed on a rate limit or an open circuit, but an unreachable Redis
is neither: the call goes on under in-process limits and breakers, exactly as
if ``shared.redis`` were unset. :class:`FailoverSwitch` remembers the outage
(logged once when it starts, once when it ends, and reported to an
``on_change`` hook such as the stack's counters) and lets one call try the
shared store again every ``retry_s`` seconds; the first success switches every
caller back. While the switch is down no call waits on the dead server.

What is lost in an outage: the verdict of a call admitted by the shared breaker
and finished while Redis is unreachable (the shared probe slot frees itself
after the probe timeout), and the refunds of shared reservations (they go to
the local buckets, which are capped at capacity). Nothing raised by the redis
client reaches the caller: adapters translate it to
:class:`~hive_middleware.errors.HiveStorageError`, which this module absorbs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from hive_middleware.errors import HiveStorageError
from hive_middleware.resilience.breaker_state import (
    AdmitOutcome,
    BreakerSettings,
    Permit,
    Transition,
    Verdict,
)
from hive_middleware.resilience.breaker_store import BreakerSnapshot, BreakerStore
from hive_middleware.resilience.bucket import BucketSpec, ReserveOutcome
from hive_middleware.resilience.limiter_store import BucketKey, BucketTake, LimiterStore

__all__ = ["FailoverBreakerStore", "FailoverLimiterStore", "FailoverSwitch"]

logger = logging.getLogger(__name__)


class FailoverSwitch:
    """Whether the shared stores are usable now; one switch serves every store on one server.

    Args:
        what: The server in words, for the log (``"Redis at redis://host:6379/0"``).
        retry_s: Seconds between attempts to use the shared store while it is down.
        now: Monotonic time source (injected in tests).
        on_change: Called with ``"unavailable"`` when an outage starts and
            ``"restored"`` when it ends (e.g. to count it in ``stack.stats``).
    """

    def __init__(
        self,
        what: str,
        *,
        retry_s: float,
        now: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.what = what
        self.retry_s = retry_s
        self._now = now
        self._on_change = on_change
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0
        self.outages = 0

    @property
    def shared_up(self) -> bool:
        """``False`` while an outage is on (between a failure and the next success)."""
        with self._lock:
            return not self._down

    def try_shared(self) -> bool:
        """Whether this call should use the shared store (one call per ``retry_s`` while down)."""
        with self._lock:
            if not self._down:
                return True
            now = self._now()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_s  # the others stay local while this one probes
            return True

    def failed(self, exc: HiveStorageError) -> None:
        """Record that the shared store failed; the first failure of an outage is logged."""
        with self._lock:
            self._retry_at = self._now() + self.retry_s
            if self._down:
                return
            self._down = True
            self.outages += 1
        logger.warning(
            "%s failed (%s); rate limits and circuit breakers are in-process until it answers again "
            "(retried every %gs)",
            self.what,
            exc.message,
            self.retry_s,
        )
        self._notify("unavailable")

    def succeeded(self) -> None:
        """Record that the shared store answered; ends an outage (logged once)."""
        if not self._down:  # fast path, read without the lock: a stale read only delays the log
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.warning("%s is reachable again; rate limits and circuit breakers are shared again", self.what)
        self._notify("restored")

    def _notify(self, event: str) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(event)
        except Exception:
            logger.exception("shared-store change hook %r failed on %r", self._on_change, event)


class FailoverLimiterStore(LimiterStore):
    """A shared limiter store with an in-process one behind it for outages.

    Args:
        shared: The shared store (e.g. Redis).
        local: Used while ``shared`` is unreachable.
        switch: The outage state, shared with the breaker store of the same server.
    """

    def __init__(self, shared: LimiterStore, local: LimiterStore, switch: FailoverSwitch) -> None:
        self.shared = shared
        self.local = local
        self.switch = switch

    def reserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Reserve on the shared store, or on the local one while it is down."""
        if self.switch.try_shared():
            try:
                outcome = self.shared.reserve(takes, now, max_wait)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return outcome
        return self.local.reserve(takes, now, max_wait)

    async def areserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Async :meth:`reserve`."""
        if self.switch.try_shared():
            try:
                outcome = await self.shared.areserve(takes, now, max_wait)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return outcome
        return await self.local.areserve(takes, now, max_wait)

    def adjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Refund or charge on the shared store, or on the local one while it is down."""
        if self.switch.try_shared():
            try:
                self.shared.adjust(key, spec, delta, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return
        self.local.adjust(key, spec, delta, now)

    async def aadjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Async :meth:`adjust`."""
        if self.switch.try_shared():
            try:
                await self.shared.aadjust(key, spec, delta, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return
        await self.local.aadjust(key, spec, delta, now)


class FailoverBreakerStore(BreakerStore):
    """A shared breaker store with an in-process one behind it for outages.

    Permits remember which store admitted them (:attr:`Permit.origin`), so a
    verdict always goes to the state it belongs to; a shared verdict that
    cannot be delivered is dropped (logged at debug level).

    Args:
        shared: The shared store (e.g. Redis).
        local: Used while ``shared`` is unreachable.
        switch: The outage state, shared with the limiter store of the same server.
    """

    def __init__(self, shared: BreakerStore, local: BreakerStore, switch: FailoverSwitch) -> None:
        self.shared = shared
        self.local = local
        self.switch = switch

    def admit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Admit on the shared store, or on the local one while it is down."""
        if self.switch.try_shared():
            try:
                outcome = self.shared.admit(name, settings, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return outcome
        return self.local.admit(name, settings, now)

    async def aadmit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Async :meth:`admit`."""
        if self.switch.try_shared():
            try:
                outcome = await self.shared.aadmit(name, settings, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return outcome
        return await self.local.aadmit(name, settings, now)

    def _lost(self, name: str, permit: Permit, exc: HiveStorageError) -> tuple[Transition, ...]:
        self.switch.failed(exc)
        logger.debug("verdict of breaker %r ticket %d not delivered: %s", name, permit.ticket, exc.message)
        return ()

    def record(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Report the verdict to the store that admitted the call."""
        if permit.origin == "local":
            return self.local.record(name, settings, permit, verdict, now)
        try:
            changes = self.shared.record(name, settings, permit, verdict, now)
        except HiveStorageError as exc:
            return self._lost(name, permit, exc)
        self.switch.succeeded()
        return changes

    async def arecord(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Async :meth:`record`."""
        if permit.origin == "local":
            return await self.local.arecord(name, settings, permit, verdict, now)
        try:
            changes = await self.shared.arecord(name, settings, permit, verdict, now)
        except HiveStorageError as exc:
            return self._lost(name, permit, exc)
        self.switch.succeeded()
        return changes

    def reset(self, name: str, now: float) -> tuple[Transition, ...]:
        """Reset the local breaker and, when reachable, the shared one."""
        changes = self.local.reset(name, now)
        if self.switch.try_shared():
            try:
                changes += self.shared.reset(name, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
        return changes

    def snapshot(self, name: str, settings: BreakerSettings, now: float) -> BreakerSnapshot:
        """The shared breaker's state, or the local one's while the shared store is down."""
        if self.switch.try_shared():
            try:
                snap = self.shared.snapshot(name, settings, now)
            except HiveStorageError as exc:
                self.switch.failed(exc)
            else:
                self.switch.succeeded()
                return snap
        return self.local.snapshot(name, settings, now)
