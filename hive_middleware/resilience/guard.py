"""Guard: one model call behind limiter → breaker → retry → ordered fallbacks.

For each model in ``[model, *fallbacks]`` the guard runs a tenacity retry loop;
every attempt (each one is a request to the provider) first takes a slot from
the :class:`~hive_middleware.resilience.limiter.RateLimiter` for (tenant, model),
then asks that model's :class:`~hive_middleware.resilience.breaker.CircuitBreaker`
for a permit, calls the model, reports the outcome to the breaker and corrects
the token bucket with the reported usage.

When a model is out of service (its circuit is open, the local budget has no
slot in time, or retryable failures exhausted the attempts) the next fallback is
tried. Errors that another model would repeat (other 4xx, content policy,
context window) and errors that are not model failures at all are raised at
once. The error raised is always typed: :class:`HiveRateLimited`,
:class:`HiveCircuitOpen` or :class:`HiveModelError` (``status_code``,
``provider``), with the provider's exception as ``__cause__``; when fallbacks
were tried, it is the last model's error, with the earlier ones in its
``failures`` field and a note. Nothing is swallowed. A provider 429 that
outlives the retries is a :class:`HiveRateLimited` too (``source="provider"``,
``status_code=429``), like a local refusal (``source="local"``): the remedy is
the same, wait ``retry_after``.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from hive_middleware.config import GuardConfig, HiveConfig
from hive_middleware.errors import HiveCircuitOpen, HiveError, HiveRateLimited
from hive_middleware.resilience.breaker import BreakerListener, CircuitBreaker
from hive_middleware.resilience.breaker_state import Verdict
from hive_middleware.resilience.breaker_store import BreakerStore, InMemoryBreakerStore
from hive_middleware.resilience.classify import classify, to_hive_error
from hive_middleware.resilience.clock import SYSTEM_CLOCK, Clock
from hive_middleware.resilience.cost import estimate_call_tokens, reported_tokens
from hive_middleware.resilience.limiter import RateLimit, RateLimiter, Reservation
from hive_middleware.resilience.limiter_store import LimiterStore
from hive_middleware.resilience.models import check_fallbacks
from hive_middleware.resilience.retry import AttemptListener, RetryPolicy, RetryRun, aretrying, retrying

if TYPE_CHECKING:
    from hive_middleware.resilience.shared import SharedGuardStores

__all__ = ["DEFAULT_TENANT", "Guard"]

T = TypeVar("T")
DEFAULT_TENANT = "default"


def _limiter_from(config: GuardConfig, clock: Clock, store: LimiterStore | None) -> RateLimiter:
    def limit(rpm: float | None, tpm: float | None) -> RateLimit | None:
        if rpm is None and tpm is None:
            return None
        return RateLimit(requests=rpm, tokens=tpm, window_s=60.0, burst_s=config.burst_s)

    default = limit(config.requests_per_minute, config.tokens_per_minute)
    per_model: dict[str, RateLimit] = {}
    for model, override in config.model_limits.items():
        model_limit = limit(override.requests_per_minute, override.tokens_per_minute)
        if model_limit is not None:
            per_model[model] = model_limit
    return RateLimiter(default, per_model=per_model, store=store, clock=clock, max_wait_s=config.max_wait_s)


def _retry_from(config: GuardConfig) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=config.max_attempts,
        deadline_s=config.deadline_s,
        initial_backoff_s=config.initial_backoff_s,
        max_backoff_s=config.max_backoff_s,
        multiplier=config.backoff_multiplier,
        jitter=config.jitter,
    )


def _falls_back(err: BaseException) -> bool:
    # Out of service for now: another model may answer. Anything else would fail
    # the same way on a fallback (bad request, content policy) or is a bug.
    return isinstance(err, HiveCircuitOpen | HiveRateLimited) or (
        isinstance(err, HiveError) and classify(err).retryable
    )


def _annotate(err: BaseException, failures: list[tuple[str, BaseException]]) -> None:
    if not failures or not isinstance(err, HiveError):
        return
    err.fields["failures"] = list(failures)
    err.failures = list(failures)  # type: ignore[attr-defined]
    tried = ", ".join(f"{model} ({type(e).__name__})" for model, e in failures)
    err.add_note(f"models tried before this one: {tried}")


class Guard:
    """Limiter, breakers and retry policy for model calls, built from :class:`GuardConfig`.

    Args:
        config: Settings (default: ``GuardConfig()``: no rate limits, breakers and retries on).
        tenant: Tenant charged when a call names none.
        limiter: Use this limiter instead of one built from ``config``.
        retry: Use this retry policy instead of one built from ``config``.
        store: Limiter store for the limiter built from ``config`` (default: in-process).
        breaker_store: Where every breaker's state lives (default: in-process). A
            shared store (Redis) makes the breakers of all processes one.
        clock: Time and sleep for limiter, breakers and retries.
        rng: Random source of the backoff jitter.
        completion_fn: Sync model function (default ``litellm.completion``).
        acompletion_fn: Async model function (default ``litellm.acompletion``).
        on_attempt: Listeners of every attempt (:class:`~hive_middleware.resilience.retry.AttemptEvent`).
        on_breaker: Listeners of every breaker state change.

    Raises:
        HiveConfigError: a bad value, or an unknown fallback model (see
            :mod:`hive_middleware.resilience.models`).
    """

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        tenant: str = DEFAULT_TENANT,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        store: LimiterStore | None = None,
        breaker_store: BreakerStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        completion_fn: Callable[..., Any] | None = None,
        acompletion_fn: Callable[..., Awaitable[Any]] | None = None,
        on_attempt: Iterable[AttemptListener] = (),
        on_breaker: Iterable[BreakerListener] = (),
    ) -> None:
        self.config = config if config is not None else GuardConfig()
        self.tenant = tenant
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.limiter = limiter if limiter is not None else _limiter_from(self.config, clock, store)
        self.retry = retry if retry is not None else _retry_from(self.config)
        self.fallbacks = check_fallbacks(self.config.fallbacks, self.config.allowed_models)
        self._completion_fn = completion_fn
        self._acompletion_fn = acompletion_fn
        self._attempt_listeners = tuple(on_attempt)
        self._breaker_listeners = tuple(on_breaker)
        self.breaker_store: BreakerStore = breaker_store if breaker_store is not None else InMemoryBreakerStore()
        self._breakers: dict[str, CircuitBreaker] = {}
        #: The Redis stores ``from_config`` opened for ``shared.redis`` (``None``: in-process).
        self.shared: SharedGuardStores | None = None
        self._breakers_lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: HiveConfig | GuardConfig | None = None,
        *,
        on_shared_change: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> Guard:
        """Build from a whole :class:`HiveConfig` (its ``guard`` section and tenant) or a section.

        ``None`` loads ``HiveConfig.load()`` (environment and ``hive.toml``). When
        the config sets ``shared.redis``, rate limits and breakers live in Redis,
        shared by every process using it (unless ``store``, ``limiter`` or
        ``breaker_store`` is passed); while Redis is unreachable they fall back
        to in-process state and go back to Redis when it returns (see
        :mod:`hive_middleware.resilience.failover`).

        Args:
            config: The settings.
            on_shared_change: Told ``"unavailable"`` / ``"restored"`` when a Redis
                outage starts / ends (e.g. to count it).
            **kwargs: Passed to the constructor.

        Raises:
            HiveConfigError: a bad value, or a ``shared.redis`` that is not a Redis URL.
            HiveDependencyError: ``shared.redis`` is set without the ``[redis]`` extra.
        """
        if config is None:
            config = HiveConfig.load()
        shared = None
        if isinstance(config, HiveConfig):
            kwargs.setdefault("tenant", config.tenant)
            if config.shared.redis is not None and not {"store", "limiter", "breaker_store"} & kwargs.keys():
                from hive_middleware.resilience.shared import open_shared_guard_stores

                shared = open_shared_guard_stores(config.shared, on_change=on_shared_change)
                if shared is not None:
                    kwargs["store"] = shared.limiter
                    kwargs["breaker_store"] = shared.breakers
            config = config.guard
        guard = cls(config, **kwargs)
        guard.shared = shared
        return guard

    def close(self) -> None:
        """Close the shared-store connections this guard opened (``from_config`` with ``shared.redis``)."""
        if self.shared is not None:
            self.shared.close()

    # -- breakers ----------------------------------------------------------

    def breaker(self, name: str) -> CircuitBreaker:
        """The breaker for a model or deployment, created on first use."""
        found = self._breakers.get(name)
        if found is not None:
            return found
        with self._breakers_lock:
            found = self._breakers.get(name)
            if found is None:
                cfg = self.config
                found = self._breakers[name] = CircuitBreaker(
                    name,
                    failure_threshold=cfg.failure_threshold,
                    failure_rate_threshold=cfg.failure_rate_threshold,
                    window_s=cfg.failure_window_s,
                    min_calls=cfg.min_calls,
                    cooldown_s=cfg.cooldown_s,
                    probe_timeout_s=cfg.probe_timeout_s,
                    clock=self.clock,
                    listeners=self._breaker_listeners,
                    store=self.breaker_store,
                )
            return found

    @property
    def breakers(self) -> Mapping[str, CircuitBreaker]:
        """Breakers created so far, by name."""
        with self._breakers_lock:
            return dict(self._breakers)

    # -- shared pieces -----------------------------------------------------

    def _chain(self, model: str, fallbacks: Sequence[str] | None) -> tuple[str, ...]:
        extra = (
            self.fallbacks if fallbacks is None else check_fallbacks(fallbacks, self.config.allowed_models)
        )
        if not extra:
            return (model,)
        return (model, *(m for m in extra if m != model))

    def _tokens(self, model: str, tokens: float | Callable[[str], float]) -> float:
        limit = self.limiter.limit_for(model)
        if limit is None or limit.token_spec is None:
            return 0.0  # no token budget: skip counting entirely
        return float(tokens(model)) if callable(tokens) else float(tokens)

    def _run(self, model: str, start: float) -> RetryRun:
        return RetryRun(
            self.retry, model, clock=self.clock, rng=self.rng, listeners=self._attempt_listeners, start=start
        )

    @staticmethod
    def _verdict(exc: BaseException) -> Verdict:
        return classify(exc).verdict if isinstance(exc, Exception) else "none"

    @staticmethod
    def _translated(exc: BaseException, model: str, run: RetryRun) -> BaseException:
        # Classify the exception in hand: it may not be the last one the run judged
        # (e.g. an interrupt during a backoff sleep must not pass for the 503 before it).
        failure = classify(exc)
        delay = run.decision.delay if run.decision is not None else None
        err = to_hive_error(exc, model, failure, attempts=max(run.attempts, 1), retry_after=delay)
        return exc if err is None else err

    # -- sync driver -------------------------------------------------------

    def _attempt_sync(
        self, invoke: Callable[[str], T], model: str, key: str, tenant: str, tokens: float
    ) -> T:
        reservation = self.limiter.acquire(tenant, model, tokens)
        breaker = self.breaker(key)
        try:
            permit = breaker.before_call()
        except HiveCircuitOpen:
            self.limiter.cancel(reservation)
            raise
        try:
            result = invoke(model)
        except BaseException as exc:
            breaker.record(permit, self._verdict(exc))
            raise
        breaker.record_success(permit)
        self._settle(reservation, result)
        return result

    def _settle(self, reservation: Reservation, result: Any) -> None:
        if reservation.counts_tokens:
            self.limiter.settle(reservation, reported_tokens(result))

    def _one_model_sync(
        self, start: float, invoke: Callable[[str], T], model: str, key: str, tenant: str, tokens: float
    ) -> T:
        run = self._run(model, start)
        try:
            # First attempt straight away; tenacity drives the retries only when
            # there is something to retry, so a healthy call skips the loop's cost.
            try:
                result = self._attempt_sync(invoke, model, key, tenant, tokens)
            except Exception as exc:
                if not run.failed(1, exc):
                    raise
            else:
                run.succeeded(1)
                return result
            self.clock.sleep(run.decision.delay if run.decision is not None else 0.0)
            run.offset = 1
            for attempt in retrying(run):
                with attempt:
                    result = self._attempt_sync(invoke, model, key, tenant, tokens)
        except BaseException as exc:
            err = self._translated(exc, model, run)
            if err is exc:
                raise
            raise err from exc
        # tenacity leaves the loop only after a successful attempt (failures raise above).
        return result

    def execute(
        self,
        invoke: Callable[[str], T],
        *,
        model: str,
        tenant: str | None = None,
        fallbacks: Sequence[str] | None = None,
        tokens: float | Callable[[str], float] = 0.0,
        deployment: Callable[[str], str] | None = None,
    ) -> T:
        """Run ``invoke(model_name)`` guarded, falling back through the models in order.

        Args:
            invoke: Makes one request to the named model.
            model: Primary model.
            tenant: Tenant to charge (default: the guard's).
            fallbacks: Fallback models for this call (default: the configured ones).
            tokens: Token estimate, or a function of the model name giving it.
            deployment: Maps a model to its breaker name (default: the model name).

        Returns:
            What ``invoke`` returned for the first model that answered.

        Raises:
            HiveRateLimited: a local or provider rate limit refused the call.
            HiveCircuitOpen: the breaker refused the call.
            HiveModelError: the provider failed (``status_code``, ``provider``).
            HiveConfigError: an unknown fallback model.
            Exception: anything ``invoke`` raised that is not a model failure, untouched.
        """
        who = tenant or self.tenant
        chain = self._chain(model, fallbacks)
        start = self.clock.now()  # one deadline for the whole call, fallbacks included
        failures: list[tuple[str, BaseException]] = []
        for position, name in enumerate(chain):
            key = deployment(name) if deployment is not None else name
            try:
                return self._one_model_sync(start, invoke, name, key, who, self._tokens(name, tokens))
            except BaseException as err:
                if position == len(chain) - 1 or not _falls_back(err):
                    _annotate(err, failures)
                    raise
                failures.append((name, err))
        raise AssertionError("unreachable: the model chain is never empty")  # pragma: no cover

    # -- async driver ------------------------------------------------------

    async def _attempt_async(
        self, invoke: Callable[[str], Awaitable[T]], model: str, key: str, tenant: str, tokens: float
    ) -> T:
        reservation = await self.limiter.aacquire(tenant, model, tokens)
        breaker = self.breaker(key)
        try:
            permit = await breaker.abefore_call()
        except HiveCircuitOpen:
            await self.limiter.acancel(reservation)
            raise
        try:
            result = await invoke(model)
        except BaseException as exc:
            # Shielded: a cancelled call still frees its probe slot in a shared store.
            await asyncio.shield(breaker.arecord(permit, self._verdict(exc)))
            raise
        await breaker.arecord(permit, "success")
        if reservation.counts_tokens:
            await self.limiter.asettle(reservation, reported_tokens(result))
        return result

    async def _one_model_async(
        self,
        start: float,
        invoke: Callable[[str], Awaitable[T]],
        model: str,
        key: str,
        tenant: str,
        tokens: float,
    ) -> T:
        run = self._run(model, start)
        try:
            try:
                result = await self._attempt_async(invoke, model, key, tenant, tokens)
            except Exception as exc:
                if not run.failed(1, exc):
                    raise
            else:
                run.succeeded(1)
                return result
            await self.clock.asleep(run.decision.delay if run.decision is not None else 0.0)
            run.offset = 1
            async for attempt in aretrying(run):
                with attempt:
                    result = await self._attempt_async(invoke, model, key, tenant, tokens)
        except BaseException as exc:
            err = self._translated(exc, model, run)
            if err is exc:
                raise
            raise err from exc
        return result

    async def aexecute(
        self,
        invoke: Callable[[str], Awaitable[T]],
        *,
        model: str,
        tenant: str | None = None,
        fallbacks: Sequence[str] | None = None,
        tokens: float | Callable[[str], float] = 0.0,
        deployment: Callable[[str], str] | None = None,
    ) -> T:
        """Async :meth:`execute`: ``invoke(model_name)`` returns an awaitable."""
        who = tenant or self.tenant
        chain = self._chain(model, fallbacks)
        start = self.clock.now()  # one deadline for the whole call, fallbacks included
        failures: list[tuple[str, BaseException]] = []
        for position, name in enumerate(chain):
            key = deployment(name) if deployment is not None else name
            try:
                return await self._one_model_async(start, invoke, name, key, who, self._tokens(name, tokens))
            except BaseException as err:
                if position == len(chain) - 1 or not _falls_back(err):
                    _annotate(err, failures)
                    raise
                failures.append((name, err))
        raise AssertionError("unreachable: the model chain is never empty")  # pragma: no cover

    # -- litellm completion ------------------------------------------------

    def _completion_kwargs(self, kwargs: dict[str, Any]) -> tuple[str, Callable[[str], str]]:
        model = kwargs.get("model")
        if not isinstance(model, str) or not model:
            from hive_middleware.errors import HiveValidationError

            raise HiveValidationError(
                "guarded completion needs model='...' (a litellm model name)", field="model"
            )
        # The guard owns retries: the provider SDK's own (openai's default is 2) would hide
        # attempts and Retry-After from it. litellm's wrapper retries only when
        # ``litellm.num_retries`` is set globally (``num_retries=0`` cannot override that,
        # litellm reads ``0 or litellm.num_retries``), so leave that global unset.
        kwargs.setdefault("max_retries", 0)
        base = kwargs.get("api_base") or kwargs.get("base_url")
        return model, (lambda name: f"{name}@{base}") if base else (lambda name: name)

    def completion(
        self, *, tenant: str | None = None, fallbacks: Sequence[str] | None = None, **kwargs: Any
    ) -> Any:
        """``litellm.completion(**kwargs)``, guarded (see :meth:`execute`).

        Args:
            tenant: Tenant to charge (default: the guard's).
            fallbacks: Fallback models for this call (default: the configured ones).
            **kwargs: litellm ``completion`` arguments; ``model`` is required. The
                The provider SDK's retries (``max_retries``) default to 0; keep
                ``litellm.num_retries`` unset, or litellm retries underneath.

        Returns:
            litellm's response for the first model that answered. With
            ``stream=True`` that is the stream: opening it is guarded, errors
            while reading it are the caller's, and the token estimate stands
            (a stream reports no usage up front).
        """
        model, deployment = self._completion_kwargs(kwargs)
        fn = self._completion_fn
        if fn is None:
            from hive_middleware.tokens import load_litellm

            fn = self._completion_fn = load_litellm().completion

        def invoke(name: str) -> Any:
            return fn(**{**kwargs, "model": name})

        return self.execute(
            invoke,
            model=model,
            tenant=tenant,
            fallbacks=fallbacks,
            tokens=lambda name: estimate_call_tokens(kwargs, name),
            deployment=deployment,
        )

    async def acompletion(
        self, *, tenant: str | None = None, fallbacks: Sequence[str] | None = None, **kwargs: Any
    ) -> Any:
        """``await litellm.acompletion(**kwargs)``, guarded (see :meth:`completion`)."""
        model, deployment = self._completion_kwargs(kwargs)
        fn = self._acompletion_fn
        if fn is None:
            from hive_middleware.tokens import load_litellm

            fn = self._acompletion_fn = load_litellm().acompletion

        def invoke(name: str) -> Awaitable[Any]:
            return fn(**{**kwargs, "model": name})

        return await self.aexecute(
            invoke,
            model=model,
            tenant=tenant,
            fallbacks=fallbacks,
            tokens=lambda name: estimate_call_tokens(kwargs, name),
            deployment=deployment,
        )
