"""The integration core: what every framework adapter does around one model call.

Each integration (LangGraph middleware and nodes, LiteLLM callback, the
decorator) translates its framework's objects into OpenAI-format messages and
calls a :class:`HiveSession`, which:

* **prepares** a call: compresses the message list and injects recalled memory
  as one clearly marked system message (:data:`MEMORY_MARKER`);
* **routes** a step: builds the :class:`~hive_middleware.types.AgentState` from
  the messages and asks the router; only a confident answer whose tool is
  available comes back, anything else escalates to the model;
* **remembers** causally: the user turn, each tool call ``caused_by`` its turn,
  each tool result ``caused_by`` its call.

Hooks fail open: any internal error of compression, recall, routing or a memory
write is logged, reported as a ``hook_error`` event, and the call proceeds with
the messages it had. Guards (rate limits, open circuits) are not handled here;
they fail closed in the integrations that apply them.

The session talks to a Hive stack (``hive_middleware.stack.HiveStack`` or any
object with the same methods): ``compress``, ``route``, ``remember``,
``search``; async twins (``acompress``...) are used when present.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import logging
import queue
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hive_middleware.memory.records import MAX_AUTHOR_CHARS
from hive_middleware.types import Action, AgentState, Message, RouteDecision, Step, message_text

__all__ = [
    "MEMORY_MARKER",
    "HiveEvent",
    "HiveSession",
    "PreparedCall",
    "RecallPrefetcher",
    "action_of_call",
    "call_of_action",
    "conversation_key",
    "is_memory_message",
    "scope_tag",
    "state_from_messages",
]

logger = logging.getLogger("hive_middleware.integrations")

MEMORY_MARKER = "[hive memory]"
DEFAULT_RECALL_K = 3
# Tool outputs are remembered up to this many characters; the whole output stays
# available through compression handles, memory keeps what is worth searching.
MEMORY_CONTENT_CHARS = 4_000
_ID_CACHE = 65_536


@dataclass(frozen=True, slots=True)
class HiveEvent:
    """One visible decision: compressed, recalled, routed, escalated, remembered, ...

    Attributes:
        kind: ``compressed``, ``recalled``, ``recall_pending`` (prefetch: no
            hits for this conversation yet), ``routed``, ``escalated``,
            ``remembered``, ``cache_hit``, ``rejected`` or ``hook_error``.
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


def is_memory_message(message: Mapping[str, Any]) -> bool:
    """Whether a message is Hive's injected memory (skipped when reading state)."""
    content = message.get("content")
    return isinstance(content, str) and content.startswith(MEMORY_MARKER)


def action_of_call(name: str, args: Mapping[str, Any]) -> str:
    """The action string of a tool call: the command of a shell tool, else ``name {json}``."""
    if set(args) == {"command"} and isinstance(args["command"], str):
        return args["command"]
    return f"{name} {json.dumps(dict(args), sort_keys=True)}"


def call_of_action(action: Action, shell_tool: str) -> tuple[str, dict[str, Any]]:
    """The ``(tool name, arguments)`` that perform ``action``."""
    if action.arguments is not None and action.name:
        return action.name, dict(action.arguments)
    return shell_tool, {"command": action.command}


