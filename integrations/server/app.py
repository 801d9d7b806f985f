"""The Hive HTTP service: authenticated routes under ``/v1`` over one stack.

Every ``/v1`` request needs ``Authorization: Bearer KEY``; the key's tenant is
the first namespace element of every call, so no request can name another
tenant. Errors are the ``HiveError`` tree mapped to status codes with a body
``{"error", "message", "fields"}``. Route groups live in their own modules
(``routes_*``), each with ``install(app, ctx)``.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import import_module

from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.keys import AuditLog, HiveAuthError, KeyStore

from hive_middleware.errors import (
    HiveCircuitOpen,
    HiveDependencyError,
    HiveError,
    HiveNotFoundError,
    HiveRateLimited,
    HiveStorageError,
    HiveTenantError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.stack import HiveStack

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["ROUTE_MODULES", "create_app", "error_body", "http_error", "invalid_request", "status_for"]

# Route groups, installed in this order.
ROUTE_MODULES: tuple[str, ...] = (
    "observability",
    "routes_memory",
    "routes_pipeline",
    "routes_hivemind",
    "explorer",
)

_STATUS: tuple[tuple[type[HiveError], int], ...] = (
    (HiveAuthError, 401),
    (HiveTenantError, 403),
    (HiveNotFoundError, 404),
    (HiveValidationError, 422),
    (HiveRateLimited, 429),
    (HiveCircuitOpen, 503),
    (HiveStorageError, 503),
    (HiveUsageError, 400),
)


def status_for(error: HiveError) -> int:
    """The HTTP status of a ``HiveError`` (500 for anything unmapped)."""
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return 500


def error_body(exc: HiveError) -> dict[str, object]:
    """The JSON body of an error response: ``{"error", "message", "fields"}``."""
    fields = {
        k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in exc.fields.items()
    }
    return {"error": type(exc).__name__, "message": exc.message, "fields": fields}


def invalid_request(exc: RequestValidationError) -> HiveValidationError:
    """The ``HiveValidationError`` of a request FastAPI could not validate (missing or bad fields)."""
    problems = list(exc.errors())
    where = [".".join(str(part) for part in p.get("loc", ())) for p in problems]
    said = "; ".join(f"{w}: {p.get('msg', 'invalid')}" for w, p in zip(where, problems, strict=True))
    first = problems[0].get("loc", ()) if problems else ()
    # loc starts with where the value came from (body, query, path); the field follows.
    field = ".".join(str(part) for part in first[1:]) or ".".join(str(part) for part in first)
    return HiveValidationError(
        f"invalid request: {said or 'unreadable input'}; fix it as /openapi.json describes",
        field=field,
        location=where[0] if where else "",
    )


def http_error(exc: HTTPException) -> HiveError:
    """The ``HiveError`` of an HTTP error the framework raised (unreadable body, unknown path...)."""
    message = f"{exc.detail}; the routes and their bodies are described in /openapi.json"
    if exc.status_code == 404:
        return HiveNotFoundError(message, status=exc.status_code)
    if exc.status_code < 500:
        return HiveUsageError(message, status=exc.status_code)
    return HiveError(message, status=exc.status_code)


def create_app(stack_factory: Callable[[], HiveStack], *, keys: KeyStore, audit: AuditLog) -> FastAPI:
    """Build the FastAPI app over one stack.

    Args:
        stack_factory: Opens the stack (called once, on first use).
        keys: Where API keys are checked.
        audit: Where every write and forget is recorded.
    """
    ctx = ServerContext(stack_factory=stack_factory, keys=keys, audit=audit)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await ctx.run(ctx.close)

    app = FastAPI(
        title="Hive",
        version="1",
        description="Causal memory, channels, compression and routing of Hive, per tenant.",
        lifespan=lifespan,
    )
    app.state.hive = ctx

    @app.exception_handler(HiveError)
    async def _hive_error(_: Request, exc: HiveError) -> JSONResponse:
        headers = {}
        if isinstance(exc, HiveRateLimited):
            headers["Retry-After"] = str(max(1, int(float(exc.fields.get("retry_after", 1)) + 0.999)))
        return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The same body as every other error, not FastAPI's {"detail": [...]}.
        return JSONResponse(error_body(invalid_request(exc)), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(http_error(exc)), status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        """Liveness probe: the process answers."""
        return {"status": "ok"}

    for name in ROUTE_MODULES:
        import_module(f"hive_middleware.integrations.server.{name}").install(app, ctx)
    return app
