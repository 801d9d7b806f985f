"""Measurements of the shared limiter and breaker across real processes (for benches and tests).

Two figures, each measured by starting ``processes`` fresh Python processes
(``multiprocessing`` spawn) that share one Redis:

* :func:`measure_limiter_rate_error`: the processes share one requests budget
  and take slots as fast as it lets them for ``seconds``; ``limiter_rate_error`` is
  ``admitted_total / expected_allowance - 1``, where the expected allowance is
  the burst (a fresh bucket is full) plus the refill over the window. 0 is
  perfect; ten processes each enforcing the limit alone would give about 9.
* :func:`measure_half_open_probes`: a breaker is opened, its cooldown passes,
  and every process hammers it at once; ``half_open_probes`` is how many calls
  were let through across all processes (the contract says exactly 1). The
  probe then reports ``probe_verdict`` and every process reads the state it
  sees (``"closed"`` after a success, ``"open"`` after a failure).

Results are plain dicts (JSON-ready, for bench reports). Each measurement
writes under its own fresh key prefix, so runs never see each other's state.
Errors (Redis down, bad URL) are raised, never measured around.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import uuid
from typing import Any, Literal, TypedDict

from hive_middleware.errors import HiveCircuitOpen, HiveConfigError, HiveRuntimeError
from hive_middleware.resilience.breaker import CircuitBreaker
from hive_middleware.resilience.limiter import RateLimit, RateLimiter
from hive_middleware.resilience.shared import open_shared_stores

__all__ = ["HalfOpenProbes", "LimiterRateError", "measure_half_open_probes", "measure_limiter_rate_error"]

_TENANT = "bench"
_MODEL = "shared-check"
_START_DELAY_S = 0.3
_READY_TIMEOUT_S = 60.0


class LimiterRateError(TypedDict):
    """Result of :func:`measure_limiter_rate_error`.

    Keys:
        processes: Processes sharing the budget.
        seconds: Length of the measured window.
        requests_per_minute: The shared budget.
        burst: Capacity of the bucket (requests admitted at once when fresh).
        expected_allowance: ``burst + requests_per_minute / 60 * seconds``.
        admitted_total: Requests admitted over the window, all processes together.
        admitted_per_process: The same, per process.
        limiter_rate_error: ``admitted_total / expected_allowance - 1``.
    """

    processes: int
    seconds: float
    requests_per_minute: float
    burst: float
    expected_allowance: float
    admitted_total: int
    admitted_per_process: list[int]
    limiter_rate_error: float


class HalfOpenProbes(TypedDict):
    """Result of :func:`measure_half_open_probes`.

    Keys:
        processes: Processes hammering the half-open breaker.
        attempts_per_process: Calls each tried during the half-open window.
        half_open_probes: Calls admitted across all processes (the contract: 1).
        refused: Calls refused with ``HiveCircuitOpen``.
        probe_verdict: What the admitted probe reported (``None``: no report).
        states_after: The state each process saw after the probe reported.
    """

    processes: int
    attempts_per_process: int
    half_open_probes: int
    refused: int
    probe_verdict: str | None
    states_after: list[str]


def _wait_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def _start_together(ready: Any, go: Any, start: Any) -> float:
    ready.put(1)
    go.wait(_READY_TIMEOUT_S)
    _wait_until(start.value)
    return float(start.value)


def _limiter_worker(
    url: str, prefix: str, limit: RateLimit, seconds: float, ready: Any, go: Any, start: Any, out: Any
) -> None:
    store, _ = open_shared_stores(url, prefix=prefix)
    limiter = RateLimiter(limit, store=store, max_wait_s=3600.0)
    limiter.reserve("warm-up", _MODEL)  # open the connection and load the script before the start
    begin = _start_together(ready, go, start)
    end = begin + seconds
    admitted = 0
    while True:
        # A reservation is a slot at ``asked + wait``: the time the request goes out.
        asked = time.time()
        slot = asked + limiter.reserve(_TENANT, _MODEL).wait
        if slot >= end:
            break
        admitted += 1
        _wait_until(slot)
    out.put(admitted)


def _breaker(url: str, prefix: str, name: str, cooldown_s: float) -> CircuitBreaker:
    _, store = open_shared_stores(url, prefix=prefix)
    return CircuitBreaker(
        name,
        failure_threshold=1,
        failure_rate_threshold=None,
        cooldown_s=cooldown_s,
        probe_timeout_s=3600.0,
        store=store,
    )


def _breaker_worker(
    url: str,
    prefix: str,
    name: str,
    cooldown_s: float,
    attempts: int,
    verdict: str | None,
    ready: Any,
    go: Any,
    start: Any,
    reported: Any,
    out: Any,
) -> None:
    breaker = _breaker(url, prefix, name, cooldown_s)
    breaker.state  # noqa: B018 - opens the connection and loads the script before the start
    _start_together(ready, go, start)
    permits = []
    refused = 0
    for _ in range(attempts):
        try:
            permits.append(breaker.before_call())
        except HiveCircuitOpen:
            refused += 1
    reported.wait(_READY_TIMEOUT_S)  # nobody reports before every process is done asking
    if permits and verdict is not None:
        for permit in permits:
            breaker.record(permit, "success" if verdict == "success" else "failure")
    reported.wait(_READY_TIMEOUT_S)  # every process reads the state after the probe's report
    out.put((len(permits), refused, str(breaker.state)))


def _run(
    target: Any, processes: int, args: tuple[Any, ...], *, extra_barrier: bool = False, not_before: float = 0.0
) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start = ctx.Value("d", 0.0)
    reported = ctx.Barrier(processes) if extra_barrier else None
    tail = (ready, go, start, reported, out) if extra_barrier else (ready, go, start, out)
    procs = [ctx.Process(target=target, args=(*args, *tail), daemon=True) for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=_READY_TIMEOUT_S)
        start.value = max(time.time() + _START_DELAY_S, not_before)
        go.set()
        results = [out.get(timeout=_READY_TIMEOUT_S * 2) for _ in procs]
    except queue.Empty as exc:
        codes = [proc.exitcode for proc in procs]
        raise HiveRuntimeError(
            f"a measuring process did not answer (exit codes {codes}); is the Redis server reachable?"
        ) from exc
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return results


def _require(redis_url: str | None) -> str:
    if not redis_url:
        raise HiveConfigError(
            "measuring shared limits and breakers needs a Redis URL (redis://host:port/db); "
            "start a Redis server or set shared.redis",
            key="shared.redis",
        )
    return redis_url


def measure_limiter_rate_error(
    redis_url: str | None,
    *,
    processes: int = 6,
    seconds: float = 5.0,
    requests_per_minute: float = 6000.0,
    burst_s: float = 1.0,
) -> LimiterRateError:
    """How far N processes sharing one requests-per-minute budget through Redis overshoot it.

    Args:
        redis_url: The Redis every process uses (``redis://host:port/db``).
        processes: Processes sharing the budget.
        seconds: Length of the window they take slots in.
        requests_per_minute: The budget.
        burst_s: Seconds of budget the bucket holds (its burst).

    Returns:
        The counts and ``limiter_rate_error`` (``admitted_total / expected_allowance - 1``).

    Raises:
        HiveConfigError: no Redis URL.
        HiveRuntimeError: a process failed (e.g. Redis unreachable).
    """
    url = _require(redis_url)
    limit = RateLimit(requests=requests_per_minute, window_s=60.0, burst_s=burst_s)
    assert limit.request_spec is not None
    prefix = f"check-{uuid.uuid4().hex[:12]}"
    counts = _run(_limiter_worker, processes, (url, prefix, limit, seconds))
    burst = limit.request_spec.capacity
    expected = burst + limit.request_spec.refill_per_s * seconds
    total = sum(counts)
    return LimiterRateError(
        processes=processes,
        seconds=seconds,
        requests_per_minute=requests_per_minute,
        burst=burst,
        expected_allowance=expected,
        admitted_total=total,
        admitted_per_process=[int(c) for c in counts],
        limiter_rate_error=total / expected - 1.0,
    )


def measure_half_open_probes(
    redis_url: str | None,
    *,
    processes: int = 6,
    attempts_per_process: int = 50,
    cooldown_s: float = 0.5,
    probe_verdict: Literal["success", "failure"] | None = "success",
) -> HalfOpenProbes:
    """How many calls N processes get through one half-open breaker shared through Redis.

    The breaker is opened by one failure; the processes start together once
    its cooldown has passed and each asks ``attempts_per_process`` times
    without reporting. The probe holder then reports ``probe_verdict``, and each
    process reads the state it sees.

    Args:
        redis_url: The Redis every process uses.
        processes: Processes hammering the breaker.
        attempts_per_process: Admissions each asks for.
        cooldown_s: Cooldown of the breaker.
        probe_verdict: What the probe reports, or ``None`` for no report.

    Returns:
        ``half_open_probes`` (the contract says 1) and the states seen afterwards.

    Raises:
        HiveConfigError: no Redis URL.
        HiveRuntimeError: a process failed (e.g. Redis unreachable).
    """
    url = _require(redis_url)
    prefix = f"check-{uuid.uuid4().hex[:12]}"
    name = "shared-check-model"
    opener = _breaker(url, prefix, name, cooldown_s)
    opener.record_failure(opener.before_call())
    # Start once the cooldown has passed (with a margin for the clocks' reading times).
    half_open_at = time.time() + cooldown_s + 0.05
    args = (url, prefix, name, cooldown_s, attempts_per_process, probe_verdict)
    results = _run(_breaker_worker, processes, args, extra_barrier=True, not_before=half_open_at)
    close = getattr(opener.store, "close", None)
    if callable(close):
        close()
    return HalfOpenProbes(
        processes=processes,
        attempts_per_process=attempts_per_process,
        half_open_probes=sum(r[0] for r in results),
        refused=sum(r[1] for r in results),
        probe_verdict=probe_verdict,
        states_after=[r[2] for r in results],
    )
