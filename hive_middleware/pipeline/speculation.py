"""Speculative pre-execution of read-only tool calls while the model thinks.

One *round* per model call:

1. :meth:`Speculator.begin` (before the model call) takes the predicted calls
   (:func:`plan_calls`, from :func:`~hive_middleware.routing.speculate.predict_next`)
   and runs up to ``k`` of them on a bounded thread pool. Only tools marked
   read-only run (:func:`read_only`, or ``read_only_tools``); any other call is
   refused and counted, never executed. A call the cache already answers is
   not run again. Each result goes into the tool-output cache under the same
   key as the real call (:class:`SpeculationCache`, e.g.
   :class:`~hive_middleware.integrations.tool_cache.ToolOutputCache`).
2. :meth:`Speculator.answered` (the model answered): calls not started yet are
   cancelled.
3. :meth:`Speculator.claim` (the agent runs a tool): a matching finished
   result is served from the cache (a *hit*); a matching call still running is
   waited for, up to the round's time budget, instead of running it twice.
   Otherwise the caller runs the tool itself.
4. :meth:`Speculator.discard` (the agent runs a tool that is *not* read-only):
   the round ends and its unclaimed results leave the cache, since the write
   may change what they would return.

The budget (``budget_s`` from the round's start) bounds everything: nothing
starts after it, a result that finishes after it is dropped (``late``), and a
claim never waits past it. Counters (:class:`SpeculationStats`): ``speculated``
(executions started), ``hits``, ``wasted`` (started, finished or not, never
served), ``cancelled``, ``refused``, ``failed``, ``late``.

Speculation is a hook: it fails open. A tool that raises while speculated is
counted in ``failed`` and the real call runs it again normally.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from hive_middleware.errors import HiveValidationError
from hive_middleware.pipeline.messages import state_from_messages
from hive_middleware.routing.speculate import DEFAULT_SPECULATION_K, call_of_command, predict_next
from hive_middleware.types import AgentState

__all__ = [
    "DEFAULT_SPECULATION_BUDGET_S",
    "DEFAULT_SPECULATION_WORKERS",
    "READ_ONLY_MARKER",
    "SpeculationCache",
    "SpeculationOptions",
    "SpeculationStats",
    "Speculator",
    "ToolCall",
    "is_read_only",
    "plan_calls",
    "read_only",
    "read_only_names",
]

logger = logging.getLogger("hive_middleware.pipeline")

DEFAULT_SPECULATION_BUDGET_S = 10.0
"""Seconds from a round's start after which nothing starts, is stored or is waited for."""
DEFAULT_SPECULATION_WORKERS = 2
"""Threads that run speculative calls (shared by all rounds of a speculator)."""
_MAX_CONVERSATIONS = 1_024
READ_ONLY_MARKER = "read_only"
"""The metadata key (``tool.metadata["read_only"] = True``) that marks a tool read-only."""

T = TypeVar("T")


def read_only(tool: T) -> T:
    """Mark a tool (a LangChain ``BaseTool`` or any object with ``metadata``) read-only; returns it.

    A read-only tool has no side effects, so Hive may run it speculatively and
    answer repeated calls from the tool-output cache. Never mark a tool that
    writes files, runs arbitrary shell commands or calls out to change state.

    Raises:
        HiveValidationError: the object cannot carry metadata.
    """
    metadata = getattr(tool, "metadata", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise HiveValidationError(
            f"cannot mark {type(tool).__name__} read-only: its metadata is a {type(metadata).__name__}, "
            "not a dict; pass the tool's name in read_only_tools instead",
            field="tool",
        )
    try:
        tool.metadata = {**metadata, READ_ONLY_MARKER: True}  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError) as exc:
        raise HiveValidationError(
            f"cannot mark {type(tool).__name__} read-only (it takes no metadata); "
            "pass the tool's name in read_only_tools instead",
            field="tool",
        ) from exc
    return tool


def is_read_only(tool: Any) -> bool:
    """Whether a tool carries the read-only marker (``metadata["read_only"] is True``)."""
    metadata = getattr(tool, "metadata", None)
    return isinstance(metadata, Mapping) and metadata.get(READ_ONLY_MARKER) is True


