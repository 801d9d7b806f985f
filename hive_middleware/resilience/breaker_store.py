"""The port behind :class:`~hive_middleware.resilience.breaker.CircuitBreaker`, and its in-process adapter.

A store owns the state of every breaker it is asked about and applies the
:mod:`~hive_middleware.resilience.breaker_state` machine atomically. The
in-process adapter guards a dict with one lock; a shared adapter (Redis) runs
the same steps server-side in one script, so the failure count, the
open → half-open transition and the single half-open probe are shared by every
process using it.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

from hive_middleware.resilience.breaker_state import (
    AdmitOutcome,
    BreakerRecord,
    BreakerSettings,
    BreakerState,
    Permit,
    Transition,
    Verdict,
    admit,
    observed_state,
    record_outcome,
    reset_record,
)

__all__ = ["BreakerSnapshot", "BreakerStore", "InMemoryBreakerStore"]


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What a breaker looks like now.

    Attributes:
        state: Current state (an open circuit past its cooldown reads as half-open).
        generation: Number of state changes so far.
        consecutive_failures: Failures since the last success in the current closed period.
    """

    state: BreakerState
    generation: int
    consecutive_failures: int


class BreakerStore(ABC):
    """Where circuit-breaker state lives.

    Contract:
        * Each method is atomic for the breaker it names: concurrent callers, in
          any number of threads or processes sharing the store, see one state
          machine. A breaker never seen is closed with no history.
        * :meth:`admit` admits at most one probe per half-open period however
          many callers race; a probe that has not reported after
          ``settings.probe_timeout_s`` is replaced.
        * :meth:`record` applies a verdict for a permit this store issued;
          permits of an older generation change nothing.
        * :meth:`admit` names itself in ``AdmitOutcome.origin`` (``"local"`` for
          in-process state, ``"shared"`` for state other processes see); the
          permit carries it back, so a wrapper can route the verdict.
        * Each call returns the state changes *it* made, so the caller can tell
          its listeners; changes made by other processes are not reported.
        * ``now`` is the caller's clock. A store shared between processes should
          use one time source for all of them (e.g. the server's clock) instead;
          only differences of its times are reported back (``retry_after``).

    The async twins default to the sync methods, which is right for stores that
    never block (the in-process one); a network store overrides them.
    """

    @abstractmethod
    def admit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Admit one call to breaker ``name`` or refuse it (see :func:`~.breaker_state.admit`)."""

    @abstractmethod
    def record(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Report the verdict of a call admitted with ``permit``; returns the state changes made."""

    @abstractmethod
    def reset(self, name: str, now: float) -> tuple[Transition, ...]:
        """Close breaker ``name`` and forget its history."""

    @abstractmethod
    def snapshot(self, name: str, settings: BreakerSettings, now: float) -> BreakerSnapshot:
        """The current state of breaker ``name`` (changes nothing)."""

    async def aadmit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Async :meth:`admit`."""
        return self.admit(name, settings, now)

    async def arecord(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Async :meth:`record`."""
        return self.record(name, settings, permit, verdict, now)


class InMemoryBreakerStore(BreakerStore):
    """Breaker records in a dict under one lock; safe for threads and asyncio in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, BreakerRecord] = {}
        self._tickets = itertools.count(1)

    def _record(self, name: str) -> BreakerRecord:
        found = self._records.get(name)
        if found is None:
            found = self._records[name] = BreakerRecord()
        return found

    def admit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Admit one call to breaker ``name`` or refuse it."""
        with self._lock:
            return admit(self._record(name), settings, now, self._tickets.__next__)

    def record(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Report the verdict of a call admitted with ``permit``; returns the state changes made."""
        with self._lock:
            return tuple(
                record_outcome(self._record(name), settings, permit.generation, permit.ticket, verdict, now)
            )

    def reset(self, name: str, now: float) -> tuple[Transition, ...]:
        """Close breaker ``name`` and forget its history."""
        with self._lock:
            return tuple(reset_record(self._record(name), now))

    def snapshot(self, name: str, settings: BreakerSettings, now: float) -> BreakerSnapshot:
        """The current state of breaker ``name``."""
        with self._lock:
            record = self._records.get(name) or BreakerRecord()
            return BreakerSnapshot(observed_state(record, settings, now), record.generation, record.consecutive)
