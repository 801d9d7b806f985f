"""Rate limiting: token buckets for requests and tokens per window, per tenant and model.

Each ``(tenant, model)`` pair gets its own request bucket and token bucket sized
by the :class:`RateLimit` for that model (a per-model override, else the
default). ``acquire`` reserves one request and the estimated tokens, waits for
its slot up to a bound, or raises :class:`~hive_middleware.errors.HiveRateLimited`
with ``retry_after``. After the call, :meth:`RateLimiter.settle` corrects the
token bucket with the usage the provider reported.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from hive_middleware.errors import HiveConfigError, HiveRateLimited, HiveValidationError
from hive_middleware.resilience.bucket import BucketSpec
from hive_middleware.resilience.clock import SYSTEM_CLOCK, Clock
from hive_middleware.resilience.limiter_store import BucketTake, InMemoryLimiterStore, LimiterStore

__all__ = ["DEFAULT_MAX_WAIT_S", "RateLimit", "RateLimiter", "Reservation"]

DEFAULT_MAX_WAIT_S = 30.0


def _positive(name: str, value: float | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        raise HiveConfigError(f"rate limit {name} must be a positive number, got {value!r}", key=name)


@dataclass(frozen=True)
class RateLimit:
    """Budget of one ``(tenant, model)`` pair.

    Args:
        requests: Requests allowed per ``window_s`` (``None``: unlimited).
        tokens: Tokens (prompt + completion) allowed per ``window_s`` (``None``: unlimited).
        window_s: Length of the budget window in seconds.
        burst_s: Seconds of budget a bucket may hold, i.e. the largest burst
            (default: one whole window, like providers' per-minute limits).

    Raises:
        HiveConfigError: a non-positive value, or a bucket too small for one request.
    """

    requests: float | None = None
    tokens: float | None = None
    window_s: float = 60.0
    burst_s: float | None = None
    request_spec: BucketSpec | None = field(init=False, repr=False, compare=False)
    token_spec: BucketSpec | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive("requests", self.requests, optional=True)
        _positive("tokens", self.tokens, optional=True)
        _positive("window_s", self.window_s, optional=False)
        _positive("burst_s", self.burst_s, optional=True)
        burst = self.window_s if self.burst_s is None else self.burst_s
        object.__setattr__(self, "request_spec", self._spec(self.requests, burst, "requests"))
        object.__setattr__(self, "token_spec", self._spec(self.tokens, burst, "tokens"))

    def _spec(self, amount: float | None, burst: float, name: str) -> BucketSpec | None:
        if amount is None:
            return None
        rate = amount / self.window_s
        try:
            return BucketSpec(capacity=rate * burst, refill_per_s=rate)
        except HiveConfigError as exc:
            raise HiveConfigError(
                f"rate limit {name}={amount} per {self.window_s}s with a {burst}s burst gives a bucket "
                f"of {rate * burst:.3g} {name}: it cannot hold one; raise {name} or burst_s",
                key=name,
            ) from exc


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one ``acquire`` took; pass it to ``settle`` or ``cancel``.

    Attributes:
        tenant: Tenant charged.
        model: Model charged.
        tokens: Tokens reserved (the estimate).
        wait: Seconds the caller had to wait for its slot.
    """

    tenant: str
    model: str
    tokens: float
    wait: float
    takes: tuple[BucketTake, ...] = field(repr=False)

    @property
    def counts_tokens(self) -> bool:
        """Whether a token bucket was charged (so reported usage should settle it)."""
        return bool(self.takes) and self.takes[-1][0][2] == "tokens"  # the token take is always last


class RateLimiter:
    """Token-bucket limiter keyed by tenant and model, sync and async.

    Args:
        limit: Default budget for every model (``None``: unlimited unless overridden).
        per_model: Budgets for specific model names, replacing the default.
        store: Where bucket levels live (default: in-process).
        clock: Time source and sleeper.
        max_wait_s: Longest ``acquire`` waits for a slot before raising.

    Raises:
        HiveConfigError: a negative ``max_wait_s``.
    """

    def __init__(
        self,
        limit: RateLimit | None = None,
        *,
        per_model: Mapping[str, RateLimit] | None = None,
        store: LimiterStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> None:
        if not math.isfinite(max_wait_s) or max_wait_s < 0:
            raise HiveConfigError(f"max_wait_s must be >= 0 seconds, got {max_wait_s!r}", key="max_wait_s")
        self.limit = limit
        self.per_model = dict(per_model or {})
        self.store: LimiterStore = store if store is not None else InMemoryLimiterStore()
        self.clock = clock
        self.max_wait_s = max_wait_s

    def limit_for(self, model: str) -> RateLimit | None:
        """The budget that applies to ``model``."""
        return self.per_model.get(model, self.limit)

    def _takes(self, tenant: str, model: str, tokens: float) -> tuple[BucketTake, ...]:
        if not tenant:
            raise HiveValidationError("tenant must be a non-empty string", field="tenant")
        if tokens < 0 or not math.isfinite(tokens):
            raise HiveValidationError(f"token estimate must be >= 0, got {tokens!r}", field="tokens")
        limit = self.limit_for(model)
        if limit is None:
            return ()
        takes: list[BucketTake] = []
        if limit.request_spec is not None:
            takes.append(((tenant, model, "requests"), limit.request_spec, 1.0))
        if limit.token_spec is not None:
            if tokens > limit.token_spec.capacity:
                raise HiveValidationError(
                    f"the call needs about {tokens:.0f} tokens but the token budget of model {model!r} "
                    f"holds at most {limit.token_spec.capacity:.0f}; shorten the messages or max_tokens, "
                    "or raise tokens_per_minute",
                    field="tokens",
                    tenant=tenant,
                    model=model,
                )
            takes.append(((tenant, model, "tokens"), limit.token_spec, float(tokens)))
        return tuple(takes)

    def _refused(self, tenant: str, model: str, retry_after: float) -> HiveRateLimited:
        return HiveRateLimited(
            f"rate limit for tenant {tenant!r} and model {model!r}: the next slot is {retry_after:.3f}s "
            f"away, more than the {self.max_wait_s}s this call may wait; retry later or raise the budget",
            retry_after=retry_after,
            tenant=tenant,
            model=model,
            source="local",
        )

    def reserve(
        self, tenant: str, model: str, tokens: float = 0.0, *, max_wait_s: float | None = None
    ) -> Reservation:
        """Take a slot without sleeping; the caller must wait ``reservation.wait`` itself.

        Raises:
            HiveRateLimited: the slot is further away than the allowed wait.
            HiveValidationError: an empty tenant, a negative estimate, or an estimate
                larger than the whole token bucket.
        """
        takes = self._takes(tenant, model, tokens)
        if not takes:
            return Reservation(tenant, model, float(tokens), 0.0, ())
        bound = self.max_wait_s if max_wait_s is None else max_wait_s
        outcome = self.store.reserve(takes, self.clock.now(), bound)
        if not outcome.granted:
            raise self._refused(tenant, model, outcome.wait)
        return Reservation(tenant, model, float(tokens), outcome.wait, takes)

    def acquire(
        self, tenant: str, model: str, tokens: float = 0.0, *, max_wait_s: float | None = None
    ) -> Reservation:
        """Reserve one request and ``tokens`` tokens, sleeping until the slot comes.

        Args:
            tenant: Tenant to charge.
            model: Model to charge.
            tokens: Estimated tokens of the call (prompt + expected completion).
            max_wait_s: Override of the limiter's wait bound for this call.

        Returns:
            The reservation, for :meth:`settle`.

        Raises:
            HiveRateLimited: the slot is further away than the allowed wait (``retry_after``).
            HiveValidationError: bad tenant or token estimate.
        """
        reservation = self.reserve(tenant, model, tokens, max_wait_s=max_wait_s)
        if reservation.wait > 0:
            try:
                self.clock.sleep(reservation.wait)
            except BaseException:
                self.cancel(reservation)
                raise
        return reservation

    async def aacquire(
        self, tenant: str, model: str, tokens: float = 0.0, *, max_wait_s: float | None = None
    ) -> Reservation:
        """Async :meth:`acquire`; a cancelled wait gives the slot back."""
        takes = self._takes(tenant, model, tokens)
        if not takes:
            return Reservation(tenant, model, float(tokens), 0.0, ())
        bound = self.max_wait_s if max_wait_s is None else max_wait_s
        outcome = await self.store.areserve(takes, self.clock.now(), bound)
        if not outcome.granted:
            raise self._refused(tenant, model, outcome.wait)
        reservation = Reservation(tenant, model, float(tokens), outcome.wait, takes)
        if outcome.wait > 0:
            try:
                await self.clock.asleep(outcome.wait)
            except (asyncio.CancelledError, Exception):
                await self.acancel(reservation)
                raise
        return reservation

    def settle(self, reservation: Reservation, actual_tokens: float | None) -> None:
        """Correct the token bucket with the usage the provider reported.

        Refunds the difference when the call used fewer tokens than estimated and
        charges the excess when it used more. ``None`` (no usage reported) keeps the
        estimate, which errs on the safe side.
        """
        for key, spec, cost in reservation.takes:
            if key[2] == "tokens" and actual_tokens is not None and actual_tokens != cost:
                self.store.adjust(key, spec, cost - actual_tokens, self.clock.now())

    async def asettle(self, reservation: Reservation, actual_tokens: float | None) -> None:
        """Async :meth:`settle`."""
        for key, spec, cost in reservation.takes:
            if key[2] == "tokens" and actual_tokens is not None and actual_tokens != cost:
                await self.store.aadjust(key, spec, cost - actual_tokens, self.clock.now())

    def cancel(self, reservation: Reservation) -> None:
        """Give a reservation back entirely: the request was never sent."""
        for key, spec, cost in reservation.takes:
            self.store.adjust(key, spec, cost, self.clock.now())

    async def acancel(self, reservation: Reservation) -> None:
        """Async :meth:`cancel`."""
        for key, spec, cost in reservation.takes:
            await self.store.aadjust(key, spec, cost, self.clock.now())
