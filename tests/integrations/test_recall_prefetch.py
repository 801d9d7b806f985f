"""Recall off the request path: the prefetcher, the pipeline's prefetch mode, and the proxy hook's header."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hive_middleware.integrations.litellm import RECALL_HEADER, HiveCallback

from hive_middleware.pipeline import CallOptions, Identity, RecallPrefetcher


class SlowSearch:
    """A search that blocks until released, recording every query it ran."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, query: str) -> list[Any]:
        self.gate.wait(10)
        self.queries.append(query)
        return [f"hit for {query}"]


def test_first_lookup_is_empty_then_the_background_result_is_served_fresh() -> None:
    search = SlowSearch()
    pre = RecallPrefetcher(search)
    try:
        assert pre.lookup("c1", "q1") == (None, False)
        assert pre.wait_idle(5)
        assert pre.lookup("c1", "q1") == (["hit for q1"], True)
        # An answered query is not searched again.
        assert pre.wait_idle(5) and search.queries == ["q1"]
        # A new turn gets the earlier turn's hits at once and queues its own search.
        assert pre.lookup("c1", "q2") == (["hit for q1"], False)
        assert pre.wait_idle(5)
        assert pre.lookup("c1", "q2") == (["hit for q2"], True)
        assert pre.lookup("other", "q2") == (None, False)  # conversations do not share hits
    finally:
        pre.close()


def test_pending_queries_coalesce_per_conversation() -> None:
    search = SlowSearch()
    search.gate.clear()
    pre = RecallPrefetcher(search)
    try:
        pre.lookup("busy", "first")
        # Wait until the worker holds "first", then queue three newer turns of the conversation.
        for _ in range(200):
            if pre._running is not None:
                break
            threading.Event().wait(0.01)
        for q in ("second", "third", "fourth"):
            pre.lookup("busy", q)
        search.gate.set()
        assert pre.wait_idle(5)
        assert search.queries == ["first", "fourth"]
        assert pre.lookup("busy", "fourth") == (["hit for fourth"], True)
    finally:
        pre.close()


def test_pending_conversations_are_bounded() -> None:
    search = SlowSearch()
    search.gate.clear()
    pre = RecallPrefetcher(search, max_pending=2)
    try:
        for i in range(6):
            pre.lookup(f"c{i}", "q")
        assert pre.dropped >= 3
        search.gate.set()
        assert pre.wait_idle(5)
        assert len(search.queries) <= 3
        assert pre.lookup("c5", "q")[1] is True  # the newest conversation was kept
    finally:
        pre.close()


def test_a_failing_search_keeps_the_older_hits_and_the_worker_alive() -> None:
    calls: list[str] = []

    def search(query: str) -> list[Any]:
        calls.append(query)
        if query == "bad":
            raise RuntimeError("index offline")
        return [query]

    pre = RecallPrefetcher(search)
    try:
        pre.lookup("c", "good")
        assert pre.wait_idle(5)
        assert pre.lookup("c", "bad") == (["good"], False)
        assert pre.wait_idle(5) and pre.failed == 1
        assert pre.lookup("c", "later") == (["good"], False)
        assert pre.wait_idle(5)
        assert pre.lookup("c", "later") == (["later"], True)
    finally:
        pre.close()


def _conversation(turn: int) -> list[Any]:
    messages: list[Any] = [
        {"role": "system", "content": "You fix bugs."},
        {"role": "user", "content": "The invoice export drops the VAT line; fix it."},
    ]
    for t in range(turn):
        messages.append({"role": "assistant", "content": f"step {t}: checking the export code"})
        messages.append({"role": "user", "content": f"continue with step {t + 1}"})
    return messages


def test_pipeline_prefetch_never_searches_on_the_call_path(make_stack: Any) -> None:
    stack = make_stack()
    stack.remember("The VAT line is written by invoice/export.py:render_vat", key="fact:vat")
    me = Identity("acme", "agent", "t1")
    stack.memory.flush()
    on_path: list[str] = []
    real_search = stack.search

    def watched(query: str, **kwargs: Any) -> Any:
        on_path.append(threading.current_thread().name)
        return real_search(query, **kwargs)

    stack.search = watched
    session = stack.pipeline(CallOptions(compress=False, route=False, remember=False), recall_prefetch=True)
    try:
        first = session.prepare(_conversation(0), me)
        assert first.recalled == 0 and [e.kind for e in first.events] == ["recall_pending"]
        assert session.prefetcher is not None and session.prefetcher.wait_idle(10)
        second = session.prepare(_conversation(1), me)
        assert second.recalled >= 1
        event = next(e for e in second.events if e.kind == "recalled")
        assert event.detail["prefetched"] is True and event.detail["fresh"] is False
        assert "render_vat" in str(second.messages[1]["content"])
        assert on_path and set(on_path) == {"hive-recall-prefetch"}
    finally:
        session.close()


