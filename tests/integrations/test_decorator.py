"""``@agent`` on a sync step function and an async loop, with litellm ``mock_response``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hive_middleware.integrations.decorator import HiveStep, agent

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveRateLimited
from hive_middleware.resilience.guard import Guard
from hive_middleware.tokens import load_litellm
from hive_middleware.types import Action, AgentState, RouteDecision

litellm = load_litellm()
BIG = "\n".join(f"tests/test_y.py::test_{i} FAILED AssertionError" for i in range(400))


class SubmitAfterPass:
    def decide(self, state: AgentState) -> RouteDecision:
        if state.history and "passed" in state.history[-1].observation:
            return RouteDecision(Action("submit"), "submit", 0.99, False, "tests pass")
        return RouteDecision(None, None, 0.1, True, "not mechanical")


def _call(command: str, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": command})}}


def _tool_calls(message: Any) -> list[str]:
    calls = message["tool_calls"] if isinstance(message, dict) else message.tool_calls
    out = []
    for c in calls:
        fn = c["function"] if isinstance(c, dict) else c.function
        args = fn["arguments"] if isinstance(fn, dict) else fn.arguments
        out.append(json.loads(args)["command"])
    return out


def test_sync_step_function_is_routed_compressed_and_remembered(make_stack: Any) -> None:
    stack = make_stack(policy=SubmitAfterPass())
    seen: list[list[dict[str, Any]]] = []

    @agent(stack=stack, model="gpt-4o")
    def step(messages: list[dict[str, Any]]) -> Any:
        seen.append(messages)
        response = litellm.completion(model="gpt-4o", messages=messages, mock_response="",
                                      mock_tool_calls=[_call("pytest -q", f"c{len(seen)}")])
        return response.choices[0].message.model_dump()

    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix the failing tests"}]
    for observation in (BIG, BIG, "3 passed in 0.1s"):
        reply = step(messages)
        messages += [reply, {"role": "tool", "tool_call_id": reply["tool_calls"][0]["id"], "content": observation}]
    reply = step(messages)
    hive: HiveStep = step.hive()  # type: ignore[attr-defined]
    assert _tool_calls(reply) == ["submit"]
    assert (hive.llm_calls, hive.routed) == (3, 1)
    assert len(seen) == 3
    assert len(json.dumps(seen[-1])) < 0.7 * len(json.dumps(messages[:-2])), "the model saw a compressed list"
    call_key = hive.identity.key("call", reply["tool_calls"][0]["id"])
    chain = stack.why(call_key, namespace=hive.identity.namespace)
    # The routed submit was caused by the passing run, caused by its call, ... back to the user turn.
    assert [s.record.metadata["type"] for s in chain] == ["tool_result", "tool_call"] * 3 + ["turn"]
    assert chain[0].record.content.startswith("tool result: 3 passed")


def test_sync_step_is_guarded(make_stack: Any) -> None:
    stack = make_stack(guard=Guard(GuardConfig(requests_per_minute=1, max_wait_s=0)))

    @agent(stack=stack, model="gpt-4o")
    def step(messages: list[dict[str, Any]]) -> Any:
        return {"role": "assistant", "content": "hello"}

    step([{"role": "user", "content": "hi"}])
    with pytest.raises(HiveRateLimited):
        step([{"role": "user", "content": "hi again"}])


def test_async_loop_with_hive_parameter(make_stack: Any) -> None:
    stack = make_stack(policy=SubmitAfterPass())

    @agent(stack=stack, model="gpt-4o")
    async def run(task: str, *, hive: HiveStep) -> tuple[list[dict[str, Any]], HiveStep]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        outputs = iter([BIG, "5 passed"])
        for turn in range(5):
            response = await hive.acompletion(model="gpt-4o", messages=messages, mock_response="",
                                              mock_tool_calls=[_call("pytest", f"t{turn}")])
            message = response.choices[0].message
            commands = _tool_calls(message)
            messages.append(message.model_dump())
            if commands == ["submit"]:
                break
            messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": next(outputs)})
        return messages, hive

    messages, hive = asyncio.run(run("make it green"))
    assert _tool_calls(messages[-1]) == ["submit"]
    assert (hive.llm_calls, hive.routed) == (2, 1)
    assert any(e.kind == "compressed" for e in hive.events)


def test_bare_decorator_keeps_the_function_and_builds_the_default_stack_lazily(
    monkeypatch: pytest.MonkeyPatch, make_stack: Any
) -> None:
    import hive_middleware.integrations.decorator as deco

    built: list[Any] = []
    monkeypatch.setattr(deco, "_default_stack", lambda: built.append(make_stack()) or built[-1])

    @agent
    def step(messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Doc kept."""
        return {"role": "assistant", "content": "ok"}

    assert step.__doc__ == "Doc kept." and not built
    assert step([{"role": "user", "content": "x"}]) == {"role": "assistant", "content": "ok"}
    assert len(built) == 1