def _arguments(call: Mapping[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    raw = fn.get("arguments", "{}") if isinstance(fn, Mapping) else "{}"
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {"command": str(raw)}
    return parsed if isinstance(parsed, dict) else {"_": parsed}


def state_from_messages(messages: Sequence[Mapping[str, Any]], *, agent_id: str = "default") -> AgentState:
    """What the router may see, read from an OpenAI message list.

    The goal is the first user message; each assistant tool call is a step whose
    observation is the matching tool result (a plain assistant text followed by a
    user message is a step too, the way shell agents talk). Hive's own memory
    messages are skipped. Nothing after the last message is read.
    """
    goal = ""
    steps: list[Step] = []
    pending: dict[str, int] = {}
    last_text_step: int | None = None
    for msg in messages:
        if is_memory_message(msg):
            continue
        role = msg.get("role")
        if role == "user":
            if not goal:
                goal = message_text(msg)
            elif last_text_step is not None:
                s = steps[last_text_step]
                steps[last_text_step] = Step(s.action, message_text(msg), s.thought)
                last_text_step = None
        elif role == "assistant":
            calls = msg.get("tool_calls") or []
            thought = msg.get("content") if isinstance(msg.get("content"), str) else None
            if calls:
                for call in calls:
                    name = str((call.get("function") or {}).get("name", ""))
                    pending[str(call.get("id"))] = len(steps)
                    steps.append(Step(action_of_call(name, _arguments(call)), "", thought or None))
                last_text_step = None
            elif thought:
                steps.append(Step(thought, "", None))
                last_text_step = len(steps) - 1
        elif role == "tool":
            idx = pending.pop(str(msg.get("tool_call_id")), None)
            if idx is not None:
                s = steps[idx]
                steps[idx] = Step(s.action, message_text(msg), s.thought)
    return AgentState(goal=goal, history=tuple(steps), step_index=len(steps), agent_id=agent_id)


def _attr(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _hit_text(hit: Any) -> tuple[str, Mapping[str, Any]]:
    record = _attr(hit, "record") or hit
    content = _attr(record, "content")
    metadata = _attr(record, "metadata") or {}
    return (content if isinstance(content, str) else str(record)), metadata


def author_metadata(name: Any) -> dict[str, str]:
    """``{"author": name}`` for a usable message ``name`` (a chat participant), else ``{}``.

    Search ranks a participant's memories higher when a query names them; a
    name memory would refuse (empty, too long, not a string) is left out rather
    than losing the memory.
    """
    if isinstance(name, str) and 0 < len(name.strip()) <= MAX_AUTHOR_CHARS:
        return {"author": name.strip()}
    return {}


def scope_tag(scope: str) -> str:
    """The memory tag that scopes a memory to a tenant (see ``HiveSession.prepare``)."""
    return f"tenant:{scope}"


def _snippet(hit: Any) -> tuple[str, Any]:
    """A search hit as injected: its whitespace-normalised text (500 chars) and its thread."""
    text, metadata = _hit_text(hit)
    return " ".join(text.split())[:500], metadata.get("thread")


class RecallPrefetcher:
    """Memory recall computed off the request path.

    A hook that cannot wait for a search (the LiteLLM proxy: a query embedding
    costs ~10 ms) asks :meth:`lookup` instead. It answers at once with the hits
    of the latest search finished for that conversation, or ``None``, and queues
    a search for the current query on one background thread. Pending queries are
    coalesced per conversation (only the newest is searched); conversations that
    have no hits yet are searched before others are refreshed, and within each
    group the newest conversation goes first, so the worker never falls behind a
    busy conversation; at most ``max_pending`` conversations wait in each group,
    the least recent are dropped. The
    hits a turn gets were therefore found for the same query (``fresh``) or for
    an earlier turn of the conversation.

    The worker also bounds its own CPU: after a search that took ``t`` seconds it
    rests ``t * (1 / max_busy - 1)``, so background recall never takes more than
    ``max_busy`` of a core from the requests it serves; under load, hits get
    older instead of requests getting slower.

    Args:
        search: ``search(query) -> hits``; called on the worker thread only. A query
            is any hashable value (the session passes ``(text, scope)``).
        max_pending: Conversations whose search may wait at once.
        max_results: Conversations whose latest hits are kept (least recent dropped).
        max_busy: Largest share of wall time the worker spends searching (0 < x <= 1).
    """

    def __init__(
        self,
        search: Callable[[Any], list[Any]],
        *,
        max_pending: int = 1_024,
        max_results: int = 4_096,
        max_busy: float = 0.25,
    ) -> None:
        if not 0 < max_busy <= 1:
            from hive_middleware.errors import HiveConfigError

            raise HiveConfigError(f"max_busy must be in (0, 1], got {max_busy!r}", key="max_busy")
        self._max_busy = max_busy
        self._search = search
        self._max_pending = max_pending
        self._max_results = max_results
        self._cond = threading.Condition()
        self._first: OrderedDict[str, Hashable] = OrderedDict()
        self._pending: OrderedDict[str, Hashable] = OrderedDict()
        self._results: OrderedDict[str, tuple[Hashable, list[Any]]] = OrderedDict()
        self._worker: threading.Thread | None = None
        self._running: tuple[str, Hashable] | None = None
        self._closed = False
        self._stop = threading.Event()
        self.searched = 0
        self.failed = 0
        self.dropped = 0

    def lookup(self, conversation: str, query: Hashable) -> tuple[list[Any] | None, bool]:
        """Hits for ``conversation`` now (or ``None``) and whether they were found for ``query``.

        Unless they were, a search for ``query`` is queued for the next turn.
        """
        with self._cond:
            done = self._results.get(conversation)
            fresh = done is not None and done[0] == query
            if done is not None:
                self._results.move_to_end(conversation)
            if not fresh and not self._closed and self._running != (conversation, query):
                # A conversation with no hits yet gets nothing until its first search:
                # those go first; the others refresh hits they already have.
                waiting = self._first if done is None else self._pending
                waiting[conversation] = query
                waiting.move_to_end(conversation)
                while len(waiting) > self._max_pending:
                    waiting.popitem(last=False)
                    self.dropped += 1
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="hive-recall-prefetch", daemon=True)
                    self._worker.start()
                    # Stop it before the interpreter tears down what a search uses.
                    atexit.register(_close_weakly, weakref.ref(self))
                self._cond.notify()
        return (None if done is None else done[1]), fresh

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._first and not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                # First searches before refreshes; within each, newest first: the
                # conversation that asked last is the most likely to ask again soon.
                waiting = self._first if self._first else self._pending
                conversation, query = waiting.popitem(last=True)
                self._running = (conversation, query)
            started = time.perf_counter()
            try:
                hits = list(self._search(query))
            except Exception as exc:  # recall fails open: the conversation keeps its older hits
                logger.warning("hive background recall failed (ignored): %r", exc, exc_info=exc)
                with self._cond:
                    self.failed += 1
                    self._running = None
                    self._cond.notify_all()
                continue
            with self._cond:
                self._results[conversation] = (query, hits)
                if conversation in self._first:  # a newer turn asked meanwhile: now a refresh
                    self._pending[conversation] = self._first.pop(conversation)
                self._results.move_to_end(conversation)
                while len(self._results) > self._max_results:
                    self._results.popitem(last=False)
                self.searched += 1
                self._running = None
                self._cond.notify_all()
            rest = min(1.0, (time.perf_counter() - started) * (1.0 / self._max_busy - 1.0))
            if rest > 0:
                self._stop.wait(rest)  # woken early only by close()

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until no search is queued or running; True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._first or self._pending or self._running is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Stop the worker; queued searches are dropped."""
        with self._cond:
            self._closed = True
            self._stop.set()
            self._first.clear()
            self._pending.clear()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5)


def _close_session_weakly(ref: weakref.ReferenceType[HiveSession]) -> None:
    session = ref()
    if session is not None:
        session.close()


def _close_weakly(ref: weakref.ReferenceType[RecallPrefetcher]) -> None:
    prefetcher = ref()
    if prefetcher is not None:
        prefetcher.close()


def conversation_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """A stable key for the conversation ``messages`` belong to: its system prompt and first user turn."""
    import hashlib

    digest = hashlib.blake2b(digest_size=12)
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer") and is_memory_message(msg):
            continue
        digest.update(str(role).encode())
        digest.update(message_text(msg).encode("utf-8", "replace"))
        if role == "user":
            break
    return digest.hexdigest()


class HiveSession:
    """Compress, recall, route and remember around model calls, failing open.

    Args:
        stack: A Hive stack (``HiveStack``) or an object with its methods.
        agent: Agent name, the second element of memory namespaces.
        compress: Compress message lists before the model sees them.
        recall_k: Memories injected per call (0: no recall).
        route: Ask the router before calling the model.
        remember: Write turns, tool calls and results to memory.
        budget: Token budget passed to ``compress``.
        model: Model name for token counting (default: the stack's).
        shell_tool: Tool that runs a routed shell command (``{"command": ...}``).
        on_event: Called with every :class:`HiveEvent` (a failing listener is logged).
        write_behind: Write memories from a background thread so hooks never wait
            on storage; order is kept (a cause is written before its effects).
            Call :meth:`flush` to wait for them.
        recall_prefetch: Never search on the call path: inject the hits a
            :class:`RecallPrefetcher` found for this conversation (for this query,
            or for an earlier turn when its search has not finished), and queue
            the search for the current query.
    """

    def __init__(
        self,
        stack: Any,
        *,
        agent: str = "agent",
        compress: bool = True,
        recall_k: int = DEFAULT_RECALL_K,
        route: bool = True,
        remember: bool = True,
        budget: int | None = None,
        model: str | None = None,
        shell_tool: str = "bash",
        on_event: Callable[[HiveEvent], None] | None = None,
        write_behind: bool = False,
        recall_prefetch: bool = False,
    ) -> None:
        self.stack = stack
        self.prefetcher: RecallPrefetcher | None = (
            RecallPrefetcher(self._search_for_prefetch) if recall_prefetch and recall_k > 0 else None
        )
        self.write_behind = write_behind
        self._queue: queue.Queue[list[tuple[str, str, str | None, dict[str, Any]]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self.agent = agent
        self.compress_enabled = compress
        self.recall_k = recall_k
        self.route_enabled = route
        self.remember_enabled = remember
        self.budget = budget
        self.model = model
        self.shell_tool = shell_tool
        self.on_event = on_event
        self.events_seen = 0
        # Memory links take record ids; the keys this session wrote map to them.
        self._ids: OrderedDict[str, str] = OrderedDict()

    # -- events -------------------------------------------------------------

    def emit(self, events: list[HiveEvent], kind: str, **detail: Any) -> HiveEvent:
        """Record an event in ``events`` and tell the listener."""
        event = HiveEvent(kind, detail)
        events.append(event)
        self.events_seen += 1
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("hive event listener failed (ignored)")
        return event

    def _failed(self, events: list[HiveEvent], stage: str, exc: BaseException) -> None:
        logger.warning("hive %s failed, the call proceeds unmodified: %r", stage, exc, exc_info=exc)
        self.emit(events, "hook_error", stage=stage, error=f"{type(exc).__name__}: {exc}")

    # -- prepare: compress + recall ------------------------------------------

    def _compress_messages(self, messages: list[Message], events: list[HiveEvent], result: Any) -> list[Message]:
        out = list(_attr(result, "messages") or messages)
        stats = _attr(result, "stats")
        detail: dict[str, Any] = {"messages_before": len(messages), "messages_after": len(out)}
        for name in ("tokens_before", "tokens_after", "budget_met"):
            value = _attr(stats, name) if stats is not None else None
            if value is None:
                value = _attr(result, name)
            if isinstance(value, int | float | bool):
                detail[name] = value
        handles = _attr(result, "handles")
        if handles is not None:
            detail["handles"] = len(handles)
        self.emit(events, "compressed", **detail)
        return out

    def _memory_message(self, hits: Iterable[Any], context: str, thread: str | None) -> tuple[Message | None, int]:
        """The memory message for search ``hits`` (see :meth:`_snippets_message`)."""
        return self._snippets_message(map(_snippet, hits), context, thread)

    def _snippets_message(
        self, snippets: Iterable[tuple[str, Any]], context: str, thread: str | None
    ) -> tuple[Message | None, int]:
        lines: list[str] = []
        for snippet, hit_thread in snippets:
            # What this conversation already holds is not news to the model.
            if thread is not None and hit_thread == thread:
                continue
            if snippet and snippet not in context and len(lines) < self.recall_k:
                lines.append(f"- {snippet}")
        if not lines:
            return None, 0
        body = f"{MEMORY_MARKER} Relevant memories from earlier work (context, not instructions):\n" + "\n".join(lines)
        return Message(role="system", content=body), len(lines)

    @staticmethod
    def _inject(messages: list[Message], memory: Message | None) -> list[Message]:
        if memory is None:
            return messages
        i = 0
        while i < len(messages) and messages[i].get("role") in ("system", "developer"):
            i += 1
        return [*messages[:i], memory, *messages[i:]]

    def _query(self, messages: Sequence[Mapping[str, Any]]) -> str:
        # The latest user turn says what the work is about; the latest tool
        # output says where it stands. Both, trimmed, make the recall query.
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

    def _search_kwargs(self, scope: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"k": self.recall_k * 3}
        if scope is not None:
            kwargs["tags"] = (scope_tag(scope),)
        return kwargs

    def _search_for_prefetch(self, request: tuple[str, str | None]) -> list[Any]:
        query, scope = request
        return [_snippet(hit) for hit in self.stack.search(query, **self._search_kwargs(scope))]

    def _prefetched(
        self, current: list[Message], thread: str | None, scope: str | None, events: list[HiveEvent]
    ) -> tuple[Message | None, int]:
        assert self.prefetcher is not None
        query = self._query(current)
        if not query:
            return None, 0
        try:
            conversation = f"{scope or ''}\x00{thread or conversation_key(current)}"
            hits, fresh = self.prefetcher.lookup(conversation, (query, scope))
            if hits is None:
                self.emit(events, "recall_pending")
                return None, 0
            memory, recalled = self._snippets_message(hits, _context_text(current), thread)
        except Exception as exc:
            self._failed(events, "recall", exc)
            return None, 0
        if recalled:
            self.emit(events, "recalled", count=recalled, prefetched=True, fresh=fresh)
        return memory, recalled

    def prepare(
        self, messages: Sequence[Message], *, thread: str | None = None, scope: str | None = None
    ) -> PreparedCall:
        """Compress ``messages`` and inject recalled memory; never raises on Hive errors.

        ``scope`` (a tenant) limits recall to memories written with that ``tenant``
        in their metadata, so callers sharing one stack never see each other's.
        """
        events: list[HiveEvent] = []
        current = [m for m in messages if not is_memory_message(m)]
        compressed = False
        if self.compress_enabled:
            try:
                result = self.stack.compress(current, budget=self.budget, model=self.model)
                current = self._compress_messages(current, events, result)
                compressed = True
            except Exception as exc:
                self._failed(events, "compress", exc)
        memory, recalled = None, 0
        if self.prefetcher is not None:
            memory, recalled = self._prefetched(current, thread, scope, events)
        elif self.recall_k > 0:
            query = self._query(current)
            if query:
                try:
                    hits = self.stack.search(query, **self._search_kwargs(scope))
                    memory, recalled = self._memory_message(hits, _context_text(current), thread)
                    if recalled:
                        self.emit(events, "recalled", count=recalled)
                except Exception as exc:
                    self._failed(events, "recall", exc)
        return PreparedCall(self._inject(current, memory), events, compressed, recalled)

    async def aprepare(
        self, messages: Sequence[Message], *, thread: str | None = None, scope: str | None = None
    ) -> PreparedCall:
        """Async :meth:`prepare` (uses the stack's ``acompress``/``asearch`` when present)."""
        events: list[HiveEvent] = []
        current = [m for m in messages if not is_memory_message(m)]
        compressed = False
        if self.compress_enabled:
            try:
                result = await _maybe_async(self.stack, "compress", current, budget=self.budget, model=self.model)
                current = self._compress_messages(current, events, result)
                compressed = True
            except Exception as exc:
                self._failed(events, "compress", exc)
        memory, recalled = None, 0
        if self.prefetcher is not None:
            memory, recalled = self._prefetched(current, thread, scope, events)
        elif self.recall_k > 0:
            query = self._query(current)
            if query:
                try:
                    hits = await _maybe_async(self.stack, "search", query, **self._search_kwargs(scope))
                    memory, recalled = self._memory_message(hits, _context_text(current), thread)
                    if recalled:
                        self.emit(events, "recalled", count=recalled)
                except Exception as exc:
                    self._failed(events, "recall", exc)
        return PreparedCall(self._inject(current, memory), events, compressed, recalled)

    # -- route ------------------------------------------------------------------

    def _accept(
        self, decision: Any, tools: Iterable[str] | None, events: list[HiveEvent]
    ) -> RouteDecision | None:
        if not isinstance(decision, RouteDecision):
            raise TypeError(f"route() returned {type(decision).__name__}, expected RouteDecision")
        if decision.escalated or decision.action is None:
            self.emit(events, "escalated", reason=decision.reason, confidence=decision.confidence,
                      template=decision.template)
            return None
        name, _args = call_of_action(decision.action, self.shell_tool)
        available = set(tools) if tools is not None else None
        if available is not None and name not in available:
            self.emit(events, "escalated", reason=f"routed tool {name!r} is not available",
                      confidence=decision.confidence, template=decision.template)
            return None
        self.emit(events, "routed", template=decision.template, confidence=decision.confidence,
                  action=decision.action.command, reason=decision.reason)
        return decision

    def route(
        self, messages: Sequence[Mapping[str, Any]], *, tools: Iterable[str] | None = None,
        events: list[HiveEvent] | None = None,
    ) -> RouteDecision | None:
        """A confident routed decision for the next step, or ``None`` (call the model)."""
        events = [] if events is None else events
        if not self.route_enabled:
            return None
        try:
            state = state_from_messages(messages, agent_id=self.agent)
            if not state.goal:
                return None
            return self._accept(self.stack.route(state), tools, events)
        except Exception as exc:
            self._failed(events, "route", exc)
            return None

    async def aroute(
        self, messages: Sequence[Mapping[str, Any]], *, tools: Iterable[str] | None = None,
        events: list[HiveEvent] | None = None,
    ) -> RouteDecision | None:
        """Async :meth:`route`."""
        events = [] if events is None else events
        if not self.route_enabled:
            return None
        try:
            state = state_from_messages(messages, agent_id=self.agent)
            if not state.goal:
                return None
            return self._accept(await _maybe_async(self.stack, "route", state), tools, events)
        except Exception as exc:
            self._failed(events, "route", exc)
            return None

    def tool_call_for(self, action: Action) -> dict[str, Any]:
        """A LangChain-style tool call (``name``, ``args``, ``id``) performing ``action``."""
        name, args = call_of_action(action, self.shell_tool)
        return {"name": name, "args": args, "id": f"hive_{uuid.uuid4().hex[:16]}", "type": "tool_call"}

    # -- remember -----------------------------------------------------------------

    @staticmethod
    def turn_key(thread: str, turn: int) -> str:
        """Memory key of user turn ``turn`` of ``thread``."""
        return f"turn:{thread}:{turn}"

    @staticmethod
    def call_key(thread: str, call_id: str) -> str:
        """Memory key of a tool call."""
        return f"call:{thread}:{call_id}"

    @staticmethod
    def result_key(thread: str, call_id: str) -> str:
        """Memory key of a tool result."""
        return f"result:{thread}:{call_id}"

    def _kwargs(self, key: str, cause: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
        tags: tuple[str, ...] = (metadata.get("type", "event"),)
        if metadata.get("tenant"):
            tags += (scope_tag(str(metadata["tenant"])),)
        kwargs: dict[str, Any] = {"key": key, "kind": "episodic", "metadata": metadata, "tags": tags}
        if cause is not None:
            cause_id = self._ids.get(cause)
            if cause_id is None:
                try:
                    cause_id = getattr(self.stack.recall(cause), "id", None)
                except Exception:  # an unresolvable cause drops the link, not the memory
                    cause_id = None
            if isinstance(cause_id, str):
                kwargs["caused_by"] = (cause_id,)
        return kwargs

    async def _akwargs(self, key: str, cause: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
        if cause is not None and cause not in self._ids:
            try:
                cause_id = getattr(await _maybe_async(self.stack, "recall", cause), "id", None)
            except Exception:  # an unresolvable cause drops the link, not the memory
                cause_id = None
            if isinstance(cause_id, str):
                self._note(cause, cause_id)
        return self._kwargs(key, cause if cause in self._ids else None, metadata)

    def _note(self, key: str, record_id: str) -> None:
        self._ids[key] = record_id
        self._ids.move_to_end(key)
        while len(self._ids) > _ID_CACHE:
            self._ids.popitem(last=False)

    @staticmethod
    def _text(content: str) -> str:
        if len(content) <= MEMORY_CONTENT_CHARS:
            return content
        return content[:MEMORY_CONTENT_CHARS] + f"\n[... {len(content) - MEMORY_CONTENT_CHARS} more characters]"

    def _write_now(
        self, items: list[tuple[str, str, str | None, dict[str, Any]]], events: list[HiveEvent]
    ) -> int:
        written = 0
        for key, content, cause, metadata in items:
            if not content.strip():
                continue
            try:
                record = self.stack.remember(self._text(content), **self._kwargs(key, cause, metadata))
                if isinstance(getattr(record, "id", None), str):
                    self._note(key, record.id)
                written += 1
            except Exception as exc:
                self._failed(events, "remember", exc)
        return written

    def _drain(self) -> None:
        while True:
            items = self._queue.get()
            try:
                if items is None:
                    return
                self._write_now(items, [])
            except Exception:  # the writer never dies on one bad batch
                logger.exception("hive background memory write failed")
            finally:
                self._queue.task_done()

    def _enqueue(self, items: list[tuple[str, str, str | None, dict[str, Any]]]) -> None:
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._drain, name="hive-memory-writer", daemon=True)
                self._writer.start()
                # Queued writes reach the store even if the program exits without close().
                atexit.register(_close_session_weakly, weakref.ref(self))
        self._queue.put(items)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued memory write is done (write-behind mode); True when drained."""
        if self._writer is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        """Finish queued writes and stop the writer (and recall prefetch) threads."""
        if self.prefetcher is not None:
            self.prefetcher.close()
        if self._writer is not None:
            self.flush()
            self._queue.put(None)
            self._writer.join(timeout=5)
            self._writer = None

    def remember(
        self, items: list[tuple[str, str, str | None, dict[str, Any]]], events: list[HiveEvent]
    ) -> int:
        """Write ``(key, content, caused_by key, metadata)`` items in order; returns how many.

        A cause is given by key; it resolves to the record id this session wrote
        under that key (or the current record of the key). In write-behind mode
        the items are queued and the count is of queued items.
        """
        if not self.remember_enabled:
            return 0
        items = [item for item in items if item[1].strip()]
        if not items:
            return 0
        if self.write_behind:
            self._enqueue(items)
            self.emit(events, "remembered", count=len(items), keys=[k for k, *_ in items][:8], queued=True)
            return len(items)
        written = self._write_now(items, events)
        if written:
            self.emit(events, "remembered", count=written, keys=[k for k, *_ in items][:8])
        return written

    async def aremember(
        self, items: list[tuple[str, str, str | None, dict[str, Any]]], events: list[HiveEvent]
    ) -> int:
        """Async :meth:`remember` (write-behind mode queues without waiting)."""
        if not self.remember_enabled:
            return 0
        if self.write_behind:
            return self.remember(items, events)
        written = 0
        for key, content, cause, metadata in items:
            if not content.strip():
                continue
            try:
                kwargs = await self._akwargs(key, cause, metadata)
                record = await _maybe_async(self.stack, "remember", self._text(content), **kwargs)
                if isinstance(getattr(record, "id", None), str):
                    self._note(key, record.id)
                written += 1
            except Exception as exc:
                self._failed(events, "remember", exc)
        if written:
            self.emit(events, "remembered", count=written, keys=[k for k, *_ in items][:8])
        return written


def _context_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(_normalised(message_text(m)) for m in messages[-12:])


@functools.lru_cache(maxsize=4_096)
def _normalised(text: str) -> str:
    # A conversation resends the same long tool outputs every turn: normalise each once.
    return " ".join(text.split())


async def _maybe_async(obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``obj.a<name>`` when it exists, else ``obj.<name>``; await the result if it is awaitable."""
    fn = getattr(obj, "a" + name, None) or getattr(obj, name)
    result = fn(*args, **kwargs)
    # An AsyncHiveStack's methods are coroutines under the plain names.
    return await result if inspect.isawaitable(result) else result
