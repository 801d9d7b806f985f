"""One body for sync and async: a job is a generator that yields the I/O it needs.

A job (``Job[T]``) yields :class:`Io` requests and receives their results; an
exception raised by a request is thrown back into the job at the ``yield``.
:func:`drive` runs a job synchronously; :func:`adrive` awaits each request
(``arun`` when given, else ``run`` in a worker thread) so the event loop never
blocks. Decisions between requests are plain code shared by both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Io", "Job", "adrive", "drive"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Io:
    """One piece of I/O a job needs: ``run()`` in place, or ``arun()`` awaited.

    Attributes:
        run: Does it synchronously.
        arun: Does it as a coroutine (default: ``run`` in a worker thread).
    """

    run: Callable[[], Any]
    arun: Callable[[], Awaitable[Any]] | None = None


Job = Generator[Io, Any, T]


_Outcome = tuple[bool, Any]  # (succeeded, result or the exception it raised)


def _resume(job: Job[T], outcome: _Outcome) -> Io:
    """Hand a request's outcome back to the job; returns its next request (StopIteration: done)."""
    ok, value = outcome
    return job.send(value) if ok else job.throw(value)


def _unwind(job: Job[Any], exc: BaseException) -> None:
    """End a job whose request was interrupted (cancelled, KeyboardInterrupt) where it waits.

    Its ``with`` blocks exit now, in the caller's context (a trace span ends with
    the call), instead of whenever the suspended generator is collected.
    """
    try:
        job.throw(exc)
    except BaseException:
        return
    job.close()


def _run(request: Io) -> _Outcome:
    try:
        return True, request.run()
    except Exception as exc:
        return False, exc


async def _arun(request: Io) -> _Outcome:
    try:
        if request.arun is not None:
            return True, await request.arun()
        return True, await asyncio.to_thread(request.run)
    except Exception as exc:
        return False, exc


def drive(job: Job[T]) -> T:
    """Run a job synchronously."""
    try:
        request = next(job)
        while True:
            try:
                outcome = _run(request)
            except BaseException as exc:
                _unwind(job, exc)
                raise
            request = _resume(job, outcome)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(job: Job[T]) -> T:
    """Run a job on the event loop; blocking requests run in a worker thread."""
    try:
        request = next(job)
        while True:
            try:
                outcome = await _arun(request)
            except BaseException as exc:
                _unwind(job, exc)
                raise
            request = _resume(job, outcome)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
