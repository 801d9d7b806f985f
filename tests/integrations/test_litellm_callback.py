"""HiveCallback with litellm ``mock_response``: async SDK hook, sync wrapper, proxy hook, guards."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hive_middleware.integrations import litellm as hive_litellm
from hive_middleware.integrations.litellm import HiveCallback

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveCircuitOpen, HiveRateLimited
from hive_middleware.resilience.guard import Guard
from hive_middleware.tokens import load_litellm

litellm = load_litellm()
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

LONG = "\n".join(f"tests/test_mod.py::test_case_{i} PASSED" for i in range(600))


def _messages() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You fix bugs."},
        {"role": "user", "content": "Make the test suite pass."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "pytest"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": LONG},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "bash", "arguments": '{"command": "pytest -x"}'}}]},
        {"role": "tool", "tool_call_id": "c2", "content": LONG},
        {"role": "user", "content": "What next?"},
    ]


class Capture(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[list[dict[str, Any]]] = []

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.sent.append(kwargs.get("messages") or [])

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.sent.append(kwargs.get("messages") or [])


@pytest.fixture
def callbacks() -> Any:
    """Install callbacks for one test; litellm copies them into internal lists, so reset those too."""

    def install(*items: Any) -> None:
        litellm.logging_callback_manager._reset_all_callbacks()
        litellm.callbacks = list(items)

    yield install
    litellm.logging_callback_manager._reset_all_callbacks()


async def _settle() -> None:
    for _ in range(50):  # litellm runs success/failure handlers as background tasks
        await asyncio.sleep(0.02)


def test_async_call_is_compressed_on_the_wire_and_remembered_causally(
    make_stack: Any, callbacks: Any, fake_openai: Any
) -> None:
    stack = make_stack()
    callbacks(HiveCallback(stack, recall_k=0))
    fake_openai.reply = "Fix parser.py"
    sent_before = len(fake_openai.bodies)

    async def run() -> Any:
        response = await litellm.acompletion(
            model="openai/gpt-4o", api_base=fake_openai.base_url, api_key="test", messages=_messages())
        await _settle()
        return response

    response = asyncio.run(run())
    assert response.choices[0].message.content == "Fix parser.py"
    sent = fake_openai.bodies[sent_before]["messages"]
    assert len(str(sent)) < len(str(_messages())) / 4, "the compressed list reached the wire"
    assert sent[-1]["content"] == "What next?" and len(sent) == len(_messages())
    answers = [r.record for r in stack.memory.search("Fix parser.py", k=5) if "answer" in r.record.tags]
    assert answers
    assert answers[0].namespace[:2] == ("acme", "litellm")  # (tenant, agent, thread): a fresh id per request
    chain = stack.memory.why(answers[0].key, namespace=answers[0].namespace)
    assert [step.record.content for step in chain] == ["What next?"]


def test_model_failures_open_the_circuit_and_then_calls_are_refused(make_stack: Any, callbacks: Any) -> None:
    stack = make_stack(guard=Guard(GuardConfig(failure_threshold=2, cooldown_s=60)))
    capture = Capture()
    callbacks(HiveCallback(stack, recall_k=0), capture)

    async def run() -> None:
        for _ in range(2):
            with pytest.raises(litellm.InternalServerError):
                await litellm.acompletion(
                    model="gpt-4o", messages=_messages(), num_retries=0,
                    mock_response=litellm.InternalServerError("upstream down", "openai", "gpt-4o"),
                )
            await _settle()
        calls_before = len(capture.sent)
        with pytest.raises(HiveCircuitOpen) as info:
            await litellm.acompletion(model="gpt-4o", messages=_messages(), mock_response="never")
        assert info.value.retry_after > 0
        await _settle()
        assert len(capture.sent) == calls_before + 1  # only litellm's failure log; no success

    asyncio.run(run())
    assert stack.guard.breaker("gpt-4o").state == "open"


def test_bad_request_does_not_count_against_the_model(make_stack: Any, callbacks: Any) -> None:
    stack = make_stack(guard=Guard(GuardConfig(failure_threshold=1)))
    callbacks(HiveCallback(stack, recall_k=0))

    async def run() -> None:
        with pytest.raises(litellm.BadRequestError):
            await litellm.acompletion(
                model="gpt-4o", messages=_messages(), num_retries=0,
                mock_response=litellm.BadRequestError("bad field", "gpt-4o", "openai"),
            )
        await _settle()

    asyncio.run(run())
    assert stack.guard.breaker("gpt-4o").state == "closed"


def test_rate_limit_rejects_without_calling_the_model(make_stack: Any, callbacks: Any) -> None:
    stack = make_stack(guard=Guard(GuardConfig(requests_per_minute=1, max_wait_s=0)))
    callbacks(HiveCallback(stack, recall_k=0))

    async def run() -> None:
        await litellm.acompletion(model="gpt-4o", messages=_messages(), mock_response="ok")
        with pytest.raises(HiveRateLimited) as info:
            await litellm.acompletion(model="gpt-4o", messages=_messages(), mock_response="ok")
        assert 0 < info.value.retry_after <= 60

    asyncio.run(run())


class BrokenStack:
    guard = Guard()

    def compress(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("compressor exploded")

    def search(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("index exploded")

    def remember(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("disk full")


def test_internal_errors_fail_open(callbacks: Any) -> None:
    capture = Capture()
    callbacks(HiveCallback(BrokenStack()), capture)

    async def run() -> Any:
        response = await litellm.acompletion(model="gpt-4o", messages=_messages(), mock_response="fine")
        await _settle()
        return response

    assert asyncio.run(run()).choices[0].message.content == "fine"
    assert capture.sent[0] == _messages()


def test_sync_wrapper_compresses_guards_and_remembers(make_stack: Any) -> None:
    stack = make_stack()
    response = hive_litellm.completion(stack=stack, model="gpt-4o", messages=_messages(), mock_response="Use -k")
    assert response.choices[0].message.content == "Use -k"
    assert any(r.record.content == "Use -k" for r in stack.memory.search("Use -k", k=5))
    limited = make_stack(guard=Guard(GuardConfig(requests_per_minute=1, max_wait_s=0)))
    cb = HiveCallback(limited)
    hive_litellm.completion(callback=cb, model="gpt-4o", messages=_messages(), mock_response="a")
    with pytest.raises(HiveRateLimited):
        hive_litellm.completion(callback=cb, model="gpt-4o", messages=_messages(), mock_response="b")


def test_proxy_hook_rejects_with_429_and_503_and_rewrites_otherwise(make_stack: Any) -> None:
    fastapi = pytest.importorskip("fastapi", reason="the LiteLLM proxy extras (fastapi) are not installed")
    HTTPException = fastapi.HTTPException

    stack = make_stack(guard=Guard(GuardConfig(requests_per_minute=1, max_wait_s=0, failure_threshold=1)))
    cb = HiveCallback(stack, recall_k=0)

    async def run() -> None:
        data = {"model": "gpt-4o", "messages": _messages(), "litellm_call_id": "r1"}
        out = await cb.async_pre_call_hook(None, None, data, "completion")
        assert isinstance(out, dict) and len(str(out["messages"])) < len(str(_messages())) / 2
        headers = await cb.async_post_call_response_headers_hook(out, None, None)
        assert headers is not None and float(headers["x-hive-hook-ms"]) > 0
        await cb.async_log_failure_event(
            {"litellm_call_id": "r1", "exception": litellm.InternalServerError("down", "openai", "gpt-4o")},
            None, None, None)
        with pytest.raises(HTTPException) as open_circuit:
            await cb.async_pre_call_hook(None, None, {"model": "gpt-4o", "messages": _messages(),
                                                      "litellm_call_id": "r2"}, "completion")
        assert open_circuit.value.status_code == 503
        assert "circuit" in str(open_circuit.value.detail) and open_circuit.value.headers["retry-after"]
        await cb.async_pre_call_hook(None, None, {"model": "other", "messages": _messages(),
                                                  "litellm_call_id": "r3"}, "completion")
        with pytest.raises(HTTPException) as limited:
            await cb.async_pre_call_hook(None, None, {"model": "other", "messages": _messages(),
                                                      "litellm_call_id": "r4"}, "completion")
        assert limited.value.status_code == 429 and "rate limit" in str(limited.value.detail)
        assert int(limited.value.headers["retry-after"]) >= 1

    asyncio.run(run())


def test_a_named_user_turn_is_remembered_with_its_author(make_stack: Any) -> None:
    from hive_middleware.pipeline import Identity

    cb = HiveCallback(make_stack(), recall_k=0)
    messages = [{"role": "user", "content": "I moved the deploy to Friday.", "name": "Priya"}]
    entry = hive_litellm._Inflight(None, None, None, 0.0, Identity("team-a", "litellm", "x1"), messages)
    response = {"choices": [{"message": {"role": "assistant", "content": "Noted."}}]}
    turn, answer = cb.exchange_items(entry, response)
    assert turn.metadata["author"] == "Priya" and answer.metadata["author"] == "litellm assistant"
    assert answer.cause == turn.key and answer.metadata["context"] == "I moved the deploy to Friday."
    # An unreadable response keeps the turn, is counted, and loses nothing else.
    (only,) = cb.exchange_items(entry, object())
    assert only.key == turn.key and cb.pipeline.stats.get("litellm.unexpected_response") == 1


def test_the_conversation_id_is_the_thread(make_stack: Any) -> None:
    cb = HiveCallback(make_stack(), recall_k=0)
    assert cb.identity("t", {"litellm_session_id": "s-9"}, "call-1").thread == "s-9"
    assert cb.identity("t", {"metadata": {"session_id": "s-8", "hive_agent": "bot"}}, "call-1").namespace == (
        "t", "bot", "s-8")
    assert cb.identity("t", {}, "call-1").thread == "call-1"  # none named: a fresh id per request


def test_sync_completion_with_the_callback_registered_warns_once_naming_the_wrapper(
    make_stack: Any, callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import time

    stack = make_stack()
    cb = HiveCallback(stack, recall_k=0)
    callbacks(cb)
    caplog.set_level(logging.WARNING, logger="hive_middleware.integrations.litellm")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "HiveCallback registered" in r.getMessage()]

    hive_litellm.completion(callback=cb, model="gpt-4o", messages=_messages(), mock_response="wrapped")
    time.sleep(0.3)  # sync success handlers may run on litellm's thread pool
    assert warnings() == []  # the wrapper is the right way: no warning
    for _ in range(2):
        litellm.completion(model="gpt-4o", messages=_messages(), mock_response="plain")
    for _ in range(50):
        if warnings():
            break
        time.sleep(0.05)
    assert len(warnings()) == 1 and "hive_middleware.integrations.litellm.completion" in warnings()[0]


def test_start_builds_the_stack_and_loads_the_embedder_before_any_request(make_stack: Any) -> None:
    warmed: list[bool] = []

    def factory() -> Any:
        stack = make_stack()
        stack.warm_up = lambda: warmed.append(True)
        return stack

    cb = HiveCallback(stack_factory=factory, recall_k=2, recall_prefetch=True)
    cb.start().join(30)
    assert warmed == [True] and cb._pipeline is not None