def test_proxy_hook_reports_what_recall_did(make_stack: Any) -> None:
    pytest.importorskip("fastapi", reason="the LiteLLM proxy extras (fastapi) are not installed")
    stack = make_stack()
    cb = HiveCallback(stack, recall_k=2, recall_prefetch=True)
    cb._ready()
    # Recall in the proxy is scoped to the request's tenant.
    tenant = cb._tenant(None, {})
    stack.remember("The VAT line is written by invoice/export.py:render_vat", key="fact:vat", namespace=(tenant,))
    stack.memory.flush()

    async def call(call_id: str, turn: int) -> dict[str, str]:
        data = {"model": "gpt-4o", "messages": _conversation(turn), "litellm_call_id": call_id}
        out = await cb.async_pre_call_hook(None, None, data, "completion")
        headers = await cb.async_post_call_response_headers_hook(out, None, None)
        assert headers is not None
        return headers

    async def run() -> None:
        assert (await call("a", 0))[RECALL_HEADER] == "pending"
        session = cb._ready()
        assert session.prefetcher is not None
        await asyncio.to_thread(session.prefetcher.wait_idle, 10)
        assert (await call("b", 1))[RECALL_HEADER].startswith("earlier:")
        await asyncio.to_thread(session.prefetcher.wait_idle, 10)
        assert (await call("c", 1))[RECALL_HEADER].startswith("fresh:")

    asyncio.run(run())


def test_worker_rests_in_proportion_to_its_search_time() -> None:
    import time

    def search(query: str) -> list[Any]:
        time.sleep(0.05)
        return [query]

    pre = RecallPrefetcher(search, max_busy=0.25)
    try:
        pre.lookup("a", "q1")
        assert pre.wait_idle(5)
        started = time.perf_counter()
        pre.lookup("b", "q2")  # queued while the worker rests ~0.15 s after its 0.05 s search
        assert pre.wait_idle(5)
        assert time.perf_counter() - started >= 0.12
    finally:
        pre.close()


def test_bad_busy_share_is_a_config_error() -> None:
    from hive_middleware.errors import HiveConfigError

    with pytest.raises(HiveConfigError, match="max_busy"):
        RecallPrefetcher(lambda q: [], max_busy=0)


def test_prefetching_callback_loads_the_embedder_when_it_builds(make_stack: Any) -> None:
    stack = make_stack()
    warmed: list[bool] = []
    stack.warm_up = lambda: warmed.append(True)
    HiveCallback(stack, recall_k=2, recall_prefetch=True)._ready()
    assert warmed == [True]
    HiveCallback(stack, recall_k=0, recall_prefetch=True)._ready()
    assert warmed == [True]  # no recall, nothing to load


def test_tenants_sharing_a_proxy_never_recall_each_others_memories(make_stack: Any) -> None:
    pytest.importorskip("fastapi", reason="the LiteLLM proxy extras (fastapi) are not installed")
    stack = make_stack()
    cb = HiveCallback(stack, recall_k=3, tenant_of=lambda key, data: str(data.get("user")))
    secret = "Acme's VAT export bug lives in invoice/export.py:render_vat"

    async def turn(tenant: str, call_id: str, text: str, answer: str | None = None) -> Any:
        data = {"model": "gpt-4o", "user": tenant, "litellm_call_id": call_id,
                "messages": [{"role": "user", "content": text}]}  # fmt: skip
        out = await cb.async_pre_call_hook(None, None, data, "completion")
        if answer is not None:
            response = {"choices": [{"message": {"role": "assistant", "content": answer}}]}
            await cb.async_log_success_event({"litellm_call_id": call_id, "model": "gpt-4o"}, response, None, None)
        return out

    async def run() -> None:
        await turn("acme", "a1", "Where is the VAT export bug?", secret)
        cb.flush()
        stack.memory.flush()
        mine = await turn("acme", "a2", "Remind me: where is the VAT export bug?")
        theirs = await turn("globex", "g1", "Remind me: where is the VAT export bug?")
        assert "render_vat" in str(mine["messages"])
        assert "render_vat" not in str(theirs["messages"])

    asyncio.run(run())


def test_conversations_without_hits_are_searched_before_refreshes() -> None:
    search = SlowSearch()
    pre = RecallPrefetcher(search, max_busy=1.0)
    try:
        pre.lookup("old", "old-1")
        assert pre.wait_idle(5)
        search.gate.clear()
        pre.lookup("blocker", "b")  # occupies the worker
        for _ in range(200):
            if pre._running is not None:
                break
            threading.Event().wait(0.01)
        pre.lookup("new", "new-1")  # a first search
        pre.lookup("old", "old-2")  # a refresh ("old" already has hits), asked later
        search.gate.set()
        assert pre.wait_idle(5)
        assert search.queries == ["old-1", "b", "new-1", "old-2"]
    finally:
        pre.close()


def test_a_failing_background_search_is_counted_in_the_stack_stats(make_stack: Any) -> None:
    stack = make_stack()

    def broken(query: str, **kwargs: Any) -> Any:
        raise RuntimeError("index offline")

    stack.search = broken
    pipeline = stack.pipeline(CallOptions(compress=False, route=False, remember=False), recall_prefetch=True)
    try:
        prepared = pipeline.prepare(_conversation(0), Identity("acme", "agent", "t1"))
        assert prepared.recalled == 0  # the call goes on
        assert pipeline.prefetcher is not None and pipeline.prefetcher.wait_idle(10)
        assert stack.stats.get("hook_error.recall_prefetch") == 1
    finally:
        pipeline.close()
