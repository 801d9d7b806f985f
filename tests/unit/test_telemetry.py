"""OpenTelemetry spans of pipeline steps: names, nesting, attributes; off means nothing imported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveConfigError, HiveDependencyError, HiveRateLimited
from hive_middleware.memory.store import MemoryStore
from hive_middleware.pipeline import CallOptions, Identity
from hive_middleware.stack import HiveStack
from hive_middleware.telemetry import NO_TRACING, OtelTracing, tracing_for, tracing_requested
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import Action, AgentState, RouteDecision

ME = Identity("acme", "coder", "run-7")
STAGES = {"hive.remember", "hive.route", "hive.compress", "hive.recall", "hive.llm"}


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    # The global provider can be set once per process; later modules add their own processor.
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    return found


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def memory() -> Iterator[MemoryStore]:
    store = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme",))
    yield store
    store.close()


class _AlwaysSubmit:
    """A router that answers every state with ``submit``."""

    def decide(self, state: AgentState) -> RouteDecision:
        return RouteDecision(Action(command="submit"), "submit", 0.99, False, "fake")


def _session() -> list[dict[str, str]]:
    log = "\n".join(f"tests/test_mod.py::test_case_{i} PASSED" for i in range(400))
    msgs = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "Fix the parser bug."}]
    for i in range(5):
        msgs.append({"role": "assistant", "content": f"run the tests, try {i}\n```\npytest tests\n```"})
        msgs.append({"role": "user", "content": f"OBSERVATION:\n{log}\n{i} passed"})
    return msgs


def _traced_stack(memory: MemoryStore, **kwargs: Any) -> HiveStack:
    return HiveStack(HiveConfig.load(environ={}, otel=True), memory=memory, **kwargs)


def _by_name(finished: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    named = {s.name: s for s in finished}
    assert len(named) == len(finished), [s.name for s in finished]
    return named


def _check_escalated_step(finished: tuple[ReadableSpan, ...], seen: list[list[Any]]) -> None:
    named = _by_name(finished)
    assert set(named) == STAGES | {"hive.step"}
    step = named["hive.step"]
    assert step.parent is None or not step.parent.is_valid
    for name in STAGES:  # every stage is a child of the step, in the same trace
        assert named[name].parent is not None and named[name].parent.span_id == step.context.span_id, name
        assert named[name].context.trace_id == step.context.trace_id
    for span in named.values():
        attrs = span.attributes or {}
        assert (attrs["hive.tenant"], attrs["hive.agent"], attrs["hive.thread"]) == ("acme", "coder", "run-7")
    assert step.attributes is not None and step.attributes["hive.escalated"] is True
    assert step.attributes["hive.routed"] is False
    route = named["hive.route"].attributes or {}
    assert route["hive.escalated"] is True and route["hive.confidence"] == 0.0
    assert [e.name for e in named["hive.route"].events] == ["escalated"]
    compress = named["hive.compress"].attributes or {}
    assert 0 < compress["hive.tokens_after"] < compress["hive.tokens_before"] / 2
    assert compress["hive.messages_before"] == len(_session())
    assert [e.name for e in named["hive.compress"].events] == ["compressed"]
    remember = named["hive.remember"].attributes or {}
    assert remember["hive.items"] == remember["hive.remembered"] > 0
    assert named["hive.llm"].attributes is not None and named["hive.llm"].attributes["hive.messages"] == len(seen[0])
    # Stages run in order: remember, route, compress, recall, then the model.
    order = sorted(STAGES, key=lambda n: named[n].start_time or 0)
    assert order == ["hive.remember", "hive.route", "hive.compress", "hive.recall", "hive.llm"]


def test_an_escalated_step_has_one_span_per_stage_under_hive_step(
    spans: InMemorySpanExporter, memory: MemoryStore
) -> None:
    stack = _traced_stack(memory)
    seen: list[list[Any]] = []
    pipeline = stack.pipeline()
    assert isinstance(pipeline.tracing, OtelTracing)
    outcome = pipeline.step(_session(), ME, lambda view: seen.append(view) or "answer")
    assert outcome.response == "answer"
    _check_escalated_step(spans.get_finished_spans(), seen)
    compressed = next(e for e in outcome.events if e.kind == "compressed")
    assert compressed.detail["tokens_before"] > compressed.detail["tokens_after"] > 0
    assert stack.stats.get("pipeline.escalated") == 1
    saved = compressed.detail["tokens_before"] - compressed.detail["tokens_after"]
    assert stack.stats.get("pipeline.tokens_saved") == saved


def test_the_async_driver_nests_spans_the_same_way(spans: InMemorySpanExporter, memory: MemoryStore) -> None:
    stack = _traced_stack(memory)
    seen: list[list[Any]] = []

    async def model(view: list[Any]) -> str:
        seen.append(view)
        await asyncio.sleep(0)
        return "answer"

    async def two_steps() -> None:  # two concurrent steps must not adopt each other's spans
        await asyncio.gather(stack.pipeline().astep(_session(), ME, model),
                             stack.pipeline().astep(_session(), ME.with_thread("run-8"), model))

    asyncio.run(two_steps())
    finished = spans.get_finished_spans()
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in finished:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2
    threads = set()
    for group in by_trace.values():
        threads.add((group[0].attributes or {})["hive.thread"])
        if (group[0].attributes or {})["hive.thread"] == "run-7":
            _check_escalated_step(tuple(group), seen)
        assert {s.name for s in group} == STAGES | {"hive.step"}
    assert threads == {"run-7", "run-8"}


def test_a_routed_step_records_the_decision_and_skips_the_model(
    spans: InMemorySpanExporter, memory: MemoryStore
) -> None:
    stack = _traced_stack(memory, policy=_AlwaysSubmit())
    outcome = stack.pipeline().step(_session(), ME, lambda view: pytest.fail("a routed step calls no model"))
    assert outcome.decision is not None
    named = _by_name(spans.get_finished_spans())
    assert set(named) == {"hive.step", "hive.remember", "hive.route"}
    route = named["hive.route"].attributes or {}
    assert route["hive.escalated"] is False and route["hive.template"] == "submit"
    assert route["hive.confidence"] == pytest.approx(0.99)
    assert (named["hive.step"].attributes or {})["hive.routed"] is True
    assert stack.stats.get("pipeline.routed") == 1 and stack.stats.get("pipeline.escalated") == 0


def test_a_failing_hook_marks_its_span_and_the_step_goes_on(
    spans: InMemorySpanExporter, memory: MemoryStore
) -> None:
    class BrokenCompression(HiveStack):
        def compress(self, messages: Any, *, budget: int | None = None, model: str | None = None) -> Any:
            raise RuntimeError("compressor broke")

    stack = BrokenCompression(HiveConfig.load(environ={}, otel=True), memory=memory)
    outcome = stack.pipeline().step(_session(), ME, lambda view: "answer")
    assert outcome.response == "answer"
    named = _by_name(spans.get_finished_spans())
    compress = named["hive.compress"]
    assert compress.status.status_code is StatusCode.ERROR
    assert "compressor broke" in (compress.status.description or "")
    assert [e.name for e in compress.events] == ["hook_error"]
    assert named["hive.step"].status.status_code is not StatusCode.ERROR
    assert named["hive.llm"].status.status_code is not StatusCode.ERROR


def test_a_refused_model_call_fails_the_llm_and_step_spans(
    spans: InMemorySpanExporter, memory: MemoryStore
) -> None:
    def refused(view: list[Any]) -> str:
        raise HiveRateLimited("rate limit for gpt-4o: wait 2 s", retry_after=2.0)

    with pytest.raises(HiveRateLimited):
        _traced_stack(memory).pipeline().step(_session(), ME, refused)
    named = _by_name(spans.get_finished_spans())
    for name in ("hive.llm", "hive.step"):
        assert named[name].status.status_code is StatusCode.ERROR
        assert any(e.name == "exception" for e in named[name].events)


def test_stages_called_alone_get_their_own_spans(spans: InMemorySpanExporter, memory: MemoryStore) -> None:
    pipeline = _traced_stack(memory).pipeline(CallOptions(recall_k=2))
    prepared = pipeline.prepare(_session(), ME)
    assert prepared.compressed
    named = _by_name(spans.get_finished_spans())
    assert set(named) == {"hive.compress", "hive.recall"}
    recall = named["hive.recall"].attributes or {}
    assert recall["hive.recall_k"] == 2 and recall["hive.recall_scope"] == "tenant"
    assert recall["hive.recalled"] == prepared.recalled


def test_tracing_is_asked_for_by_config_first_then_environment() -> None:
    assert tracing_requested(HiveConfig.load(environ={"HIVE_OTEL": "1"}))
    assert not tracing_requested(HiveConfig.load(environ={}), environ={"HIVE_OTEL": "1"})
    assert tracing_requested(None, environ={"HIVE_OTEL": "true"})
    assert not tracing_requested(None, environ={"HIVE_OTEL": "0"})
    assert not tracing_requested(object(), environ={})
    with pytest.raises(HiveConfigError, match="HIVE_OTEL='maybe' is not a switch"):
        tracing_requested(None, environ={"HIVE_OTEL": "maybe"})


def test_tracing_on_without_opentelemetry_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, memory: MemoryStore
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # what an install without [otel] looks like
    with pytest.raises(HiveDependencyError, match=r"hive-middleware\[otel\]") as info:
        tracing_for(HiveConfig.load(environ={}, otel=True))
    assert info.value.fields["extra"] == "otel"
    with pytest.raises(HiveDependencyError):
        _traced_stack(memory).pipeline()
    assert tracing_for(HiveConfig.load(environ={})) is NO_TRACING  # off needs no package


def test_tracing_off_is_one_shared_no_op(memory: MemoryStore) -> None:
    pipeline = HiveStack(HiveConfig.load(environ={}), memory=memory).pipeline()
    assert pipeline.tracing is NO_TRACING and not pipeline.tracing.enabled
    # Every stage enters the same pre-built context: nothing is allocated or looked up per stage.
    first = NO_TRACING.span("step", ME, messages=3)
    assert first is NO_TRACING.span("compress") is NO_TRACING.span("llm", None)
    with first as span:
        span.set(tokens_before=10)


OFF_SCRIPT = textwrap.dedent(
    """
    import sys
    from hive_middleware.config import HiveConfig
    from hive_middleware.memory.store import MemoryStore
    from hive_middleware.pipeline import Identity
    from hive_middleware.stack import HiveStack
    from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex

    store = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(64), namespace=("t",))
    stack = HiveStack(HiveConfig.load(), memory=store)  # HIVE_OTEL from the environment decides
    log = "\\n".join(f"line {i} of a long tool output" for i in range(300))
    messages = [{"role": "user", "content": "Fix it."}, {"role": "user", "content": log}]
    outcome = stack.pipeline().step(messages, Identity("t", "a", "r"), lambda view: "ok")
    assert outcome.response == "ok", outcome
    stack.close()
    store.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print("OTEL", loaded)
    """
)


def test_tracing_off_imports_no_opentelemetry_module(tmp_path: Path) -> None:
    def loaded(switch: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "HIVE_OTEL": switch}
        done = subprocess.run([sys.executable, "-c", OFF_SCRIPT], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=240, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "OTEL []" in loaded("0")
    assert "'opentelemetry.trace'" in loaded("1")  # the same step with tracing on does import it


def test_a_cancelled_async_step_ends_its_spans_at_once(spans: InMemorySpanExporter, memory: MemoryStore) -> None:
    stack = _traced_stack(memory)
    in_model = asyncio.Event()

    async def hangs(view: list[Any]) -> str:
        in_model.set()
        await asyncio.sleep(60)
        return "never"

    async def cancel_mid_call() -> Any:
        task = asyncio.create_task(stack.pipeline().astep(_session(), ME, hangs))
        await in_model.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Ended now, not when the suspended job is collected; this task's context is clean.
        ended = {s.name for s in spans.get_finished_spans()}
        assert {"hive.llm", "hive.step"} <= ended
        return trace.get_current_span()

    assert not asyncio.run(cancel_mid_call()).get_span_context().is_valid
