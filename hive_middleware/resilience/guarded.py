"""Module-level entry points: ``guarded_completion``, ``aguarded_completion``, ``@guarded``.

They use a process-wide default :class:`~hive_middleware.resilience.guard.Guard`
built on first use from ``HiveConfig.load()`` (environment and ``hive.toml``);
:func:`set_default_guard` replaces it, and every entry point takes ``guard=`` to
use another one.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast, overload

from hive_middleware.errors import HiveConfigError
from hive_middleware.resilience.cost import estimate_call_tokens
from hive_middleware.resilience.guard import Guard

__all__ = ["aguarded_completion", "default_guard", "guarded", "guarded_completion", "set_default_guard"]

F = TypeVar("F", bound=Callable[..., Any])

_default: Guard | None = None
_default_lock = threading.Lock()


def default_guard() -> Guard:
    """The process-wide guard, built from ``HiveConfig.load()`` on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Guard.from_config()
    return _default


def set_default_guard(guard: Guard | None) -> None:
    """Replace the process-wide guard (``None``: rebuild from config on next use)."""
    global _default
    with _default_lock:
        _default = guard


def guarded_completion(
    *,
    guard: Guard | None = None,
    tenant: str | None = None,
    fallbacks: Sequence[str] | None = None,
    **kwargs: Any,
) -> Any:
    """``litellm.completion(**kwargs)`` behind limiter → breaker → retry → fallbacks.

    Args:
        guard: Guard to use (default: :func:`default_guard`).
        tenant: Tenant to charge.
        fallbacks: Ordered fallback models for this call (default: configured ones).
        **kwargs: litellm ``completion`` arguments (``model`` and ``messages`` at least).

    Returns:
        litellm's ``ModelResponse``.

    Raises:
        HiveRateLimited: a local budget or the provider refused the call (``retry_after``).
        HiveCircuitOpen: the model's circuit is open and no fallback answered.
        HiveModelError: the provider failed (``status_code``, ``provider``).
    """
    return (guard or default_guard()).completion(tenant=tenant, fallbacks=fallbacks, **kwargs)


async def aguarded_completion(
    *,
    guard: Guard | None = None,
    tenant: str | None = None,
    fallbacks: Sequence[str] | None = None,
    **kwargs: Any,
) -> Any:
    """``await litellm.acompletion(**kwargs)`` guarded; see :func:`guarded_completion`."""
    return await (guard or default_guard()).acompletion(tenant=tenant, fallbacks=fallbacks, **kwargs)


def _accepts_model_kwarg(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == "model" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or p.kind is p.VAR_KEYWORD
        for p in params
    )


def _wrap(
    fn: F, *, model: str | None, tenant: str | None, guard: Guard | None, fallbacks: Sequence[str] | None
) -> F:
    if fallbacks and not _accepts_model_kwarg(fn):
        raise HiveConfigError(
            f"@guarded(fallbacks=...) needs {fn.__qualname__} to take a 'model' keyword argument, "
            "through which the fallback model is passed",
            key="fallbacks",
        )
    fixed_model = model
    name = f"{fn.__module__}.{fn.__qualname__}"

    def plan(kwargs: Mapping[str, Any]) -> tuple[str, Callable[[str], float]]:
        called = kwargs.get("model")
        primary = called if isinstance(called, str) and called else (fixed_model or name)
        if isinstance(kwargs.get("messages"), list):
            return primary, lambda m: estimate_call_tokens(kwargs, m)
        return primary, lambda m: 0.0

    def with_model(kwargs: dict[str, Any], chosen: str, primary: str) -> dict[str, Any]:
        # Only a fallback replaces the caller's arguments; the primary call is untouched.
        return kwargs if chosen == primary else {**kwargs, "model": chosen}

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            primary, tokens = plan(kwargs)

            def invoke(chosen: str) -> Awaitable[Any]:
                return cast(Awaitable[Any], fn(*args, **with_model(kwargs, chosen, primary)))

            return await (guard or default_guard()).aexecute(
                invoke, model=primary, tenant=tenant, fallbacks=fallbacks or (), tokens=tokens
            )

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        primary, tokens = plan(kwargs)

        def invoke(chosen: str) -> Any:
            return fn(*args, **with_model(kwargs, chosen, primary))

        return (guard or default_guard()).execute(
            invoke, model=primary, tenant=tenant, fallbacks=fallbacks or (), tokens=tokens
        )

    return cast(F, sync_wrapper)


@overload
def guarded(fn: F, /) -> F: ...


@overload
def guarded(
    *,
    model: str | None = None,
    tenant: str | None = None,
    guard: Guard | None = None,
    fallbacks: Sequence[str] | None = None,
) -> Callable[[F], F]: ...


def guarded(
    fn: F | None = None,
    /,
    *,
    model: str | None = None,
    tenant: str | None = None,
    guard: Guard | None = None,
    fallbacks: Sequence[str] | None = None,
) -> F | Callable[[F], F]:
    """Guard any function that calls a model; ``@guarded`` and ``@guarded(...)`` both work.

    Sync or async is detected from the function. The breaker and the limiter are
    keyed by the ``model=`` keyword of each call, else by ``model`` given here,
    else by the function's qualified name. A ``messages=`` keyword is counted
    for the token budget. Fallback models are passed through the ``model``
    keyword, so the function must accept one.

    Args:
        fn: The function (when used bare, ``@guarded``).
        model: Model (or breaker name) when calls pass no ``model=``.
        tenant: Tenant to charge (default: the guard's).
        guard: Guard to use (default: :func:`default_guard`, resolved per call).
        fallbacks: Ordered fallback models (default: none; the configured
            fallbacks apply only to ``guarded_completion``).

    Returns:
        The wrapped function, or a decorator.

    Raises:
        HiveConfigError: ``fallbacks`` given for a function without a ``model`` keyword.
    """
    if fn is not None:
        return _wrap(fn, model=model, tenant=tenant, guard=guard, fallbacks=fallbacks)

    def decorate(f: F) -> F:
        return _wrap(f, model=model, tenant=tenant, guard=guard, fallbacks=fallbacks)

    return decorate
