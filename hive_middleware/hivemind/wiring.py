"""Opening the hive mind's back-ends from configuration.

``shared.redis`` unset: channels, registry and learning log live in one SQLite
file under ``data_dir`` (:mod:`hive_middleware.hivemind.sqlite`); no doorbell is
needed (processes on one machine share the embedded outbox and poll it).

``shared.redis`` set: the Redis adapter, named here as ``module:attribute`` and
loaded with :mod:`importlib` (the core imports no adapter), behind the local
fallback (:mod:`hive_middleware.hivemind.fallback`) whose queue lives under
``data_dir``; the Redis doorbell wakes other processes' embedding workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveDependencyError
from hive_middleware.hivemind.fallback import (
    PENDING_FILE_NAME,
    FallbackAgentRegistry,
    FallbackChannelLog,
    FallbackLearningLog,
    PendingQueue,
    Reconciler,
)
from hive_middleware.hivemind.ports import AgentRegistry, ChannelLog, LearningLog, WakeSignal
from hive_middleware.hivemind.sqlite import SQLiteAgentRegistry, SQLiteChannelLog, SQLiteLearningLog
from hive_middleware.pipeline.counters import Counters

__all__ = ["REDIS_ADAPTER", "HiveMind", "open_hivemind"]

REDIS_ADAPTER = "hive_middleware.adapters.redis_hivemind:RedisHiveMind"
"""The adapter ``shared.redis`` selects, loaded by name."""


@dataclass
class HiveMind:
    """The opened back-ends of the live layer, and how to close them.

    Attributes:
        channels: The channel log.
        agents: The agent registry.
        learning: The learning log.
        wake: The deployment's outbox doorbell (``None`` without a shared back-end).
        reconciler: The local queue of shared writes (``None`` without a shared back-end).
    """

    channels: ChannelLog
    agents: AgentRegistry
    learning: LearningLog
    wake: WakeSignal | None = None
    reconciler: Reconciler | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Stop the replay thread (queued writes stay on disk) and close every back-end."""
        for close in self._closers:
            close()
        self._closers.clear()


def _load_redis() -> Any:
    module, _, attr = REDIS_ADAPTER.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        raise HiveDependencyError(
            f"shared.redis needs redis-py ({exc.name} is missing); install hive-middleware[redis]",
            extra="redis",
        ) from exc


def open_hivemind(
    config: HiveConfig,
    *,
    data_dir: str | Path | None = None,
    stats: Counters | None = None,
    start_replay: bool = True,
) -> HiveMind:
    """Open the back-ends ``config.shared`` names.

    Args:
        config: Settings (``shared.*`` and ``data_dir``).
        data_dir: Override of ``config.data_dir`` (the SQLite file and the local queue).
        stats: Where the ``hivemind.*`` counters go.
        start_replay: Start the replay thread of the local queue (Redis only).

    Raises:
        HiveDependencyError: ``shared.redis`` is set and redis-py is not installed.
        HiveStorageError: a file under ``data_dir`` cannot be opened.
    """
    directory = Path(data_dir if data_dir is not None else config.data_dir)
    shared = config.shared
    if shared.redis is None:
        channels = SQLiteChannelLog.from_path(directory)
        agents = SQLiteAgentRegistry.from_path(directory)
        learning = SQLiteLearningLog.from_path(directory)
        return HiveMind(channels, agents, learning, _closers=[channels.close, agents.close, learning.close])
    remote = _load_redis().from_url(shared.redis, prefix=shared.prefix, retry_s=shared.retry_s)
    queue = PendingQueue(directory / PENDING_FILE_NAME, capacity=shared.pending_max)
    reconciler = Reconciler(
        remote.channels, remote.agents, remote.learning, queue, retry_s=shared.retry_s, stats=stats,
        start=start_replay,
    )
    return HiveMind(
        FallbackChannelLog(reconciler),
        FallbackAgentRegistry(reconciler),
        FallbackLearningLog(reconciler),
        wake=remote.wake,
        reconciler=reconciler,
        _closers=[reconciler.close, remote.close],
    )
