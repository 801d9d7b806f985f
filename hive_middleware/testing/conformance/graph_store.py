"""Conformance checks for :class:`~hive_middleware.ports.GraphStore`, by capability.

A back-end runs the suites of the capabilities it implements
(:data:`GRAPH_STORE_SUITES` pairs each suite with its runtime-checkable
protocol, so a test can select suites with ``isinstance``); a full graph store
passes :data:`GRAPH_STORE_CHECKS`, every suite together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hive_middleware.ports import (
    AuthorIndex,
    EdgeGraph,
    EmbeddingOutbox,
    GraphStore,
    KeywordSearch,
    RecordStore,
)
from hive_middleware.testing.conformance.graph_authors import AUTHOR_INDEX_CHECKS
from hive_middleware.testing.conformance.graph_edges import EDGE_GRAPH_CHECKS
from hive_middleware.testing.conformance.graph_keyword import KEYWORD_SEARCH_CHECKS
from hive_middleware.testing.conformance.graph_outbox import OUTBOX_CHECKS
from hive_middleware.testing.conformance.graph_records import RECORD_STORE_CHECKS, make_record

__all__ = [
    "AUTHOR_INDEX_CHECKS",
    "EDGE_GRAPH_CHECKS",
    "GRAPH_STORE_CHECKS",
    "GRAPH_STORE_SUITES",
    "KEYWORD_SEARCH_CHECKS",
    "OUTBOX_CHECKS",
    "RECORD_STORE_CHECKS",
    "make_record",
]

GraphStoreFactory = Callable[[], GraphStore]

GRAPH_STORE_SUITES: tuple[tuple[str, type[Any], list[Callable[[Any], None]]], ...] = (
    ("records", RecordStore, list(RECORD_STORE_CHECKS)),
    ("keyword_search", KeywordSearch, list(KEYWORD_SEARCH_CHECKS)),
    ("authors", AuthorIndex, list(AUTHOR_INDEX_CHECKS)),
    ("edges", EdgeGraph, list(EDGE_GRAPH_CHECKS)),
    ("outbox", EmbeddingOutbox, list(OUTBOX_CHECKS)),
)
"""``(capability, protocol, checks)``: run ``checks`` on a store when ``isinstance(store, protocol)``.

Every store must be a :class:`~hive_middleware.ports.RecordStore`; the other
suites also drive the record store's ``commit`` and ``erase_tenant``."""

GRAPH_STORE_CHECKS: list[Callable[[GraphStoreFactory], None]] = [
    *RECORD_STORE_CHECKS,
    *KEYWORD_SEARCH_CHECKS,
    *AUTHOR_INDEX_CHECKS,
    *EDGE_GRAPH_CHECKS,
    *OUTBOX_CHECKS,
]
"""Every check of every capability: what a full :class:`~hive_middleware.ports.GraphStore` passes."""