def test_two_agents_on_one_stack_keep_their_own_turns(make_stack: Any) -> None:
    stack = make_stack()

    def make(name: str) -> Any:
        @agent(stack=stack, agent=name, route=False)
        def step(messages: list[dict[str, Any]]) -> dict[str, Any]:
            return {"role": "assistant", "content": f"{name} done"}

        return step

    billing, support = make("billing"), make("support")
    billing([{"role": "user", "content": "refund invoice 42"}])
    support([{"role": "user", "content": "reset the password of ana"}])
    found = {h.record.content for h in stack.search("invoice password", k=10, namespace=("acme",))}
    assert {"refund invoice 42", "reset the password of ana"} <= found
    b, s = billing.hive().identity, support.hive().identity  # type: ignore[attr-defined]
    assert (b.agent, s.agent) == ("billing", "support") and b.thread != s.thread
    assert stack.recall(b.key("turn", 0), namespace=b.namespace).content == "refund invoice 42"


def test_each_call_of_a_loop_is_a_new_run(make_stack: Any) -> None:
    stack = make_stack()
    threads: list[str] = []

    @agent(stack=stack, agent="coder", route=False)
    def run(task: str, *, hive: HiveStep) -> None:
        threads.append(hive.identity.thread)
        hive.completion(model="gpt-4o", messages=[{"role": "user", "content": task}], mock_response="ok")

    run("port the parser to rust")
    run("write the changelog")
    assert len(set(threads)) == 2
    contents = {h.record.content for h in stack.search("parser changelog", k=10, namespace=("acme", "coder"))}
    assert {"port the parser to rust", "write the changelog"} <= contents


def test_a_loop_given_a_thread_continues_it_without_overwriting(make_stack: Any) -> None:
    stack = make_stack()

    @agent(stack=stack, agent="coder", thread="ticket-7", route=False)
    def run(task: str, *, hive: HiveStep) -> None:
        hive.completion(model="gpt-4o", messages=[{"role": "user", "content": task}], mock_response="ok")

    run("first attempt at the fix")
    run("second attempt at the fix")
    hits = stack.search("attempt fix", k=10, namespace=("acme", "coder", "ticket-7"))
    assert {"first attempt at the fix", "second attempt at the fix"} <= {h.record.content for h in hits}


def test_a_step_function_starts_a_new_run_when_the_conversation_restarts(make_stack: Any) -> None:
    stack = make_stack()

    @agent(stack=stack, route=False)
    def step(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"role": "assistant", "content": "noted"}

    step([{"role": "user", "content": "task one"}])
    first = step.hive().identity.thread  # type: ignore[attr-defined]
    step([{"role": "user", "content": "task one"}, {"role": "assistant", "content": "noted"},
          {"role": "user", "content": "and more"}])
    assert step.hive().identity.thread == first  # type: ignore[attr-defined]
    step([{"role": "user", "content": "task two"}])
    assert step.hive().identity.thread != first  # type: ignore[attr-defined]
    hits = stack.search("task", k=10, namespace=("acme",))
    assert {"task one", "task two", "and more"} <= {h.record.content for h in hits}
