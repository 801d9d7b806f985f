"""A drain request waits for the background work of the requests before it, and says whether it finished."""

from __future__ import annotations

import asyncio
from typing import Any

from hive_middleware.integrations.litellm import DRAIN_HEADER, HiveCallback

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Use the retry budget."}}]}


def _request(call_id: str) -> dict[str, Any]:
    return {"model": "hive-mock", "litellm_call_id": call_id, "metadata": {},
            "messages": [{"role": "user", "content": f"How should the billing job retry? ({call_id})"}]}


def test_drain_waits_for_earlier_requests_to_be_committed_searched_and_embedded(make_stack: Any) -> None:
    stack = make_stack()
    cb = HiveCallback(stack, recall_k=3, recall_prefetch=True)

    async def run() -> None:
        first = _request("r1")
        await cb.async_pre_call_hook(None, None, first, "acompletion")
        drain = {"model": "hive-mock", "litellm_call_id": "d1", "metadata": {"hive_drain": True},
                 "messages": [{"role": "user", "content": "drain"}]}
        waiting = asyncio.create_task(cb.async_pre_call_hook(None, None, drain, "acompletion"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # r1's exchange is not remembered yet
        await cb.async_log_success_event({"litellm_call_id": "r1"}, ANSWER, None, None)
        out = await asyncio.wait_for(waiting, 10)
        assert isinstance(out, dict) and out["messages"] == drain["messages"]  # no Hive work of its own
        assert await cb.async_post_call_response_headers_hook(out, None, None) == {DRAIN_HEADER: "ok"}
        # The drain request was not admitted: its own success leaves nothing to remember.
        await cb.async_log_success_event({"litellm_call_id": "d1"}, ANSWER, None, None)

    asyncio.run(run())
    prefetcher = cb.pipeline.prefetcher
    assert prefetcher is not None and prefetcher.wait_idle(0) and prefetcher.searched >= 1
    assert stack.memory.graph.outbox_pending() == 0
    contents = [hit.record.content for hit in stack.memory.search("billing job retry", k=10, namespace=("acme",))]
    assert "Use the retry budget." in contents and all(c != "drain" for c in contents)


def test_drain_reports_a_timeout_while_an_admitted_request_is_unfinished(make_stack: Any) -> None:
    cb = HiveCallback(make_stack(), recall_k=0)

    async def run() -> None:
        await cb.async_pre_call_hook(None, None, _request("r1"), "acompletion")
        assert await cb.adrain(timeout=0.05) is False
        await cb.async_log_success_event({"litellm_call_id": "r1"}, ANSWER, None, None)
        assert await cb.adrain(timeout=5) is True

    asyncio.run(run())
