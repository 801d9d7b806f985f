"""What a model-call exception means: retryable or not, the model's fault or not.

Pure and import-free: litellm, openai and httpx exceptions are recognised by
class name along the MRO and by ``status_code``, so classifying never imports
litellm. The rules:

==================  ==========  ==================  ==========================
kind                retryable   breaker verdict     recognised by
==================  ==========  ==================  ==========================
content_policy      no          success             ``ContentPolicyViolationError``
context_window      no          success             ``ContextWindowExceededError``
rate_limit          yes         failure             ``RateLimitError``, status 429
timeout             yes         failure             ``Timeout``/``APITimeoutError``/``TimeoutError``, 408
connection          yes         failure             ``APIConnectionError``/``ConnectError``/``ConnectionError``
server              yes         failure             status >= 500
client              no          success             other 4xx (the deployment answered)
circuit_open        no          none                :class:`~hive_middleware.errors.HiveCircuitOpen`
local_rate_limit    no          none                :class:`~hive_middleware.errors.HiveRateLimited`
other               no          none                anything else (a bug, not a model failure)
==================  ==========  ==================  ==========================
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hive_middleware.errors import HiveCircuitOpen, HiveError, HiveModelError, HiveRateLimited

__all__ = ["Failure", "FailureKind", "classify", "parse_retry_after", "to_hive_error"]

FailureKind = Literal[
    "content_policy",
    "context_window",
    "rate_limit",
    "timeout",
    "connection",
    "server",
    "client",
    "circuit_open",
    "local_rate_limit",
    "other",
]
Verdict = Literal["failure", "success", "none"]

_TIMEOUT_NAMES = frozenset({"Timeout", "APITimeoutError", "TimeoutException", "TimeoutError"})
_CONNECTION_NAMES = frozenset(
    {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError", "RemoteProtocolError"}
)


@dataclass(frozen=True, slots=True)
class Failure:
    """The classification of one exception.

    Attributes:
        kind: See the module table.
        retryable: Whether another attempt may succeed.
        verdict: What it says about the model's health, for the circuit breaker.
        status_code: HTTP status when known.
        provider: litellm provider name when known.
        retry_after: Seconds the provider asked us to wait (``Retry-After``), if any.
    """

    kind: FailureKind
    retryable: bool
    verdict: Verdict
    status_code: int | None
    provider: str | None
    retry_after: float | None


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    fields = getattr(exc, "fields", None)
    if isinstance(fields, dict) and isinstance(fields.get("status_code"), int):
        return int(fields["status_code"])
    return None


def classify(exc: BaseException) -> Failure:
    """Classify an exception raised by a model call (see the module table)."""
    provider = getattr(exc, "llm_provider", None) or getattr(exc, "provider", None)
    provider = provider if isinstance(provider, str) else None
    status = _status(exc)
    if isinstance(exc, HiveCircuitOpen):
        return Failure("circuit_open", False, "none", None, provider, exc.retry_after)
    if isinstance(exc, HiveRateLimited):
        return Failure("local_rate_limit", False, "none", status, provider, exc.retry_after)
    names = _names(exc)
    kind: FailureKind
    if "ContentPolicyViolationError" in names:
        kind = "content_policy"
    elif "ContextWindowExceededError" in names:
        kind = "context_window"
    elif "RateLimitError" in names or status == 429:
        kind = "rate_limit"
    elif names & _TIMEOUT_NAMES or status == 408:
        kind = "timeout"
    elif names & _CONNECTION_NAMES:
        kind = "connection"
    elif status is not None and status >= 500:
        kind = "server"
    elif status is not None and 400 <= status < 500:
        kind = "client"
    else:
        return Failure("other", False, "none", status, provider, None)
    retryable = kind in ("rate_limit", "timeout", "connection", "server")
    return Failure(
        kind, retryable, "failure" if retryable else "success", status, provider, parse_retry_after(exc)
    )


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name:
                return str(value)
        return None
    value = getattr(headers, "get", lambda _n: None)(name)
    return None if value is None else str(value)


def parse_retry_after(exc: BaseException, *, now_wall: float | None = None) -> float | None:
    """Seconds the provider asked to wait, from the exception, or ``None``.

    Looks at a ``retry_after`` attribute, then ``retry-after-ms`` and
    ``retry-after`` (seconds or an HTTP date) in ``exc.headers``,
    ``exc.litellm_response_headers`` and ``exc.response.headers``.
    """
    direct = getattr(exc, "retry_after", None)
    if isinstance(direct, int | float) and math.isfinite(direct):
        return max(float(direct), 0.0)
    response = getattr(exc, "response", None)
    # litellm keeps the provider's headers in ``litellm_response_headers``; its
    # RateLimitError deliberately leaves them out of ``headers``/``response``.
    sources = (
        getattr(exc, "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(response, "headers", None),
    )
    for headers in sources:
        ms = _header(headers, "retry-after-ms")
        if ms is not None:
            try:
                return max(float(ms) / 1000.0, 0.0)
            except ValueError:
                pass
        raw = _header(headers, "retry-after")
        if raw is None:
            continue
        try:
            return max(float(raw), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw).timestamp()
            except (TypeError, ValueError, IndexError):
                continue
            return max(when - (time.time() if now_wall is None else now_wall), 0.0)
    return None


_HINTS: dict[str, str] = {
    "rate_limit": "the provider is rate limiting this key; wait retry_after seconds or raise the quota",
    "timeout": "the provider did not answer in time; retry later, raise the timeout, or add fallbacks",
    "connection": "the provider could not be reached; check api_base and the network, or add fallbacks",
    "server": "the provider is failing; retry later or configure fallback models",
    "client": "the provider rejected the request; fix it according to the provider's message",
    "content_policy": "the provider refused the content; change the prompt",
    "context_window": "the messages are too long for the model; compress them or pick a larger model",
}


def to_hive_error(
    exc: BaseException, model: str, failure: Failure, *, attempts: int, retry_after: float | None = None
) -> HiveError | None:
    """Translate a provider exception into the Hive error the caller sees.

    Returns the exception itself if it already is a :class:`HiveError`, ``None``
    for kind ``other`` (a bug, re-raised untouched), a provider-side
    :class:`HiveRateLimited` (``source="provider"``) for 429s, and a
    :class:`HiveModelError` with ``status_code`` and ``provider`` otherwise.
    The caller chains the original as ``__cause__``.
    """
    if isinstance(exc, HiveError):
        return exc
    if failure.kind == "other":
        return None
    where = f"model {model!r}" + (f" ({failure.provider})" if failure.provider else "")
    status = f"HTTP {failure.status_code}" if failure.status_code is not None else failure.kind
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    message = (
        f"{where} failed with {status} ({failure.kind}) after {attempts} attempt(s): {text}; "
        f"{_HINTS[failure.kind]}"
    )
    fields = {"model": model, "kind": failure.kind, "attempts": attempts}
    if failure.kind == "rate_limit":
        wait = failure.retry_after if failure.retry_after is not None else (retry_after or 0.0)
        return HiveRateLimited(
            message,
            retry_after=wait,
            status_code=failure.status_code or 429,
            provider=failure.provider,
            source="provider",
            **fields,
        )
    return HiveModelError(message, status_code=failure.status_code, provider=failure.provider, **fields)
