"""Fixtures for the guard layer: a hand-driven clock and litellm exceptions built as litellm builds them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hive_middleware.testing.manual_clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def litellm() -> Any:
    from hive_middleware.tokens import load_litellm

    module = load_litellm()
    module.suppress_debug_info = True
    return module


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, headers=headers or {}, request=httpx.Request("POST", "https://api.openai.com/v1")
    )


@pytest.fixture(scope="session")
def errors(litellm: Any) -> Any:
    """Factories for litellm 1.106 exceptions, with the constructor arguments each class takes."""

    class Errors:
        @staticmethod
        def rate_limit(retry_after: str | None = None, model: str = "gpt-4o") -> Exception:
            headers = {"retry-after": retry_after} if retry_after is not None else {}
            return litellm.RateLimitError(
                "slow down", llm_provider="openai", model=model, response=response(429, headers)
            )

        @staticmethod
        def unavailable(model: str = "gpt-4o") -> Exception:
            return litellm.ServiceUnavailableError("overloaded", llm_provider="openai", model=model)

        @staticmethod
        def bad_request(model: str = "gpt-4o") -> Exception:
            return litellm.BadRequestError("bad parameter", model=model, llm_provider="openai")

        @staticmethod
        def content_policy(model: str = "gpt-4o") -> Exception:
            return litellm.ContentPolicyViolationError("refused", model=model, llm_provider="openai")

        @staticmethod
        def timeout(model: str = "gpt-4o") -> Exception:
            return litellm.Timeout("timed out", model=model, llm_provider="openai")

        @staticmethod
        def connection(model: str = "gpt-4o") -> Exception:
            return litellm.APIConnectionError("refused", llm_provider="openai", model=model)

        @staticmethod
        def auth(model: str = "gpt-4o") -> Exception:
            return litellm.AuthenticationError("bad key", llm_provider="openai", model=model)

        @staticmethod
        def context_window(model: str = "gpt-4o") -> Exception:
            return litellm.ContextWindowExceededError("too long", model=model, llm_provider="openai")

    return Errors()
