"""The step pipeline: what Hive does around one model call, for every integration.

One agent step goes ``state -> route -> compress -> recall -> guard -> remember``.
:class:`Pipeline` holds that logic once; integrations (LangGraph middleware and
nodes, the LiteLLM callback, the decorator) only translate their framework's
objects to OpenAI-format messages and an :class:`~hive_middleware.pipeline.identity.Identity`.

Sync and async share one body: each job is a generator that yields the I/O it
needs (a search, a commit, a model call) as an :class:`_Io` request; a sync
driver runs the request in place, an async driver awaits it (blocking store work
in a worker thread). The decisions in between have no I/O.

Per-call options (:class:`CallOptions`) are arguments, never state shared between
calls, so concurrent conversations cannot change each other's recall.

Hooks fail open: an internal error of compression, recall, routing or a memory
write is logged, counted in ``stack.stats`` (``hook_error.<stage>``) and reported
as a ``hook_error`` event; the call proceeds with the messages it had. The guard
fails closed: a rate limit or an open circuit raises.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hive_middleware.pipeline.counters import Counters
from hive_middleware.pipeline.identity import DEFAULT_RECALL_SCOPE, Identity, RecallScope, check_scope
from hive_middleware.pipeline.ingest import MemoryItem, conversation_items
from hive_middleware.pipeline.jobs import Io, Job, adrive, drive
from hive_middleware.pipeline.messages import (
    MEMORY_MARKER,
    call_of_action,
    is_memory_message,
    state_from_messages,
)
from hive_middleware.pipeline.prefetch import RecallPrefetcher, conversation_key
from hive_middleware.telemetry import StageSpan, Tracing, tracing_for
from hive_middleware.types import Action, MemoryKind, Message, RouteDecision, message_text

__all__ = ["CallOptions", "HiveEvent", "Pipeline", "PreparedCall"]

logger = logging.getLogger("hive_middleware.pipeline")

DEFAULT_RECALL_K = 3
RECALLED_KINDS: tuple[MemoryKind, ...] = tuple(k for k in MemoryKind if k is not MemoryKind.ARTIFACT)
"""What recall injects: every kind but compressed-away originals (reachable by handle instead)."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What one call does; pass a changed copy per call (``dataclasses.replace``).

    Attributes:
        compress: Compress the message list before the model sees it.
        recall_k: Memories injected (0: no recall).
        recall_scope: Where recall reads: ``thread``, ``agent`` or ``tenant`` (never wider).
        route: Ask the router before calling the model.
        remember: Write the conversation to memory.
        budget: Token budget for compression.
        model: Model name for token counting.
    """

    compress: bool = True
    recall_k: int = DEFAULT_RECALL_K
    recall_scope: RecallScope = DEFAULT_RECALL_SCOPE
    route: bool = True
    remember: bool = True
    budget: int | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        check_scope(self.recall_scope)
        if isinstance(self.recall_k, bool) or not isinstance(self.recall_k, int) or self.recall_k < 0:
            from hive_middleware.errors import HiveValidationError

            raise HiveValidationError(f"recall_k must be an int >= 0, got {self.recall_k!r}", field="recall_k")


@dataclass(frozen=True, slots=True)
class HiveEvent:
    """One visible decision: compressed, recalled, routed, escalated, remembered, ...

    Attributes:
        kind: ``compressed``, ``recalled``, ``recall_pending`` (prefetch: no
            hits for this conversation yet), ``routed``, ``escalated``,
            ``remembered`` (committed to the store), ``cache_hit``,
            ``route_vetoed``, ``route_replaced`` or ``hook_error``.
        detail: JSON-serialisable facts about it.
        at: Wall-clock seconds.
    """

    kind: str
    detail: Mapping[str, Any]
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (what goes into graph state and logs)."""
        return {"kind": self.kind, "at": self.at, **dict(self.detail)}


@dataclass
class PreparedCall:
    """The message list a model call should get, and what was done to it."""

    messages: list[Message]
    events: list[HiveEvent]
    compressed: bool = False
    recalled: int = 0
    memory: Message | None = None


def _sync_stack(stack: Any) -> Any:
    # An AsyncHiveStack wraps a HiveStack; the pipeline drives the sync one.
    inner = getattr(stack, "sync", None)
    return inner if inner is not None and hasattr(inner, "memory") else stack


