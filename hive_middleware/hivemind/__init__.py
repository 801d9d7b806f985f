"""The hive mind's live layer: channels (push), agent registry, learning stream, outbox doorbell.

Many agent processes, on one machine or many, share one memory; this package
lets them see each other's findings as they happen. A :class:`HiveStack` exposes
it as ``stack.channels``, ``stack.agents`` and ``stack.learning``; the back-end
is chosen by ``shared.redis`` (absent: a SQLite file under ``data_dir``; set:
Redis, with a durable local queue while Redis is down). See :mod:`.ports` for the
contracts every back-end honours.
"""

from __future__ import annotations

from hive_middleware.hivemind.agents import Agents
from hive_middleware.hivemind.channels import Channels
from hive_middleware.hivemind.learning import Learning
from hive_middleware.hivemind.model import (
    AgentBeat,
    AgentInfo,
    AgentRecord,
    ChannelEvent,
    ChannelInfo,
    LearnedStep,
    LearningStep,
)
from hive_middleware.hivemind.ports import AgentRegistry, ChannelLog, LearningLog, WakeSignal
from hive_middleware.hivemind.subscription import Subscription
from hive_middleware.hivemind.wiring import HiveMind, open_hivemind

__all__ = [
    "AgentBeat",
    "AgentInfo",
    "AgentRecord",
    "AgentRegistry",
    "Agents",
    "ChannelEvent",
    "ChannelInfo",
    "ChannelLog",
    "Channels",
    "HiveMind",
    "LearnedStep",
    "Learning",
    "LearningLog",
    "LearningStep",
    "Subscription",
    "WakeSignal",
    "open_hivemind",
]
