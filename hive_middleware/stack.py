"""HiveStack: one facade over routing, compression, memory and guarded calls.

Every integration talks to a stack: it compresses the message list the LLM sees,
routes mechanical steps, remembers causally and searches memory, and exposes the
:class:`~hive_middleware.resilience.guard.Guard` used for model calls.

Parts are built on first use from :class:`~hive_middleware.config.HiveConfig`
(the embedded memory store loads an embedding model, the router loads torch-free
weights), or injected through the constructor, so tests and servers can wire
their own back-ends. :class:`AsyncHiveStack` offers the same calls as
coroutines; blocking work runs in a worker thread so the event loop never stalls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from hive_middleware.config import HiveConfig
from hive_middleware.pipeline.counters import Counters
from hive_middleware.types import AgentState, MemoryRecord, Message, RouteDecision

if TYPE_CHECKING:
    from hive_middleware.compression.artifacts import ArtifactStore
    from hive_middleware.compression.compressor import CompressionResult
    from hive_middleware.hivemind import Agents, Channels, HiveMind, Learning
    from hive_middleware.memory.store import MemoryStore, ProvenanceStep
    from hive_middleware.pipeline.core import CallOptions, HiveEvent, Pipeline
    from hive_middleware.pipeline.writer import MemoryWriter
    from hive_middleware.ports import ActionPolicy
    from hive_middleware.resilience.guard import Guard

__all__ = ["AsyncHiveStack", "HiveStack"]

P = ParamSpec("P")
R = TypeVar("R")

NO_ROUTER_REASON = "no router model configured (set routing.model_dir or HIVE_ROUTING__MODEL_DIR)"


class HiveStack:
    """Route, compress, remember, recall and guard for one tenant.

    Args:
        config: Settings (default :meth:`HiveConfig.load`: env and ``hive.toml``).
        memory: A ready memory store (default: the embedded store in
            ``config.data_dir``, opened on first use).
        policy: A router (default: loaded from ``config.routing.model_dir`` on first
            use; none configured means every step escalates).
        guard: Limiter, breakers and retries for model calls (default: from ``config.guard``).
        artifacts: Where compressed-away originals live (default: the memory store,
            opened when the first original is stored, so handles outlive the process).
        hivemind: Channels, agent registry and learning stream back-ends (default:
            opened on first use from ``config.shared``: Redis when ``shared.redis`` is
            set, else a SQLite file under ``data_dir``).

    Attributes:
        stats: Counters of what the stack did and what it had to drop
            (``memory.remembered``, ``hook_error.<stage>``, ``memory.link_unresolved``,
            ``guard.shared_unavailable`` / ``guard.shared_restored`` for Redis outages...).
    """

    def __init__(
        self,
        config: HiveConfig | None = None,
        *,
        memory: MemoryStore | None = None,
        policy: ActionPolicy | None = None,
        guard: Guard | None = None,
        artifacts: ArtifactStore | None = None,
        hivemind: HiveMind | None = None,
    ) -> None:
        self.config = config or HiveConfig.load()
        self._hivemind = hivemind
        self._owns_hivemind = hivemind is None
        self._channels: Channels | None = None
        self._agents: Agents | None = None
        self._learning: Learning | None = None
        self._memory = memory
        self._owns_memory = memory is None
        self._policy = policy
        self._policy_loaded = policy is not None
        self._guard = guard
        self._owns_guard = False
        self._artifacts = artifacts
        self._lock = threading.RLock()
        self._closed = False
        self._writer: MemoryWriter | None = None
        self.stats = Counters()

    @classmethod
    def from_config(cls, config: HiveConfig | None = None, **overrides: Any) -> HiveStack:
        """Build a stack from ``config`` (or :meth:`HiveConfig.load` with ``overrides``)."""
        return cls(config or HiveConfig.load(**overrides))

    # -- parts, built on first use --------------------------------------------------------

    @property
    def memory(self) -> MemoryStore:
        """The memory store (the embedded default is opened on first access)."""
        with self._lock:
            if self._memory is None:
                from hive_middleware.memory.store import MemoryStore

                self._memory = MemoryStore.open(config=self.config)
                if self.config.shared.redis is not None and self._memory.worker is not None:
                    # Other processes' embedding workers wake on this one's commits at once.
                    wake = self.hivemind.wake
                    if wake is not None:
                        self._memory.worker.attach_doorbell(wake)
            return self._memory

    @property
    def hivemind(self) -> HiveMind:
        """The live layer's back-ends (opened on first access from ``config.shared``)."""
        with self._lock:
            if self._hivemind is None:
                from hive_middleware.hivemind import open_hivemind

                self._hivemind = open_hivemind(self.config, stats=self.stats)
            return self._hivemind

    @property
    def channels(self) -> Channels:
        """This tenant's channels: create, list, publish, feed, subscribe (and ``a*`` twins)."""
        with self._lock:
            if self._channels is None:
                from hive_middleware.hivemind import Channels

                self._channels = Channels(
                    self.hivemind.channels,
                    self.config.tenant,
                    lookup=lambda tenant, rid: self.memory.graph.get(tenant, [rid]).get(rid),
                    retry_s=self.config.shared.retry_s,
                    stats=self.stats,
                )
            return self._channels

    @property
    def agents(self) -> Agents:
        """This tenant's agent registry: register, heartbeat, list, running (and ``a*`` twins)."""
        with self._lock:
            if self._agents is None:
                from hive_middleware.hivemind import Agents

                shared = self.config.shared
                self._agents = Agents(
                    self.hivemind.agents,
                    self.config.tenant,
                    ttl_s=shared.agent_ttl_s,
                    heartbeat_s=shared.heartbeat_s,
                    stats=self.stats,
                )
            return self._agents

    @property
    def learning(self) -> Learning:
        """This tenant's learning stream: append, record, read (and ``a*`` twins)."""
        with self._lock:
            if self._learning is None:
                from hive_middleware.hivemind import Learning

                self._learning = Learning(self.hivemind.learning, self.config.tenant)
            return self._learning

    @property
    def policy(self) -> ActionPolicy | None:
        """The router: the model, or with ``routing.shadow`` a shadow router over it; ``None`` when neither is set."""
        with self._lock:
            if not self._policy_loaded:
                from hive_middleware.routing.shadow import router_from_config

                self._policy = router_from_config(self.config.routing, tenant=self.config.tenant)
                self._policy_loaded = True
            return self._policy

    @property
    def guard(self) -> Guard:
        """Limiter, breakers and retry policy for model calls."""
        with self._lock:
            if self._guard is None:
                from hive_middleware.resilience.guard import Guard

                self._guard = Guard.from_config(self.config, on_shared_change=self._count_shared_change)
                self._owns_guard = True
            return self._guard

    def _count_shared_change(self, event: str) -> None:
        # "unavailable" / "restored": Redis outages of the shared limits and breakers.
        self.stats.add(f"guard.shared_{event}")

    @property
    def artifacts(self) -> ArtifactStore:
        """Where compressed-away originals are stored for :meth:`expand`."""
        with self._lock:
            if self._artifacts is None:
                self._artifacts = self._default_artifacts()
            return self._artifacts

    def _default_artifacts(self) -> ArtifactStore:
        from hive_middleware.compression.memory_artifacts import LazyMemoryArtifactStore

        return LazyMemoryArtifactStore(lambda: self.memory)

    @property
    def writer(self) -> MemoryWriter:
        """The durable writer every integration on this stack shares (group commit)."""
        with self._lock:
            if self._writer is None:
                from hive_middleware.pipeline.writer import MemoryWriter

                self._writer = MemoryWriter(self.memory, stats=self.stats)
            return self._writer

    def pipeline(
        self,
        options: CallOptions | None = None,
        *,
        shell_tool: str = "bash",
        on_event: Callable[[HiveEvent], None] | None = None,
        recall_prefetch: bool = False,
    ) -> Pipeline:
        """The step pipeline over this stack (route, compress, recall, guard, remember).

        See :class:`hive_middleware.pipeline.Pipeline`; every integration drives one.
        """
        from hive_middleware.pipeline.core import Pipeline

        return Pipeline(self, options=options, shell_tool=shell_tool, on_event=on_event,
                        recall_prefetch=recall_prefetch)

    # -- the four jobs --------------------------------------------------------------------

    def compress(
        self, messages: Sequence[Message], *, budget: int | None = None, model: str | None = None
    ) -> CompressionResult:
        """Compress ``messages`` reversibly (see :func:`hive_middleware.compression.compress`)."""
        from hive_middleware.compression.compressor import compress

        return compress(messages, budget=budget, model=model, config=self.config, artifacts=self.artifacts)

    def expand(self, handle: str) -> str:
        """The original behind a compression handle, byte for byte."""
        from hive_middleware.compression.artifacts import expand

        return expand(handle, artifacts=self.artifacts)

    def route(self, state: AgentState) -> RouteDecision:
        """Answer a mechanical step, or escalate (``escalated=True``) to the LLM."""
        policy = self.policy
        if policy is None:
            return RouteDecision(action=None, template=None, confidence=0.0, escalated=True, reason=NO_ROUTER_REASON)
        return policy.decide(state)

    def remember(self, content: str, *, channels: Sequence[str] = (), **kwargs: Any) -> MemoryRecord:
        """Store a memory (see :meth:`MemoryStore.remember`), then publish it to ``channels``.

        The record is published once it is committed; a publish that fails raises
        after the commit (the memory stays stored; publishing it again is
        idempotent). The publisher is ``metadata["author"]`` when set.
        """
        if channels:
            from hive_middleware.hivemind.model import check_name

            if isinstance(channels, str):
                channels = [channels]
            names = [check_name(name, "channel") for name in channels]
        record = self.memory.remember(content, **kwargs)
        if channels:
            for name in names:
                self.channels.for_tenant(record.tenant).publish(name, record)
        return record

    def remember_many(self, drafts: Sequence[Any]) -> list[MemoryRecord]:
        """Store many memories in one transaction (see :meth:`MemoryStore.remember_many`)."""
        return self.memory.remember_many(drafts)

    def recall(self, key: str, **kwargs: Any) -> MemoryRecord | None:
        """The current (or ``as_of``) version of a keyed memory."""
        return self.memory.recall(key, **kwargs)

    def search(self, query: str, **kwargs: Any) -> list[Any]:
        """Hybrid memory search (see :meth:`MemoryStore.search`)."""
        return self.memory.search(query, **kwargs)

    def warm_up(self) -> None:
        """Load what loads lazily (the memory embedder) so the first search pays nothing extra."""
        self.memory.warm_up()

    def why(self, key: str, **kwargs: Any) -> list[ProvenanceStep]:
        """Provenance of a memory: its caused_by / supersedes / derived_from chain."""
        return self.memory.why(key, **kwargs)

    def close(self) -> None:
        """Close what this stack opened itself (an injected memory store stays open)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._writer.close()
            if self._owns_guard and self._guard is not None:
                self._guard.close()
            if self._owns_memory and self._memory is not None:
                self._memory.close()
            if self._owns_hivemind and self._hivemind is not None:
                self._hivemind.close()

    def __enter__(self) -> HiveStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHiveStack:
    """The coroutine twin of :class:`HiveStack`; wraps one and shares its parts.

    Args:
        stack: The sync stack to drive (default: ``HiveStack(config)``).
        config: Used only when ``stack`` is not given.
    """

    def __init__(self, stack: HiveStack | None = None, *, config: HiveConfig | None = None) -> None:
        self.sync = stack or HiveStack(config)

    @property
    def channels(self) -> Channels:
        """See :attr:`HiveStack.channels` (its ``a*`` methods are coroutines; subscriptions support ``async for``)."""
        return self.sync.channels

    @property
    def agents(self) -> Agents:
        """See :attr:`HiveStack.agents` (use its ``a*`` methods)."""
        return self.sync.agents

    @property
    def learning(self) -> Learning:
        """See :attr:`HiveStack.learning` (use its ``a*`` methods)."""
        return self.sync.learning

    async def compress(
        self, messages: Sequence[Message], *, budget: int | None = None, model: str | None = None
    ) -> CompressionResult:
        """See :meth:`HiveStack.compress`."""
        return await _in_thread(self.sync.compress, messages, budget=budget, model=model)

    async def route(self, state: AgentState) -> RouteDecision:
        """See :meth:`HiveStack.route`."""
        return await _in_thread(self.sync.route, state)

    async def remember(self, content: str, **kwargs: Any) -> MemoryRecord:
        """See :meth:`HiveStack.remember`."""
        return await _in_thread(self.sync.remember, content, **kwargs)

    async def recall(self, key: str, **kwargs: Any) -> MemoryRecord | None:
        """See :meth:`HiveStack.recall`."""
        return await _in_thread(self.sync.recall, key, **kwargs)

    async def search(self, query: str, **kwargs: Any) -> list[Any]:
        """See :meth:`HiveStack.search`."""
        return await _in_thread(self.sync.search, query, **kwargs)

    async def why(self, key: str, **kwargs: Any) -> list[ProvenanceStep]:
        """See :meth:`HiveStack.why`."""
        return await _in_thread(self.sync.why, key, **kwargs)

    async def expand(self, handle: str) -> str:
        """See :meth:`HiveStack.expand`."""
        return await _in_thread(self.sync.expand, handle)

    async def aclose(self) -> None:
        """Close the wrapped stack."""
        await _in_thread(self.sync.close)


async def _in_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await asyncio.to_thread(fn, *args, **kwargs)
