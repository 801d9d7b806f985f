"""What every route module of the Hive HTTP service shares: the stack, keys, audit log and auth.

A route module exposes ``install(app, ctx)`` and adds its routes with
``ctx.reader`` / ``ctx.writer`` / ``ctx.admin`` dependencies; the principal's
tenant is the first namespace element of every call it makes.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from hive_middleware.integrations.server.keys import AuditLog, HiveAuthError, KeyStore, Principal

from hive_middleware.errors import HiveDependencyError, HiveTenantError
from hive_middleware.stack import HiveStack

try:
    import anyio
    from fastapi import Depends, Request
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["ServerContext", "bearer_key", "namespace_for"]

T = TypeVar("T")


def bearer_key(headers: Any) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header (``None`` when absent or malformed)."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def namespace_for(
    principal: Principal, agent: str | None = None, thread: str | None = None
) -> tuple[str, ...]:
    """The namespace a request works in: ``(tenant, agent?, thread?)``; the tenant is always the key's."""
    ns = [principal.tenant]
    if agent or thread:
        ns.append(agent or principal.agent or "_")
    if thread:
        ns.append(thread)
    return tuple(ns)


@dataclass
class ServerContext:
    """The service's shared parts.

    Attributes:
        stack_factory: Opens the stack (once, on first use).
        keys: Where API keys are checked.
        audit: Where every write and forget is recorded.
        extras: Per-module state (metrics registry, tracer, ...), keyed by module.
        heavy_workers: How many CPU-bound calls (searches) run at once. Enough
            that concurrent searches' queries share embedding batches (measured
            with ``hive bench serve`` on 2 cores: 127 req/s at 32, 89 at 8, 73 at
            2), and fewer than the 40 worker threads, so writes and reads always
            find one.
    """

    stack_factory: Callable[[], HiveStack]
    keys: KeyStore
    audit: AuditLog
    extras: dict[str, Any] = field(default_factory=dict)
    _stack: HiveStack | None = field(default=None, init=False, repr=False)
    heavy_workers: int = 32
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _heavy: Any = field(default=None, init=False, repr=False)

    def stack(self) -> HiveStack:
        """The stack (opened on first use)."""
        with self._lock:
            if self._stack is None:
                self._stack = self.stack_factory()
            return self._stack

    @property
    def stack_opened(self) -> bool:
        """Whether the stack has been opened."""
        return self._stack is not None

    def close(self) -> None:
        """Close the stack if it was opened."""
        with self._lock:
            opened, self._stack = self._stack, None
        if opened is not None:
            opened.close()

    async def run(self, fn: Callable[[], T], *, heavy: bool = False) -> T:
        """Run blocking ``fn`` on a worker thread.

        Args:
            fn: The blocking call.
            heavy: CPU-bound work (a search embeds its query and ranks): at most
                ``heavy_workers`` such calls run at once, so a burst of searches
                never takes every worker thread from the short writes and reads
                behind it.
        """
        if not heavy:
            return await anyio.to_thread.run_sync(fn)
        if self._heavy is None:
            self._heavy = anyio.CapacityLimiter(self.heavy_workers)
        return await anyio.to_thread.run_sync(fn, limiter=self._heavy)

    def authenticate(self, headers: Any, scope: str) -> Principal:
        """The principal of a request's bearer key, checked for ``scope``.

        Raises:
            HiveAuthError: no key, or a bad, revoked or expired one (401).
            HiveTenantError: the key lacks ``scope`` (403).
        """
        token = bearer_key(headers)
        if token is None:
            raise HiveAuthError("missing API key: send 'Authorization: Bearer KEY'")
        principal = self.keys.authenticate(token)
        if scope not in principal.scopes:
            raise HiveTenantError(f"this key lacks the {scope!r} scope", scope=scope)
        return principal

    def need(self, scope: str) -> Callable[[Request], Principal]:
        """A FastAPI dependency: the caller's principal, which must hold ``scope``."""

        def check(request: Request) -> Principal:
            principal = self.authenticate(request.headers, scope)
            request.state.principal = principal
            return principal

        return check

    @property
    def reader(self) -> Any:
        """``Annotated[Principal, Depends(...)]`` for read routes."""
        return Annotated[Principal, Depends(self.need("read"))]

    @property
    def writer(self) -> Any:
        """``Annotated[Principal, Depends(...)]`` for write routes."""
        return Annotated[Principal, Depends(self.need("write"))]

    @property
    def admin(self) -> Any:
        """``Annotated[Principal, Depends(...)]`` for admin routes."""
        return Annotated[Principal, Depends(self.need("admin"))]
