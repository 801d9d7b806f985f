"""Every LimiterStore adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hive_middleware.resilience.limiter_store import InMemoryLimiterStore, LimiterStore
from hive_middleware.testing.conformance.limiter_store import LIMITER_STORE_CHECKS


@pytest.fixture(params=["memory"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], LimiterStore]:
    return InMemoryLimiterStore


@pytest.mark.parametrize("check", LIMITER_STORE_CHECKS, ids=lambda c: c.__name__)
def test_limiter_store_conformance(
    check: Callable[[Callable[[], LimiterStore]], None], make_store: Callable[[], LimiterStore]
) -> None:
    check(make_store)