def read_only_names(tools: Iterable[Any]) -> frozenset[str]:
    """The names of the marked tools among ``tools`` (objects with ``name`` and ``metadata``)."""
    return frozenset(str(t.name) for t in tools if is_read_only(t) and getattr(t, "name", None))


@dataclass(frozen=True, slots=True)
class SpeculationOptions:
    """How much to speculate.

    Attributes:
        k: Calls pre-executed per model call at most (0 switches speculation off).
        budget_s: Per-round time budget in seconds.
        max_workers: Threads running speculative calls.
        read_only_tools: Names of tools that may run speculatively, besides the
            ones marked with :func:`read_only`. Default: none.
    """

    k: int = DEFAULT_SPECULATION_K
    budget_s: float = DEFAULT_SPECULATION_BUDGET_S
    max_workers: int = DEFAULT_SPECULATION_WORKERS
    read_only_tools: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 0 <= self.k <= 16:
            raise HiveValidationError(f"speculation k must be an int from 0 to 16, got {self.k!r}", field="k")
        if not isinstance(self.budget_s, int | float) or not self.budget_s > 0:
            raise HiveValidationError(
                f"speculation budget_s must be a positive number of seconds, got {self.budget_s!r}",
                field="budget_s",
            )
        if isinstance(self.max_workers, bool) or not isinstance(self.max_workers, int) or self.max_workers < 1:
            raise HiveValidationError(
                f"speculation max_workers must be an int >= 1, got {self.max_workers!r}", field="max_workers"
            )
        if isinstance(self.read_only_tools, str):
            raise HiveValidationError(
                "read_only_tools must be a collection of tool names, not one string; "
                f"write read_only_tools=[{self.read_only_tools!r}]",
                field="read_only_tools",
            )
        object.__setattr__(self, "read_only_tools", frozenset(str(n) for n in self.read_only_tools))


class SpeculationCache(Protocol):
    """Where speculative results go and real calls find them (``ToolOutputCache`` is one).

    ``key`` must be the key a real call of the same tool and arguments is cached
    under; ``lookup`` answers a call (``None``: miss, expired or an input
    changed); ``store`` remembers an output; ``discard`` forgets one entry.
    """

    def key(self, tool: str, arguments: Mapping[str, Any]) -> Hashable:
        """The cache key of this call."""
        ...

    def lookup(self, tool: str, arguments: Mapping[str, Any]) -> Any | None:
        """The cached output of this call, or ``None``."""
        ...

    def store(self, tool: str, arguments: Mapping[str, Any], output: Any) -> None:
        """Remember ``output`` for this call."""
        ...

    def discard(self, tool: str, arguments: Mapping[str, Any]) -> bool:
        """Forget this call's entry; True when there was one."""
        ...


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call to speculate: the tool's name and its arguments."""

    name: str
    arguments: Mapping[str, Any]


@dataclass
class SpeculationStats:
    """Counters of a speculator's life (read them for reports)."""

    rounds: int = 0
    speculated: int = 0
    hits: int = 0
    wasted: int = 0
    cancelled: int = 0
    refused: int = 0
    failed: int = 0
    late: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(eq=False)
class _Entry:
    call: ToolCall
    key: Hashable
    future: concurrent.futures.Future[None] | None = None
    started: bool = False
    stored: bool = False
    failed: bool = False
    claimed: bool = False


@dataclass(eq=False)
class _Round:
    deadline: float
    entries: dict[Hashable, _Entry] = field(default_factory=dict)
    closed: bool = False


Runner = Callable[[str, Mapping[str, Any]], Any]


def plan_calls(
    state: AgentState | Sequence[Mapping[str, Any]],
    read_only_tools: Iterable[str],
    *,
    k: int = DEFAULT_SPECULATION_K,
    shell_tool: str = "bash",
    proposals: Iterable[str] = (),
) -> list[ToolCall]:
    """The predicted next calls of read-only tools, best first (pure: no I/O).

    Args:
        state: The agent state, or the OpenAI message list it is read from.
        read_only_tools: Tools that may be pre-executed; a predicted call of any
            other tool is never returned.
        k: Calls at most.
        shell_tool: The tool a predicted shell command runs on.
        proposals: Commands the router's habits propose (ranked first).
    """
    if not isinstance(state, AgentState):
        state = state_from_messages(state)
    allowed = frozenset(read_only_tools)
    if not allowed:
        return []

    def runnable(command: str) -> bool:
        return call_of_command(command, shell_tool)[0] in allowed

    calls: list[ToolCall] = []
    for prediction in predict_next(state, k, read_only=runnable, proposals=proposals):
        name, arguments = call_of_command(prediction.command, shell_tool)
        calls.append(ToolCall(name, arguments))
    return calls