class Pipeline:
    """Route, compress, recall, guard and remember around model calls, failing open.

    Args:
        stack: A ``HiveStack`` (or an ``AsyncHiveStack``).
        options: Default :class:`CallOptions` (each call may pass its own).
        shell_tool: Tool that runs a routed shell command (``{"command": ...}``).
        on_event: Called with every :class:`HiveEvent` (a failing listener is logged).
        recall_prefetch: Never search on the call path: inject the hits a
            :class:`RecallPrefetcher` found for this thread (for this query, or
            an earlier turn's while its search runs) and queue this query's search.
        compress_inline: Async drivers compress on the event loop instead of a
            worker thread. Compression is Python CPU work holding the GIL, so a
            thread runs it no faster, and under load the hop back to a busy loop
            costs a whole loop cycle (LiteLLM proxy, 50 concurrent conversations:
            hook p50 188 ms in a thread, 1.3 ms inline). The loop then blocks only
            while an original not stored before is committed (one SQLite write).
    """

    def __init__(
        self,
        stack: Any,
        *,
        options: CallOptions | None = None,
        shell_tool: str = "bash",
        on_event: Callable[[HiveEvent], None] | None = None,
        recall_prefetch: bool = False,
        compress_inline: bool = False,
    ) -> None:
        self.stack = _sync_stack(stack)
        self.compress_inline = compress_inline
        self.options = options or CallOptions()
        self.shell_tool = shell_tool
        self.on_event = on_event
        stats = getattr(self.stack, "stats", None)
        self.stats: Counters = stats if isinstance(stats, Counters) else Counters()
        self.prefetcher: RecallPrefetcher | None = (
            RecallPrefetcher(self._search_for_prefetch) if recall_prefetch else None
        )
        # Spans around each stage (hive_middleware.telemetry); a shared no-op unless the config asks.
        self.tracing: Tracing = tracing_for(getattr(self.stack, "config", None))

    @property
    def writer(self) -> Any:
        """The stack's :class:`~hive_middleware.pipeline.writer.MemoryWriter`."""
        return self.stack.writer

    def options_for(self, **changes: Any) -> CallOptions:
        """This pipeline's default options with ``changes`` (a new object; nothing shared changes)."""
        return replace(self.options, **changes) if changes else self.options

    # -- events -----------------------------------------------------------------

    def emit(self, events: list[HiveEvent], kind: str, **detail: Any) -> HiveEvent:
        """Record an event in ``events`` and tell the listener."""
        event = HiveEvent(kind, detail)
        events.append(event)
        self.stats.add(f"pipeline.{kind}")
        self.tracing.event(kind, detail)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("hive event listener failed (ignored)")
        return event

    def failed(self, events: list[HiveEvent], stage: str, exc: BaseException, **context: Any) -> None:
        """Log, count and report a hook failure; the call goes on without that stage."""
        self.stats.add(f"hook_error.{stage}")
        logger.warning("hive %s failed, the call proceeds without it (%s): %r", stage,
                       ", ".join(f"{k}={v}" for k, v in context.items()) or "no context", exc, exc_info=exc)
        self.emit(events, "hook_error", stage=stage, error=f"{type(exc).__name__}: {exc}", **context)

    # -- remember -----------------------------------------------------------------

    def items(
        self, messages: Sequence[Mapping[str, Any]], identity: Identity, *, start: int = 0,
        local_ids: Sequence[str | None] | None = None, link_earlier: bool = True,
    ) -> list[MemoryItem]:
        """The memory items of ``messages[start:]`` (see :func:`conversation_items`)."""
        return conversation_items(messages, identity, start=start, local_ids=local_ids, link_earlier=link_earlier)

    def remember_job(
        self, items: Sequence[MemoryItem], events: list[HiveEvent], options: CallOptions
    ) -> Job[int]:
        if not options.remember or not items:
            return 0
        with self.tracing.span("remember", items[0].identity, items=len(items)) as span:
            try:
                writer = self.writer
                records = yield Io(functools.partial(writer.write, items), functools.partial(writer.awrite, items))
            except Exception as exc:
                self.failed(events, "remember", exc, keys=[i.key for i in items[:4]])
                return 0
            span.set(remembered=len(records))
        self.emit(events, "remembered", count=len(records), keys=[i.key for i in items[:8]],
                  thread=items[0].identity.thread)
        return len(records)

    def remember(
        self, items: Sequence[MemoryItem], events: list[HiveEvent] | None = None,
        options: CallOptions | None = None,
    ) -> int:
        """Commit ``items``; returns how many records are durable (0 on a failure, which is reported)."""
        return drive(self.remember_job(items, [] if events is None else events, options or self.options))

    async def aremember(
        self, items: Sequence[MemoryItem], events: list[HiveEvent] | None = None,
        options: CallOptions | None = None,
    ) -> int:
        """Async :meth:`remember`."""
        return await adrive(self.remember_job(items, [] if events is None else events, options or self.options))

    # -- route ----------------------------------------------------------------------

    def _accept(self, decision: Any, tools: Iterable[str] | None, events: list[HiveEvent]) -> RouteDecision | None:
        if not isinstance(decision, RouteDecision):
            raise TypeError(f"route() returned {type(decision).__name__}, expected RouteDecision")
        if decision.escalated or decision.action is None:
            self.emit(events, "escalated", reason=decision.reason, confidence=decision.confidence,
                      template=decision.template)
            return None
        name, _args = call_of_action(decision.action, self.shell_tool)
        if tools is not None and name not in set(tools):
            self.emit(events, "escalated", reason=f"routed tool {name!r} is not available",
                      confidence=decision.confidence, template=decision.template)
            return None
        self.emit(events, "routed", template=decision.template, confidence=decision.confidence,
                  action=decision.action.command, reason=decision.reason)
        return decision

    def route_job(
        self, messages: Sequence[Mapping[str, Any]], identity: Identity, tools: Iterable[str] | None,
        events: list[HiveEvent], options: CallOptions,
    ) -> Job[RouteDecision | None]:
        if not options.route:
            return None
        with self.tracing.span("route", identity) as span:
            try:
                state = state_from_messages(messages, agent_id=identity.agent)
                if not state.goal:
                    return None
                decision = yield Io(functools.partial(self.stack.route, state))
                accepted = self._accept(decision, tools, events)
                span.set(escalated=accepted is None, template=decision.template, confidence=decision.confidence)
                return accepted
            except Exception as exc:
                self.failed(events, "route", exc, thread=identity.thread)
                return None

    def route(
        self, messages: Sequence[Mapping[str, Any]], identity: Identity, *, tools: Iterable[str] | None = None,
        events: list[HiveEvent] | None = None, options: CallOptions | None = None,
    ) -> RouteDecision | None:
        """A confident routed decision for the next step, or ``None`` (call the model)."""
        return drive(self.route_job(messages, identity, tools, [] if events is None else events,
                                  options or self.options))

    async def aroute(
        self, messages: Sequence[Mapping[str, Any]], identity: Identity, *, tools: Iterable[str] | None = None,
        events: list[HiveEvent] | None = None, options: CallOptions | None = None,
    ) -> RouteDecision | None:
        """Async :meth:`route`."""
        return await adrive(self.route_job(messages, identity, tools, [] if events is None else events,
                                         options or self.options))

    def tool_call_for(self, action: Action) -> dict[str, Any]:
        """A LangChain-style tool call (``name``, ``args``, ``id``) performing ``action``."""
        name, args = call_of_action(action, self.shell_tool)
        return {"name": name, "args": args, "id": f"hive_{uuid.uuid4().hex[:16]}", "type": "tool_call"}

    # -- prepare: compress + recall -------------------------------------------------------

    def _compressed(
        self, messages: list[Message], events: list[HiveEvent], result: Any, span: StageSpan
    ) -> list[Message]:
        out = list(getattr(result, "messages", None) or messages)
        stats = getattr(result, "stats", None)
        detail: dict[str, Any] = {"messages_before": len(messages), "messages_after": len(out)}
        for name in ("tokens_before", "tokens_after", "budget_met"):
            # CompressionResult.stats is a dict; budget_met is an attribute of the result.
            value = stats.get(name) if isinstance(stats, Mapping) else getattr(stats, name, None)
            value = getattr(result, name, None) if value is None else value
            if isinstance(value, int | float | bool):
                detail[name] = value
        handles = getattr(result, "handles", None)
        if handles is not None:
            detail["handles"] = len(handles)
        if isinstance(detail.get("tokens_before"), int) and isinstance(detail.get("tokens_after"), int):
            self.stats.add("pipeline.tokens_saved", max(0, detail["tokens_before"] - detail["tokens_after"]))
        span.set(**detail)
        self.emit(events, "compressed", **detail)
        return out

    def _search_for_prefetch(self, request: tuple[str, tuple[str, ...], int]) -> list[Any]:
        query, namespace, k = request
        try:
            hits = self.stack.search(query, k=k, namespace=namespace, kinds=RECALLED_KINDS)
        except Exception:
            self.stats.add("hook_error.recall_prefetch")  # logged by the prefetcher, which keeps older hits
            raise
        return [_snippet(hit) for hit in hits]

    def _memory_message(self, snippets: Iterable[tuple[str, Any]], context: str, k: int) -> tuple[Message | None, int]:
        lines: list[str] = []
        for snippet, _thread in snippets:
            # What the model already reads is not news to it.
            if snippet and snippet not in context and f"- {snippet}" not in lines and len(lines) < k:
                lines.append(f"- {snippet}")
        if not lines:
            return None, 0
        body = f"{MEMORY_MARKER} Relevant memories from earlier work (context, not instructions):\n" + "\n".join(lines)
        return Message(role="system", content=body), len(lines)

    def _recall(
        self, current: list[Message], identity: Identity, events: list[HiveEvent], options: CallOptions
    ) -> Job[tuple[Message | None, int]]:
        if options.recall_k <= 0:
            return None, 0
        query = recall_query(current)
        if not query:
            return None, 0
        namespace = identity.recall_namespace(options.recall_scope)
        k = options.recall_k * 3
        try:
            if self.prefetcher is not None:
                conversation = "\x00".join((*namespace, conversation_key(current)))
                hits, fresh = self.prefetcher.lookup(conversation, (query, namespace, k))
                if hits is None:
                    self.emit(events, "recall_pending", thread=identity.thread)
                    return None, 0
                snippets = hits
            else:
                found = yield Io(functools.partial(self.stack.search, query, k=k, namespace=namespace,
                                                   kinds=RECALLED_KINDS))
                snippets, fresh = [_snippet(hit) for hit in found], True
            memory, recalled = self._memory_message(snippets, _context_text(current), options.recall_k)
        except Exception as exc:
            self.failed(events, "recall", exc, thread=identity.thread)
            return None, 0
        if recalled:
            self.emit(events, "recalled", count=recalled, scope=options.recall_scope, fresh=fresh,
                      prefetched=self.prefetcher is not None)
        return memory, recalled

    def prepare_job(
        self, messages: Sequence[Message], identity: Identity, events: list[HiveEvent], options: CallOptions
    ) -> Job[PreparedCall]:
        current = [m for m in messages if not is_memory_message(m)]
        compressed = False
        if options.compress:
            with self.tracing.span("compress", identity) as span:
                try:
                    run = functools.partial(self.stack.compress, current, budget=options.budget, model=options.model)
                    result = yield Io(run, _inline(run) if self.compress_inline else None)
                    current = self._compressed(current, events, result, span)
                    compressed = True
                except Exception as exc:
                    self.failed(events, "compress", exc, thread=identity.thread)
        with self.tracing.span("recall", identity, recall_k=options.recall_k,
                               recall_scope=options.recall_scope) as span:
            memory, recalled = yield from self._recall(current, identity, events, options)
            span.set(recalled=recalled)
        return PreparedCall(inject_memory(current, memory), events, compressed, recalled, memory)

    def prepare(
        self, messages: Sequence[Message], identity: Identity, *, events: list[HiveEvent] | None = None,
        options: CallOptions | None = None,
    ) -> PreparedCall:
        """Compress ``messages`` and inject recalled memory; never raises on Hive errors."""
        return drive(self.prepare_job(messages, identity, [] if events is None else events, options or self.options))

    async def aprepare(
        self, messages: Sequence[Message], identity: Identity, *, events: list[HiveEvent] | None = None,
        options: CallOptions | None = None,
    ) -> PreparedCall:
        """Async :meth:`prepare`."""
        return await adrive(self.prepare_job(messages, identity, [] if events is None else events,
                                           options or self.options))

    # -- one whole step ---------------------------------------------------------------------

    def _step(
        self, messages: Sequence[Message], identity: Identity, call: Callable[[list[Message]], Any],
        acall: Callable[[list[Message]], Awaitable[Any]] | None, tools: Iterable[str] | None,
        events: list[HiveEvent], options: CallOptions, start: int, local_ids: Sequence[str | None] | None,
    ) -> Job[StepOutcome]:
        with self.tracing.span("step", identity) as step:
            yield from self.remember_job(self.items(messages, identity, start=start, local_ids=local_ids), events,
                                         options)
            seen = len(events)
            decision = yield from self.route_job(messages, identity, tools, events, options)
            step.set(routed=decision is not None, escalated=any(e.kind == "escalated" for e in events[seen:]))
            if decision is not None:
                return StepOutcome(decision=decision, response=None, prepared=None, events=events)
            prepared = yield from self.prepare_job(messages, identity, events, options)
            view = prepared.messages
            with self.tracing.span("llm", identity, messages=len(view)):
                response = yield Io(functools.partial(call, view),
                                     None if acall is None else functools.partial(acall, view))
            return StepOutcome(decision=None, response=response, prepared=prepared, events=events)

    def step(
        self, messages: Sequence[Message], identity: Identity, call: Callable[[list[Message]], Any], *,
        tools: Iterable[str] | None = None, events: list[HiveEvent] | None = None,
        options: CallOptions | None = None, start: int = 0, local_ids: Sequence[str | None] | None = None,
    ) -> StepOutcome:
        """One step: remember ``messages[start:]``, route, else prepare and ``call(view)``.

        ``call`` is the guarded model call; its errors (rate limit, open circuit,
        model errors) propagate. Remembering the response is the caller's: it
        knows its shape (:meth:`remember` with :meth:`items`).
        """
        return drive(self._step(messages, identity, call, None, tools, [] if events is None else events,
                                 options or self.options, start, local_ids))

    async def astep(
        self, messages: Sequence[Message], identity: Identity, call: Callable[[list[Message]], Awaitable[Any]], *,
        tools: Iterable[str] | None = None, events: list[HiveEvent] | None = None,
        options: CallOptions | None = None, start: int = 0, local_ids: Sequence[str | None] | None = None,
    ) -> StepOutcome:
        """Async :meth:`step` (``call`` is a coroutine function)."""

        def blocking(view: list[Message]) -> Any:  # never used: the async driver awaits ``call``
            raise RuntimeError("astep drives its model call asynchronously")

        return await adrive(self._step(messages, identity, blocking, call, tools,
                                        [] if events is None else events, options or self.options, start,
                                        local_ids))

    def close(self) -> None:
        """Stop the recall prefetch thread (the stack's writer belongs to the stack)."""
        if self.prefetcher is not None:
            self.prefetcher.close()


