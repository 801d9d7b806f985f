"""Conformance suites: the behaviour every adapter of a port must show.

Each suite is a list of check functions taking a factory that builds a fresh,
empty adapter. Test modules parametrize over adapters and checks::

    @pytest.mark.parametrize("check", GRAPH_STORE_CHECKS, ids=lambda c: c.__name__)
    def test_sqlite(check, tmp_path):
        check(lambda: SQLiteGraphStore(tmp_path / "db"))
"""

from __future__ import annotations

from hive_middleware.testing.conformance.embedder import EMBEDDER_CHECKS
from hive_middleware.testing.conformance.graph_store import GRAPH_STORE_CHECKS
from hive_middleware.testing.conformance.vector_index import VECTOR_INDEX_CHECKS

__all__ = ["EMBEDDER_CHECKS", "GRAPH_STORE_CHECKS", "VECTOR_INDEX_CHECKS"]
