"""Classification of real litellm exceptions, Retry-After parsing, translation to Hive errors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from hive_middleware.errors import HiveCircuitOpen, HiveModelError, HiveRateLimited
from hive_middleware.resilience.classify import classify, parse_retry_after, to_hive_error


@pytest.mark.parametrize(
    ("factory", "kind", "retryable", "verdict", "status"),
    [
        ("rate_limit", "rate_limit", True, "failure", 429),
        ("unavailable", "server", True, "failure", 503),
        ("timeout", "timeout", True, "failure", 408),
        ("connection", "connection", True, "failure", 500),
        ("bad_request", "client", False, "success", 400),
        ("auth", "client", False, "success", 401),
        ("content_policy", "content_policy", False, "success", 400),
        ("context_window", "context_window", False, "success", 400),
    ],
)
def test_litellm_exceptions(
    errors: Any, factory: str, kind: str, retryable: bool, verdict: str, status: int
) -> None:
    failure = classify(getattr(errors, factory)())
    assert (failure.kind, failure.retryable, failure.verdict, failure.status_code, failure.provider) == (
        kind,
        retryable,
        verdict,
        status,
        "openai",
    )


def test_exceptions_raised_through_litellm_mock_response(litellm: Any, errors: Any) -> None:
    for exc, kind in [(errors.rate_limit("3"), "rate_limit"), (errors.bad_request(), "client")]:
        with pytest.raises(Exception) as info:
            litellm.completion(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], mock_response=exc
            )
        assert classify(info.value).kind == kind
    assert classify(info.value).retry_after is None


def test_plain_python_errors() -> None:
    assert classify(TimeoutError()).kind == "timeout"
    assert classify(ConnectionResetError()).kind == "connection"
    other = classify(ValueError("bug"))
    assert (other.kind, other.retryable, other.verdict) == ("other", False, "none")
    assert classify(HiveCircuitOpen("x", retry_after=1)).kind == "circuit_open"
    assert classify(HiveRateLimited("x", retry_after=1)).retryable is False
    assert classify(HiveModelError("x", status_code=502)).kind == "server"


class WithHeaders(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("with headers")
        self.headers = headers


def test_retry_after_sources(errors: Any) -> None:
    assert parse_retry_after(errors.rate_limit("7")) == 7.0
    assert parse_retry_after(errors.rate_limit("-3")) == 0.0

    assert parse_retry_after(WithHeaders({"Retry-After-Ms": "250", "retry-after": "9"})) == 0.25
    date = format_datetime(datetime.fromtimestamp(1_000_030, UTC), usegmt=True)
    assert parse_retry_after(WithHeaders({"retry-after": date}), now_wall=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after(WithHeaders({"retry-after": "soon"})) is None
    assert parse_retry_after(errors.unavailable()) is None


def test_translation_keeps_status_provider_and_hints(errors: Any) -> None:
    exc = errors.unavailable()
    err = to_hive_error(exc, "gpt-4o", classify(exc), attempts=3)
    assert isinstance(err, HiveModelError)
    assert (err.status_code, err.provider, err.model, err.attempts) == (503, "openai", "gpt-4o", 3)
    assert "HTTP 503" in err.message and "fallback" in err.message
    limited = to_hive_error(errors.rate_limit("4"), "gpt-4o", classify(errors.rate_limit("4")), attempts=2)
    assert (
        isinstance(limited, HiveRateLimited) and limited.retry_after == 4.0 and limited.source == "provider"
    )
    assert to_hive_error(ValueError(), "m", classify(ValueError()), attempts=1) is None
