"""Conformance suites: the behaviour every adapter of a port must show.

Each suite is a list of check functions taking a factory that builds a fresh,
empty adapter. Test modules parametrize over adapters and checks::

    @pytest.mark.parametrize("check", GRAPH_STORE_CHECKS, ids=lambda c: c.__name__)
    def test_sqlite(check, tmp_path):
        check(lambda: SQLiteGraphStore(tmp_path / "db"))

The graph store's suites are split by capability (records, keyword search,
authors, edges, outbox); ``GRAPH_STORE_SUITES`` pairs each with its protocol so
a back-end runs the suites of what it implements.
"""

from __future__ import annotations

from hive_middleware.testing.conformance.agent_registry import AGENT_REGISTRY_CHECKS
from hive_middleware.testing.conformance.breaker_store import BREAKER_STORE_CHECKS
from hive_middleware.testing.conformance.channel_log import CHANNEL_LOG_CHECKS
from hive_middleware.testing.conformance.embedder import EMBEDDER_CHECKS
from hive_middleware.testing.conformance.graph_store import (
    AUTHOR_INDEX_CHECKS,
    EDGE_GRAPH_CHECKS,
    GRAPH_STORE_CHECKS,
    GRAPH_STORE_SUITES,
    KEYWORD_SEARCH_CHECKS,
    OUTBOX_CHECKS,
    RECORD_STORE_CHECKS,
)
from hive_middleware.testing.conformance.learning_log import LEARNING_LOG_CHECKS
from hive_middleware.testing.conformance.limiter_store import LIMITER_STORE_CHECKS
from hive_middleware.testing.conformance.vector_index import VECTOR_INDEX_CHECKS

__all__ = [
    "AGENT_REGISTRY_CHECKS",
    "AUTHOR_INDEX_CHECKS",
    "BREAKER_STORE_CHECKS",
    "CHANNEL_LOG_CHECKS",
    "EDGE_GRAPH_CHECKS",
    "EMBEDDER_CHECKS",
    "GRAPH_STORE_CHECKS",
    "GRAPH_STORE_SUITES",
    "KEYWORD_SEARCH_CHECKS",
    "LEARNING_LOG_CHECKS",
    "LIMITER_STORE_CHECKS",
    "OUTBOX_CHECKS",
    "RECORD_STORE_CHECKS",
    "VECTOR_INDEX_CHECKS",
]
