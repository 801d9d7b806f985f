"""The real LiteLLM proxy on loopback with the Hive plugin, driven by the official ``openai`` client."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from hive_middleware.integrations.litellm import HOOK_MS_HEADER

LONG = "\n".join(f"src/app/module_{i}.py:{i}: def handler_{i}(request):" for i in range(400))


def _client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.base_url, api_key=proxy.key, max_retries=0, timeout=30)


def test_requests_pass_through_the_plugin_and_report_hook_time(litellm_proxy: Any) -> None:
    client = _client(litellm_proxy)
    messages: list[Any] = [
        {"role": "system", "content": "You fix bugs."},
        {"role": "user", "content": "Find the handler."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "grep -rn def src"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": LONG},
        {"role": "user", "content": "Which file?"},
    ]
    for _ in range(5):
        raw = client.chat.completions.with_raw_response.create(model="hive-mock", messages=messages)
        completion = raw.parse()
        assert completion.choices[0].message.content.startswith("Hive mock answer")
        assert float(raw.headers[HOOK_MS_HEADER]) > 0


def test_rate_limit_is_a_429_with_retry_after(litellm_proxy: Any) -> None:
    client = _client(litellm_proxy)
    msg = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="hive-mock-limited", messages=msg)  # type: ignore[arg-type]
    client.chat.completions.create(model="hive-mock-limited", messages=msg)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="hive-mock-limited", messages=msg)  # type: ignore[arg-type]
    assert info.value.status_code == 429
    assert "hive: rate limit" in str(info.value)
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_failing_model_opens_the_circuit_and_the_proxy_answers_503(litellm_proxy: Any) -> None:
    client = _client(litellm_proxy)
    msg = [{"role": "user", "content": "hi"}]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="hive-mock-down", messages=msg)  # type: ignore[arg-type]
        assert failed.value.status_code == 500
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="hive-mock-down", messages=msg)  # type: ignore[arg-type]
    assert refused.value.status_code == 503
    assert "circuit" in str(refused.value) and refused.value.response.headers["retry-after"]
