"""One job body, two drivers: results and errors flow the same sync and async."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hive_middleware.pipeline.jobs import Io, Job, adrive, drive


def _job(fail: bool) -> Job[str]:
    first = yield Io(lambda: "a")
    try:
        second = yield Io(lambda: (_ for _ in ()).throw(RuntimeError("io failed")) if fail else "b")
    except RuntimeError as exc:
        second = f"caught {exc}"
    return f"{first}+{second}"


def test_sync_and_async_drivers_agree() -> None:
    for fail in (False, True):
        assert drive(_job(fail)) == asyncio.run(adrive(_job(fail)))
    assert drive(_job(True)) == "a+caught io failed"


def test_async_driver_runs_blocking_io_off_the_loop_and_prefers_arun() -> None:
    where: list[str] = []

    async def coro() -> str:
        where.append("loop")
        return "async"

    def job() -> Job[tuple[str, str]]:
        blocking = yield Io(lambda: where.append(threading.current_thread().name) or "sync")
        native = yield Io(lambda: "never", coro)
        return blocking, native

    assert asyncio.run(adrive(job())) == ("sync", "async")
    assert where[0] != threading.main_thread().name and where[1] == "loop"


def test_an_uncaught_error_propagates() -> None:
    def job() -> Job[None]:
        yield Io(lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        drive(job())
