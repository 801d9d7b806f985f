"""The step pipeline every integration drives: identity, ingestion, durable writes, recall.

* :class:`Identity` — tenant, agent and thread of every memory an integration writes.
* :func:`conversation_items` — what a conversation leaves in memory (the evals use it too).
* :class:`MemoryWriter` — durable, group-committed writes: acknowledged means committed.
* :class:`Pipeline` — route, compress, recall, guard and remember around one model call.
"""

from __future__ import annotations

from hive_middleware.pipeline.core import CallOptions, HiveEvent, Pipeline, PreparedCall, StepOutcome
from hive_middleware.pipeline.counters import Counters
from hive_middleware.pipeline.identity import (
    DEFAULT_RECALL_SCOPE,
    RECALL_SCOPES,
    Identity,
    RecallScope,
    new_thread_id,
)
from hive_middleware.pipeline.ingest import MemoryItem, conversation_items
from hive_middleware.pipeline.messages import MEMORY_MARKER, is_memory_message, state_from_messages
from hive_middleware.pipeline.prefetch import RecallPrefetcher
from hive_middleware.pipeline.writer import MemoryWriter

__all__ = [
    "DEFAULT_RECALL_SCOPE",
    "MEMORY_MARKER",
    "RECALL_SCOPES",
    "CallOptions",
    "Counters",
    "HiveEvent",
    "Identity",
    "MemoryItem",
    "MemoryWriter",
    "Pipeline",
    "PreparedCall",
    "RecallPrefetcher",
    "RecallScope",
    "StepOutcome",
    "conversation_items",
    "is_memory_message",
    "new_thread_id",
    "state_from_messages",
]
