"""Replay recorded agent runs through a real LangGraph agent, without and with Hive.

Each SWE-agent run becomes a ``langchain.agents.create_agent`` agent with one
tool, ``bash(command)``. A scripted chat model replays the recorded actions (the
action of step *i* is a ``bash`` tool call, its thought the message text) and the
tool replays the recorded observations, so the two runs differ only by Hive:

* **without**: the plain agent; every step is one model call on the full history.
* **with**: the same agent with :class:`~hive_middleware.integrations.langgraph.HiveMiddleware`
  on a ``HiveStack`` (embedded memory, the router model, compression). A step
  the router answers costs no model call; a routed action that differs from the
  recorded one (whitespace-only comparison) is counted as wrong, shown, and
  replaced by the recorded one so the replay stays faithful.

Measured: model calls, input tokens the model read (litellm's counter per
message, plus 4 tokens of framing each), routed steps and wrong routes, memories
written, one ``why()`` chain, and Hive's own time per step (hook time minus
the time spent in the model and the tools).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hive_middleware.integrations.langgraph import HiveMiddleware
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool

from hive_middleware.pipeline import Identity
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel
from hive_middleware.tokens import count_text_tokens
from hive_middleware.trajectories import Trajectory
from hive_middleware.types import Action, AgentState, RouteDecision, Step

__all__ = ["DemoTotals", "ReplayRun", "replay_trajectory", "summarize"]

FRAMING_TOKENS = 4
SHELL_TOOL = "bash"


def _normal(command: str) -> str:
    return " ".join(command.split())


def _tokens(messages: Sequence[BaseMessage], model: str) -> int:
    total = 0
    for m in messages:
        total += FRAMING_TOKENS + (count_text_tokens(m.text, model) if m.text else 0)
        for call in getattr(m, "tool_calls", None) or []:
            total += count_text_tokens(str(call.get("args", "")), model)
    return total


def _steps(traj: Trajectory) -> list[tuple[str, str, str]]:
    """``(action, observation, thought)`` up to the first empty action (a run cut short)."""
    out = []
    for step in traj.steps:
        if not step.action.strip():
            break
        out.append((step.action, step.observation, step.thought))
    return out


def _script(steps: list[tuple[str, str, str]]) -> Callable[[list[BaseMessage]], BaseMessage]:
    def respond(messages: list[BaseMessage]) -> BaseMessage:
        i = sum(1 for m in messages if isinstance(m, ToolMessage))
        if i >= len(steps):
            return AIMessage(content="Submitted; nothing left to do.")
        action, _, thought = steps[i]
        return AIMessage(content=thought, tool_calls=[
            {"name": SHELL_TOOL, "args": {"command": action}, "id": f"call_{i}", "type": "tool_call"}])

    return respond


def _bash(steps: list[tuple[str, str, str]], ran: list[str]) -> StructuredTool:
    def bash(command: str) -> str:
        i = len(ran)
        ran.append(command)
        return steps[i][1] if i < len(steps) else "(no recorded output)"

    return StructuredTool.from_function(func=bash, name=SHELL_TOOL, description="Run a shell command.")


@dataclass
class ReplayRun:
    """One run replayed twice."""

    run_id: str
    steps: int
    llm_calls_without: int
    llm_calls_with: int
    input_tokens_without: int
    input_tokens_with: int
    routed: int
    wrong: list[dict[str, Any]]
    memories_written: int
    overhead_ms: list[float]
    faithful: bool
    last_result_key: str | None = None
    namespace: tuple[str, ...] | None = None
    thread: str = ""


class _TimedMiddleware(HiveMiddleware):  # type: ignore[misc]
    """HiveMiddleware that records its own time per step (model and tool time excluded)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_step: dict[int, float] = {}
        self.remembered = 0

    @staticmethod
    def _step(messages: Sequence[Any]) -> int:
        return sum(1 for m in messages if isinstance(m, ToolMessage))

    def _add(self, step: int, seconds: float) -> None:
        self.per_step[step] = self.per_step.get(step, 0.0) + seconds

    def _settle(self) -> None:
        # A live agent's model call takes seconds, long enough for the memory written
        # after the last step to be embedded; the replay's scripted model takes none.
        # Waiting here (untimed) gives recall what it would have had live, and makes
        # every replay of the same runs recall the same memories.
        self.flush()
        memory = getattr(self.pipeline.stack, "memory", None)
        if memory is not None and hasattr(memory, "wait_indexed"):
            memory.wait_indexed(30.0)

    def before_model(self, state: Any, runtime: Any) -> Any:
        self._settle()
        t = time.perf_counter()
        out = super().before_model(state, runtime)
        self._add(self._step(state["messages"]), time.perf_counter() - t)
        return out

    def after_model(self, state: Any, runtime: Any) -> Any:
        t = time.perf_counter()
        out = super().after_model(state, runtime)
        self._add(self._step(state["messages"]), time.perf_counter() - t)
        return out

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        inner = [0.0]

        def timed(req: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return handler(req)
            finally:
                inner[0] += time.perf_counter() - t0

        t = time.perf_counter()
        out = super().wrap_model_call(request, timed)
        self._add(self._step(request.messages), time.perf_counter() - t - inner[0])
        return out

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        inner = [0.0]

        def timed(req: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return handler(req)
            finally:
                inner[0] += time.perf_counter() - t0

        t = time.perf_counter()
        out = super().wrap_tool_call(request, timed)
        self._add(self._step(request.state["messages"]), time.perf_counter() - t - inner[0])
        return out


def replay_trajectory(traj: Trajectory, stack: Any, *, model: str = "gpt-4o") -> ReplayRun:
    """Replay one run without and with Hive on ``stack``.

    Args:
        traj: The recorded run.
        stack: A ``HiveStack`` (its router decides which steps skip the model).
        model: Model name used to count tokens.
    """
    steps = _steps(traj)
    limit: Any = {"recursion_limit": 12 * len(steps) + 50}
    prompt = [HumanMessage(content=traj.instance_prompt or "Solve the task.")]
    system = traj.system_prompt or None

    plain_model = ToolCallingFakeChatModel(respond=_script(steps))
    ran_plain: list[str] = []
    plain = create_agent(plain_model, tools=[_bash(steps, ran_plain)], system_prompt=system)
    plain.invoke({"messages": list(prompt)}, limit)

    wrong: list[dict[str, Any]] = []
    routed = [0]

    def check(decision: RouteDecision, messages: list[Any]) -> Action | Literal[False] | None:
        i = sum(1 for m in messages if m.get("role") == "tool")
        routed[0] += 1
        assert decision.action is not None
        if i >= len(steps):  # the recorded run ended here: the model must close it
            wrong.append({"run": traj.run_id, "step": i, "routed": decision.action.command,
                          "recorded": "(end of run)", "template": decision.template})
            return False
        recorded = steps[i][0]
        if _normal(decision.action.command) == _normal(recorded):
            return None
        wrong.append({"run": traj.run_id, "step": i, "routed": decision.action.command, "recorded": recorded,
                      "template": decision.template})
        return Action(recorded)

    hive_model = ToolCallingFakeChatModel(respond=_script(steps))
    ran_hive: list[str] = []
    events: list[Any] = []
    # One agent per source folder: habits are learned and proven per agent.
    middleware = _TimedMiddleware(stack, route_check=check, shell_tool=SHELL_TOOL, model=model,
                                  on_event=events.append, expand_tool=False, agent=traj.group or "agent")
    hive = create_agent(hive_model, tools=[_bash(steps, ran_hive)], system_prompt=system, middleware=[middleware])
    thread = f"demo-{traj.run_id}"
    out: Any = hive.invoke({"messages": list(prompt)}, {**limit, "configurable": {"thread_id": thread}})

    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    identity = Identity(middleware.tenant, middleware.agent, thread)
    last_key = identity.key("result", str(results[-1].tool_call_id)) if results else None
    return ReplayRun(
        run_id=traj.run_id,
        steps=len(steps),
        llm_calls_without=len(plain_model.seen),
        llm_calls_with=len(hive_model.seen),
        input_tokens_without=sum(_tokens(seen, model) for seen in plain_model.seen),
        input_tokens_with=sum(_tokens(seen, model) for seen in hive_model.seen),
        routed=routed[0],
        wrong=wrong,
        memories_written=sum(int(e.detail.get("count", 0)) for e in events if e.kind == "remembered"),
        overhead_ms=[s * 1000.0 for _, s in sorted(middleware.per_step.items())],
        faithful=[_normal(c) for c in ran_hive] == [_normal(c) for c in ran_plain] == [_normal(a) for a, _, _ in steps],
        last_result_key=last_key,
        thread=thread,
        namespace=identity.namespace,
    )


@dataclass
class DemoTotals:
    """The demo's figures over all replayed runs."""

    runs: list[ReplayRun] = field(default_factory=list)

    def add(self, run: ReplayRun) -> None:
        """Count one run."""
        self.runs.append(run)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(totals: DemoTotals, stack: Any, *, data: Sequence[str], subset: str) -> dict[str, Any]:
    """The demo's JSON payload (``llm_calls``, ``routed``, ``input_tokens``, ... see the module doc)."""
    runs = totals.runs
    overhead = [ms for r in runs for ms in r.overhead_ms]
    wrong = [w for r in runs for w in r.wrong]
    answered = sum(r.routed for r in runs)
    why: list[dict[str, Any]] = []
    sample = next((r for r in reversed(runs) if r.last_result_key), None)
    if sample is not None and sample.last_result_key:
        try:
            for step in stack.why(sample.last_result_key, namespace=sample.namespace)[:6]:
                why.append({"hop": step.depth, "edge": str(step.edge.kind), "type": step.record.metadata.get("type"),
                            "content": " ".join(step.record.content.split())[:160]})
        except Exception as exc:  # the demo still reports everything else
            why.append({"error": f"{type(exc).__name__}: {exc}"})
    without = sum(r.llm_calls_without for r in runs)
    with_hive = sum(r.llm_calls_with for r in runs)
    router = _router_summary(stack)
    tokens_without = sum(r.input_tokens_without for r in runs)
    tokens_with = sum(r.input_tokens_with for r in runs)
    return {
        "data": list(data),
        "subset": subset,
        "runs": len(runs),
        "steps": sum(r.steps for r in runs),
        "llm_calls": {"without": without, "with": with_hive,
                      "with_wrong_routes_asked": with_hive + len(wrong)},
        "routed": {"answered": answered, "wrong": len(wrong),
                   "wrong_rate": (len(wrong) / answered) if answered else 0.0,
                   "wrong_examples": wrong[:10], "from": "graduated habits only (shadow mode)"},
        "router": router,
        "input_tokens": {"without": tokens_without, "with": tokens_with,
                         "ratio": (tokens_with / tokens_without) if tokens_without else None},
        "memories_written": sum(r.memories_written for r in runs),
        "why": {"key": sample.last_result_key if sample else None, "chain": why},
        "overhead_ms": {"p50": _pct(overhead, 0.5), "p95": _pct(overhead, 0.95),
                        "mean": statistics.fmean(overhead) if overhead else 0.0},
        "replay_faithful": all(r.faithful for r in runs),
        "per_run": [
            {"run": r.run_id, "steps": r.steps, "llm_calls": [r.llm_calls_without, r.llm_calls_with],
             "input_tokens": [r.input_tokens_without, r.input_tokens_with], "routed": r.routed,
             "wrong": len(r.wrong)}
            for r in runs
        ],
    }


def _router_summary(stack: Any) -> dict[str, Any]:
    """Shadow mode's habits after the replay; the ever-graduated ones are saved as procedural memories."""
    from hive_middleware.routing.habit_memory import HabitMemory

    book = getattr(stack.policy, "book", None)
    if book is None:
        return {"mode": "model"}
    records = list(book.items())
    saved = 0
    try:
        saved = HabitMemory(stack.memory, book.tenant).save_all(book, graduated_only=True)
    except Exception as exc:  # the demo still reports everything else
        return {"mode": "shadow", "error": f"saving habits failed: {type(exc).__name__}: {exc}"}
    return {
        "mode": "shadow",
        "habits_watched": len(records),
        "live": sum(r.live for _, r in records),
        "graduations": sum(r.graduations for _, r in records),
        "demotions": sum(r.demotions for _, r in records),
        "habits_saved": saved,
        "live_examples": [
            {"agent": a, "signature": s, "template": t, "n": r.n, "hits": r.hits, "answered": r.answered}
            for (a, s, t), r in records if r.live
        ][:10],
    }


def demo_markdown(payload: dict[str, Any]) -> str:
    """The Markdown summary of a demo payload."""
    from hive_middleware.markdown import markdown_table

    lc, it, rt, oh = payload["llm_calls"], payload["input_tokens"], payload["routed"], payload["overhead_ms"]
    ratio = it["ratio"]
    lines = [
        "# hive demo: recorded runs replayed through a LangGraph agent, without and with Hive\n",
        f"Data: {', '.join(payload['data'])} ({payload['subset']}): {payload['runs']} runs, "
        f"{payload['steps']} steps. Offline: a scripted model replays the recorded actions and the "
        "tool the recorded observations.\n",
        markdown_table(
            ["", "without Hive", "with Hive"],
            [
                ["LLM calls", lc["without"], lc["with"]],
                ["input tokens read by the model", it["without"], it["with"]],
            ],
        ),
        f"\nInput tokens with Hive: {ratio:.3f} of without." if ratio is not None else "",
        f"\nRouted steps (answered without the model): {rt['answered']}, wrong: {rt['wrong']} "
        f"({rt['wrong_rate']:.1%}); wrong routes were replaced by the recorded action "
        f"(counting them as model calls: {lc['with_wrong_routes_asked']}).",
        _router_line(payload.get("router") or {}),
        f"\nMemories written: {payload['memories_written']}. Hive time per step: p50 {oh['p50']:.2f} ms, "
        f"p95 {oh['p95']:.2f} ms. Replay faithful: {payload['replay_faithful']}.\n",
    ]
    if rt["wrong_examples"]:
        lines.append("\n## Wrong routes\n\n")
        lines.append(markdown_table(["run", "step", "routed", "recorded"], [
            [w["run"], w["step"], f"`{w['routed'][:60]}`", f"`{w['recorded'][:60]}`"] for w in rt["wrong_examples"]]))
    chain = payload["why"]["chain"]
    if chain:
        lines.append(f"\n## why({payload['why']['key']})\n\n")
        lines.append(markdown_table(["hop", "edge", "type", "content"], [
            [c.get("hop"), c.get("edge"), c.get("type"), c.get("content", c.get("error", ""))[:100]] for c in chain]))
    return "\n".join(lines) + "\n"


def _router_line(router: dict[str, Any]) -> str:
    if router.get("mode") != "shadow" or "live" not in router:
        return ""
    return (f"\nRouter in shadow mode: it answers only with habits proven per agent on the replayed runs "
            f"({router['habits_watched']} habits watched, {router['graduations']} graduations, "
            f"{router['demotions']} demotions, {router['live']} live at the end, "
            f"{router['habits_saved']} saved as procedural memories).")


def plot_demo(payload: dict[str, Any]) -> Callable[[Any], None]:
    """A PNG: model calls and input tokens, without vs with Hive."""

    def draw(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        for ax, key, title in ((ax1, "llm_calls", "LLM calls"), (ax2, "input_tokens", "input tokens")):
            values = [payload[key]["without"], payload[key]["with"]]
            ax.bar(["without Hive", "with Hive"], values, color=["#999999", "#d9a400"])
            ax.set_title(title)
            for x, v in enumerate(values):
                ax.text(x, v, f"{v:,}", ha="center", va="bottom", fontsize=8)
        fig.suptitle(f"hive demo: {payload['runs']} runs, {payload['steps']} steps")

    return draw


def open_demo_stack(model_dir: Path | None, data_dir: Path | None, embedder: str | None) -> tuple[Any, Any]:
    """A ``HiveStack`` for the demo: embedded memory in ``data_dir`` (default a temporary folder)
    and the router model (default: the packaged one). Returns ``(stack, cleanup)``."""
    from hive_middleware.config import HiveConfig
    from hive_middleware.routing.policy import default_model_dir
    from hive_middleware.routing.shadow import router_from_config
    from hive_middleware.stack import HiveStack

    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hive-demo-")
        data_dir = Path(tmp.name)
    overrides: dict[str, Any] = {"data_dir": str(data_dir), "tenant": "demo",
                                 "routing": {"model_dir": str(model_dir or default_model_dir()), "shadow": True}}
    if embedder:
        overrides["memory"] = {"embedder": embedder}
    config = HiveConfig.load(**overrides)
    # Shadow mode: the model is only the prior; the router answers with habits it has seen
    # this agent prove on the replayed runs (graduated per agent), never with the model alone.
    stack = HiveStack(config, policy=router_from_config(config.routing, tenant=config.tenant))
    # Load the embedder, the router and the token counter now, so the first
    # replayed step does not pay for them.
    stack.search("warm up the embedded memory", k=1)
    stack.route(AgentState(goal="warm up", history=(Step("ls", "a.py"),), step_index=1))
    stack.compress([{"role": "user", "content": "warm up"}])

    def cleanup() -> None:
        stack.close()
        if tmp is not None:
            tmp.cleanup()

    return stack, cleanup


def iter_runs(paths: Sequence[Path], limit: int | None) -> Iterator[Trajectory]:
    """The first ``limit`` runs under ``paths`` (all when ``None``)."""
    from hive_middleware.trajectories import read_trajectory, trajectory_files

    files = trajectory_files(list(paths))
    for f in files[: limit if limit is not None else len(files)]:
        yield read_trajectory(f)
