"""ESCALATE: litellm summaries with mock_response; failures keep the original."""

from __future__ import annotations

from typing import Any

import pytest

from hive_middleware.compression import Label, compress, expand
from hive_middleware.compression import summarizer as summarizer_module
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.summarizer import summarize
from hive_middleware.config import CompressionConfig

LOG = "\n".join(f"worker {i}: processed batch {i} in {i % 7} ms" for i in range(400))


def test_summary_from_the_model() -> None:
    out = summarize(LOG, "command_output", model="gpt-4o-mini", max_tokens=64, timeout_s=5,
                    completion_kwargs={"mock_response": "400 batches processed by workers 0-399."})
    assert out == "400 batches processed by workers 0-399."


def test_exception_keeps_the_original_and_never_returns_the_error_text() -> None:
    out = summarize(LOG, "command_output", model="gpt-4o-mini", max_tokens=64, timeout_s=5,
                    completion_kwargs={"mock_response": RuntimeError("provider exploded")})
    assert out is None


def test_empty_or_longer_answers_are_refused() -> None:
    assert summarize("short", "other", model="gpt-4o-mini", max_tokens=8, timeout_s=5,
                     completion_kwargs={"mock_response": "this answer is much longer than the input"}) is None
    assert summarize(LOG, "other", model="gpt-4o-mini", max_tokens=8, timeout_s=5,
                     completion_kwargs={"mock_response": "   "}) is None


def _transcript() -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "Agent."}, {"role": "user", "content": "Run the job."}]
    for t in range(5):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{t}", "type": "function", "function": {"name": "bash", "arguments": f'{{"command": "job {t}"}}'}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{t}", "content": f"run {t}\n" + LOG})
    return msgs


@pytest.fixture
def mocked_litellm(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Route the summariser's litellm call through ``mock_response``."""
    reply: dict[str, Any] = {"mock_response": "batches 0-399 processed"}
    real = summarizer_module.summarize

    def fake(text: str, content_type: str, **kwargs: Any) -> str | None:
        return real(text, content_type, completion_kwargs=reply, **kwargs)

    monkeypatch.setattr(summarizer_module, "summarize", fake)
    summarizer_module._cached.cache_clear()
    return reply


def test_compress_escalates_old_logs_when_a_summariser_is_configured(mocked_litellm: dict[str, Any]) -> None:
    store = InMemoryArtifactStore()
    cfg = CompressionConfig(summarizer_model="gpt-4o-mini", escalate_min_chars=1000)
    msgs = _transcript()
    result = compress(msgs, config=cfg, artifacts=store)
    escalated = [lab for lab in result.labels if lab.label is Label.ESCALATE]
    assert escalated
    first = escalated[0]
    assert "batches 0-399 processed" in result.messages[first.index]["content"]
    assert first.handle is not None and expand(first.handle, artifacts=store) == msgs[first.index]["content"]
    assert result.stats["escalate_failures"] == 0


def test_compress_keeps_the_original_when_the_summariser_fails(mocked_litellm: dict[str, Any]) -> None:
    mocked_litellm["mock_response"] = TimeoutError("slow provider")
    cfg = CompressionConfig(summarizer_model="gpt-4o-mini", escalate_min_chars=1000)
    msgs = _transcript()
    result = compress(msgs, config=cfg, artifacts=InMemoryArtifactStore())
    assert not any(lab.label is Label.ESCALATE for lab in result.labels)
    assert result.stats["escalate_failures"] > 0
    for msg in result.messages:
        assert "slow provider" not in str(msg.get("content"))
    failed = next(lab for lab in result.labels if msgs[lab.index]["role"] == "tool")
    assert failed.label in (Label.CORE, Label.COMPACT)
    assert result.messages[failed.index]["content"] == msgs[failed.index]["content"]
