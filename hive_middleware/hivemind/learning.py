"""The learning stream of one tenant: the steps agents took, in order, for the router to train from."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from hive_middleware.errors import HiveValidationError
from hive_middleware.hivemind.channels import DEFAULT_FEED_LIMIT, check_limit
from hive_middleware.hivemind.model import LearnedStep, LearningStep, check_name, check_tenant, from_epoch
from hive_middleware.hivemind.ports import LearningLog
from hive_middleware.memory.records import new_record_id

__all__ = ["Learning"]


def _text(value: object, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise HiveValidationError(f"{what} must be a string, got {type(value).__name__}", field=what)


class Learning:
    """The learning stream of one tenant.

    Args:
        log: Where steps go (SQLite file, or Redis through the local fallback).
        tenant: Whose stream this is.
        clock: Wall clock in seconds since the epoch (``recorded_at`` of :meth:`record`).
    """

    def __init__(self, log: LearningLog, tenant: str, *, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.tenant = check_tenant(tenant)
        self._clock = clock

    def append(self, step: LearningStep) -> LearnedStep:
        """Append ``step`` (idempotent on ``step.step_id``).

        Returns:
            The stored step with its cursor (``None`` while queued locally).

        Raises:
            HiveValidationError: a field has the wrong type or a bad name.
        """
        if not isinstance(step, LearningStep):
            raise HiveValidationError(f"step must be a LearningStep, got {type(step).__name__}", field="step")
        for name in ("step_id", "agent", "thread"):
            check_name(getattr(step, name), name)
        for name in ("state", "actual", "outcome"):
            _text(getattr(step, name), name)
        _text(step.predicted, "predicted", optional=True)
        return self.log.append(self.tenant, step)

    def record(
        self,
        *,
        agent: str,
        thread: str,
        state: str,
        predicted: str | None,
        actual: str,
        outcome: str,
        step_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> LearnedStep:
        """Build a :class:`LearningStep` stamped now (a fresh id unless given) and append it."""
        return self.append(
            LearningStep(
                step_id=step_id if step_id is not None else new_record_id(),
                agent=agent,
                thread=thread,
                state=state,
                predicted=predicted,
                actual=actual,
                outcome=outcome,
                recorded_at=from_epoch(self._clock()),
                metadata=dict(metadata or {}),
            )
        )

    def read(self, *, after: str | None = None, limit: int = DEFAULT_FEED_LIMIT) -> list[LearnedStep]:
        """Up to ``limit`` steps after cursor ``after``, in append order."""
        return self.log.read(self.tenant, after, check_limit(limit))

    async def aappend(self, step: LearningStep) -> LearnedStep:
        """See :meth:`append`."""
        return await asyncio.to_thread(self.append, step)

    async def aread(self, *, after: str | None = None, limit: int = DEFAULT_FEED_LIMIT) -> list[LearnedStep]:
        """See :meth:`read`."""
        return await asyncio.to_thread(self.read, after=after, limit=limit)
