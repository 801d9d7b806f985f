"""Every BreakerStore adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hive_middleware.resilience.breaker_store import BreakerStore, InMemoryBreakerStore
from hive_middleware.testing.conformance.breaker_store import BREAKER_STORE_CHECKS


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], BreakerStore]]:
    if request.param == "memory":
        yield InMemoryBreakerStore
        return
    from hive_middleware.adapters.redis_breaker import RedisBreakerStore

    url: str = request.getfixturevalue("redis_url")
    made: list[RedisBreakerStore] = []

    def make() -> BreakerStore:
        # The suite drives time by hand, so the script takes the caller's clock;
        # every store gets its own prefix so each starts empty.
        store = RedisBreakerStore.from_url(url, prefix=f"conf{len(made)}", time_source="caller")
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.mark.parametrize("check", BREAKER_STORE_CHECKS, ids=lambda c: c.__name__)
def test_breaker_store_conformance(
    check: Callable[[Callable[[], BreakerStore]], None], make_store: Callable[[], BreakerStore]
) -> None:
    check(make_store)
