"""Every LimiterStore adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hive_middleware.resilience.limiter_store import InMemoryLimiterStore, LimiterStore
from hive_middleware.testing.conformance.limiter_store import LIMITER_STORE_CHECKS


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], LimiterStore]]:
    if request.param == "memory":
        yield InMemoryLimiterStore
        return
    from hive_middleware.adapters.redis_limiter import RedisLimiterStore

    url: str = request.getfixturevalue("redis_url")
    made: list[RedisLimiterStore] = []

    def make() -> LimiterStore:
        # The suite drives time by hand, so the script takes the caller's clock;
        # every store gets its own prefix so each starts empty.
        store = RedisLimiterStore.from_url(url, prefix=f"conf{len(made)}", time_source="caller")
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.mark.parametrize("check", LIMITER_STORE_CHECKS, ids=lambda c: c.__name__)
def test_limiter_store_conformance(
    check: Callable[[Callable[[], LimiterStore]], None], make_store: Callable[[], LimiterStore]
) -> None:
    check(make_store)