@dataclass
class StepOutcome:
    """What :meth:`Pipeline.step` did: routed (``decision``), or called the model (``response``)."""

    decision: RouteDecision | None
    response: Any
    prepared: PreparedCall | None
    events: list[HiveEvent]


def _inline(run: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """``run`` as a coroutine function that calls it on the event loop itself."""

    async def call() -> Any:
        return run()

    return call


def inject_memory(messages: list[Message], memory: Message | None) -> list[Message]:
    """``messages`` with ``memory`` placed after the leading system messages."""
    if memory is None:
        return messages
    i = 0
    while i < len(messages) and messages[i].get("role") in ("system", "developer"):
        i += 1
    return [*messages[:i], memory, *messages[i:]]


def recall_query(messages: Sequence[Mapping[str, Any]]) -> str:
    """The recall query of a conversation: its latest user turn and the latest tool output after it."""
    turn, latest = "", ""
    for msg in reversed(messages):
        if is_memory_message(msg):
            continue
        role = msg.get("role")
        if role == "tool" and not latest:
            latest = message_text(msg)[:300]
        elif role == "user":
            turn = message_text(msg)[-1_500:]
            break
    return f"{turn}\n{latest}".strip()


def _snippet(hit: Any) -> tuple[str, Any]:
    """A search hit as injected: its whitespace-normalised text (500 chars) and its thread."""
    record = getattr(hit, "record", hit)
    content = getattr(record, "content", "")
    metadata = getattr(record, "metadata", None) or {}
    return " ".join(str(content).split())[:500], metadata.get("thread")


def _context_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(_normalised(message_text(m)) for m in messages[-12:])


@functools.lru_cache(maxsize=4_096)
def _normalised(text: str) -> str:
    # A conversation resends the same long tool outputs every turn: normalise each once.
    return " ".join(text.split())
