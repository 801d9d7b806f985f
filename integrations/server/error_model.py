"""The error body of the Hive HTTP service, as OpenAPI documents it.

Every failure answers ``{"error", "message", "fields"}`` (see
:func:`~hive_middleware.integrations.server.app.error_body`); routes list the
statuses they may answer with :func:`error_responses`.
"""

from typing import Any

from hive_middleware.errors import HiveDependencyError

try:
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["ErrorOut", "error_responses"]

_MEANING = {
    400: "The request is wrong in a way retrying will not fix.",
    401: "No API key, or a bad, revoked or expired one.",
    403: "The key lacks the scope this route needs.",
    404: "Nothing of the caller's tenant goes by that key, id or handle.",
    422: "A field of the request is missing or invalid.",
    503: "A storage back-end failed; retry later.",
}


class ErrorOut(BaseModel):
    """What went wrong and how to fix it."""

    error: str = Field(description="Name of the error class (HiveNotFoundError, HiveValidationError...).")
    message: str = Field(description="What was wrong and how to fix it.")
    fields: dict[str, Any] = Field(description="Structured context: field, key, namespace...")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` argument of a route that may answer these error statuses."""
    return {code: {"model": ErrorOut, "description": _MEANING.get(code, "Error.")} for code in codes}