class Speculator:
    """Runs predicted read-only calls in the background and serves matching real calls.

    Thread-safe. Each conversation (``conversation=``, e.g. the thread id) has
    its own round, so concurrent runs never end each other's speculation; all
    share one bounded pool of worker threads. Time is injected (``clock``) for
    the budget; waits use real time.

    Args:
        cache: Where results go (the same cache the real calls use).
        options: k, budget, workers and the read-only tool names.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        cache: SpeculationCache,
        options: SpeculationOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.options = options or SpeculationOptions()
        self.stats = SpeculationStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._rounds: OrderedDict[str, _Round] = OrderedDict()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    # -- a round ------------------------------------------------------------------------

    def begin(
        self, calls: Sequence[ToolCall], run: Runner, *, read_only_tools: Iterable[str] = (),
        conversation: str = "",
    ) -> int:
        """End the conversation's previous round and start running up to ``k`` of ``calls``.

        Args:
            calls: Predicted calls, best first.
            run: ``run(name, arguments) -> output`` executes one tool call (on a worker thread).
            read_only_tools: Tools marked read-only for this round, besides ``options.read_only_tools``.
            conversation: Whose round it is (e.g. the thread id).

        Returns:
            How many calls were submitted.
        """
        allowed = self.options.read_only_tools | frozenset(read_only_tools)
        self.end_round(conversation=conversation)
        chosen: list[_Entry] = []
        keys: set[Hashable] = set()
        for call in calls:
            if len(chosen) >= self.options.k:
                break
            if call.name not in allowed:
                with self._lock:
                    self.stats.refused += 1
                continue
            key = self.cache.key(call.name, call.arguments)
            if key in keys or self.cache.lookup(call.name, call.arguments) is not None:
                continue  # the cache answers it already
            keys.add(key)
            chosen.append(_Entry(call, key))
        speculation = _Round(self._clock() + self.options.budget_s)
        with self._lock:
            self.stats.rounds += 1
            self._rounds[conversation] = speculation
            self._rounds.move_to_end(conversation)
            for entry in chosen:
                speculation.entries[entry.key] = entry
            while len(self._rounds) > _MAX_CONVERSATIONS:
                self._close(self._rounds.popitem(last=False)[1])
        if not chosen:
            return 0
        pool = self._executor()
        for entry in chosen:
            entry.future = pool.submit(self._execute, speculation, entry, run)
        return len(chosen)

    def answered(self, *, conversation: str = "") -> int:
        """The model answered: cancel the calls that have not started. Returns how many."""
        with self._lock:
            speculation = self._rounds.get(conversation)
            if speculation is None:
                return 0
            return self._cancel_waiting(speculation)

    def end_round(self, *, conversation: str = "") -> int:
        """Close the conversation's round: cancel what waits, count unclaimed executions as wasted.

        Returns:
            The executions of the round that were wasted.
        """
        with self._lock:
            speculation = self._rounds.pop(conversation, None)
            if speculation is None:
                return 0
            return self._close(speculation)

    def discard(self, *, conversation: str = "") -> int:
        """A side-effecting tool runs: end the round and drop its unclaimed results from the cache.

        Returns:
            The executions of the round that were wasted.
        """
        with self._lock:
            speculation = self._rounds.pop(conversation, None)
            if speculation is None:
                return 0
            wasted = self._close(speculation)
            doomed = [e.call for e in speculation.entries.values() if e.stored and not e.claimed]
        for call in doomed:
            try:
                self.cache.discard(call.name, call.arguments)
            except Exception:
                logger.exception("dropping a speculative result from the tool cache failed (ignored)")
        return wasted

    def close(self) -> None:
        """End every round and stop the worker threads (running calls finish in the background)."""
        with self._lock:
            while self._rounds:
                self._close(self._rounds.popitem(last=False)[1])
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def queued(self) -> int:
        """Speculative calls submitted and neither started, cancelled nor finished (all conversations)."""
        with self._lock:
            return sum(
                1
                for speculation in self._rounds.values()
                for e in speculation.entries.values()
                if not e.started and e.future is not None and not e.future.done()
            )

    # -- serving ------------------------------------------------------------------------------

    def claim(self, name: str, arguments: Mapping[str, Any], *, conversation: str = "") -> tuple[bool, Any]:
        """Serve a real call from this round's speculation, waiting for a matching running one.

        Returns:
            ``(True, output)`` on a hit (the output comes from the cache, so a
            changed input file still means a miss), else ``(False, None)``:
            the caller runs the tool.
        """
        found = self._match(name, arguments, conversation)
        if found is None:
            return False, None
        entry, remaining = found
        future = entry.future
        if future is not None and not future.done():
            try:
                future.result(timeout=remaining)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                return False, None
        return self._serve(entry)

    async def aclaim(
        self, name: str, arguments: Mapping[str, Any], *, conversation: str = ""
    ) -> tuple[bool, Any]:
        """Async :meth:`claim`: waits for a running match without blocking the event loop."""
        found = self._match(name, arguments, conversation)
        if found is None:
            return False, None
        entry, remaining = found
        future = entry.future
        if future is not None and not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=remaining)
            except TimeoutError:
                return False, None
            except asyncio.CancelledError:
                if not future.cancelled():
                    raise  # the caller was cancelled, not the speculative call
                return False, None
        return self._serve(entry)

    # -- internals ------------------------------------------------------------------------------

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.options.max_workers, thread_name_prefix="hive-speculate"
                )
            return self._pool

    def _execute(self, speculation: _Round, entry: _Entry, run: Runner) -> None:
        call = entry.call
        with self._lock:
            if speculation.closed or self._clock() > speculation.deadline:
                self.stats.cancelled += 1
                return
            entry.started = True
            self.stats.speculated += 1
        try:
            output = run(call.name, call.arguments)
        except Exception:
            logger.debug("speculative call of %s failed; the real call will run it", call.name, exc_info=True)
            with self._lock:
                entry.failed = True
                self.stats.failed += 1
            return
        with self._lock:
            # Under the lock: a discard() cannot slip between this check and the store.
            if speculation.closed or self._clock() > speculation.deadline:
                self.stats.late += 1
                return
            try:
                self.cache.store(call.name, call.arguments, output)
            except Exception:
                logger.exception("storing a speculative result in the tool cache failed (ignored)")
                entry.failed = True
                self.stats.failed += 1
                return
            entry.stored = True

    def _match(self, name: str, arguments: Mapping[str, Any], conversation: str) -> tuple[_Entry, float] | None:
        key = self.cache.key(name, arguments)
        with self._lock:
            speculation = self._rounds.get(conversation)
            if speculation is None:
                return None
            entry = speculation.entries.get(key)
            if entry is None or entry.claimed:
                return None
            if not entry.started and entry.future is not None and entry.future.cancel():
                self.stats.cancelled += 1  # not started yet: the real call runs it now
                return None
            return entry, max(0.0, speculation.deadline - self._clock())

    def _serve(self, entry: _Entry) -> tuple[bool, Any]:
        if not entry.stored:
            return False, None
        output = self.cache.lookup(entry.call.name, entry.call.arguments)
        if output is None:
            return False, None
        with self._lock:
            if entry.claimed:
                return False, None
            entry.claimed = True
            self.stats.hits += 1
        return True, output

    def _cancel_waiting(self, speculation: _Round) -> int:
        cancelled = 0
        for entry in speculation.entries.values():
            if not entry.started and entry.future is not None and entry.future.cancel():
                cancelled += 1
        self.stats.cancelled += cancelled
        return cancelled

    def _close(self, speculation: _Round) -> int:
        speculation.closed = True
        self._cancel_waiting(speculation)
        wasted = sum(1 for e in speculation.entries.values() if e.started and not e.failed and not e.claimed)
        self.stats.wasted += wasted
        return wasted
