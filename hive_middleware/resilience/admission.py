"""Split-phase guarding for hooks: admit before the call, finish after it.

Framework hooks see a model call in two halves (LiteLLM's
``async_pre_call_hook`` and its success/failure events; a LangGraph node before
and after the model). :func:`admit` takes the limiter slot and the breaker
permit; :func:`finish` reports the outcome to the breaker and corrects the token
bucket. Retries and fallbacks stay with whoever makes the call. Admission fails
closed (it raises :class:`HiveRateLimited` / :class:`HiveCircuitOpen`); finishing
never raises for the outcome it reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hive_middleware.errors import HiveCircuitOpen
from hive_middleware.resilience.breaker import CircuitBreaker, Permit
from hive_middleware.resilience.classify import classify
from hive_middleware.resilience.cost import estimate_message_tokens, reported_tokens
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.limiter import Reservation

__all__ = ["Admission", "aadmit", "admit", "afinish", "finish"]


@dataclass(frozen=True, slots=True)
class Admission:
    """What :func:`admit` took for one call; hand it to :func:`finish`.

    Attributes:
        model: Model charged.
        tenant: Tenant charged.
        breaker: The breaker that admitted the call.
        permit: Its permit.
        reservation: The limiter reservation.
    """

    model: str
    tenant: str
    breaker: CircuitBreaker
    permit: Permit
    reservation: Reservation


def _estimate(
    guard: Guard, model: str, messages: Sequence[Mapping[str, Any]] | None, max_tokens: int
) -> float:
    limit = guard.limiter.limit_for(model)
    if limit is None or limit.token_spec is None:
        return 0.0  # no token budget: skip counting
    prompt = estimate_message_tokens(messages, model) if messages else 0
    return float(prompt + max_tokens)


def admit(
    guard: Guard,
    *,
    model: str,
    tenant: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    max_tokens: int = 0,
    deployment: str | None = None,
) -> Admission:
    """Take a limiter slot (waiting up to the bound) and a breaker permit for one call.

    Raises:
        HiveRateLimited: no slot within the limiter's wait bound.
        HiveCircuitOpen: the breaker refuses the call (the slot is given back).
    """
    who = tenant or guard.tenant
    reservation = guard.limiter.acquire(who, model, _estimate(guard, model, messages, max_tokens))
    breaker = guard.breaker(deployment or model)
    try:
        permit = breaker.before_call()
    except HiveCircuitOpen:
        guard.limiter.cancel(reservation)
        raise
    return Admission(model, who, breaker, permit, reservation)


async def aadmit(
    guard: Guard,
    *,
    model: str,
    tenant: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    max_tokens: int = 0,
    deployment: str | None = None,
) -> Admission:
    """Async :func:`admit` (the limiter wait does not block the event loop)."""
    who = tenant or guard.tenant
    reservation = await guard.limiter.aacquire(who, model, _estimate(guard, model, messages, max_tokens))
    breaker = guard.breaker(deployment or model)
    try:
        permit = await breaker.abefore_call()
    except HiveCircuitOpen:
        await guard.limiter.acancel(reservation)
        raise
    return Admission(model, who, breaker, permit, reservation)


def finish(
    guard: Guard, admission: Admission, *, response: Any = None, error: BaseException | None = None
) -> None:
    """Report how an admitted call ended.

    Args:
        guard: The guard that admitted it.
        admission: What :func:`admit` returned.
        response: The model response on success (its ``usage`` corrects the token bucket).
        error: The exception on failure; classified to decide whether it counts
            against the model (5xx, 429, timeouts, connection) or not (4xx). Pass
            neither when the call was abandoned: the probe slot and the limiter
            slot are given back.
    """
    breaker, permit = admission.breaker, admission.permit
    if error is not None:
        verdict = classify(error).verdict if isinstance(error, Exception) else "none"
        if verdict == "failure":
            breaker.record_failure(permit)
        elif verdict == "success":
            breaker.record_success(permit)
        else:
            breaker.release(permit)
        return
    if response is None:
        breaker.release(permit)
        guard.limiter.cancel(admission.reservation)
        return
    breaker.record_success(permit)
    if admission.reservation.counts_tokens:
        guard.limiter.settle(admission.reservation, reported_tokens(response))


async def afinish(
    guard: Guard, admission: Admission, *, response: Any = None, error: BaseException | None = None
) -> None:
    """Async :func:`finish` (shared limiter and breaker stores are updated without blocking)."""
    breaker, permit = admission.breaker, admission.permit
    if error is not None:
        await breaker.arecord(permit, classify(error).verdict if isinstance(error, Exception) else "none")
        return
    if response is None:
        await breaker.arecord(permit, "none")
        await guard.limiter.acancel(admission.reservation)
        return
    await breaker.arecord(permit, "success")
    if admission.reservation.counts_tokens:
        await guard.limiter.asettle(admission.reservation, reported_tokens(response))
