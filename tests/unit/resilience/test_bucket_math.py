"""Token-bucket arithmetic: reservations, debts, refunds; bad specs fail at construction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveConfigError
from hive_middleware.resilience.bucket import BucketSpec, BucketState, adjust_level, plan_reservation


def test_full_bucket_grants_without_wait_then_queues_evenly() -> None:
    spec = BucketSpec(capacity=2, refill_per_s=4)
    state = BucketState(level=2, updated=0.0)
    waits = [plan_reservation([state], [spec], [1], 0.0, 10.0).wait for _ in range(5)]
    assert waits == [0.0, 0.0, 0.25, 0.5, 0.75]


def test_refusal_takes_nothing_and_reports_retry_after() -> None:
    spec = BucketSpec(capacity=1, refill_per_s=1)
    state = BucketState(level=0, updated=0.0)
    outcome = plan_reservation([state], [spec], [1], 0.0, max_wait=0.5)
    assert not outcome.granted and outcome.wait == pytest.approx(1.0)
    assert state.level == 0


def test_all_or_nothing_across_buckets() -> None:
    requests, tokens = BucketSpec(10, 1), BucketSpec(100, 10)
    rs, ts = BucketState(10, 0.0), BucketState(5, 0.0)
    refused = plan_reservation([rs, ts], [requests, tokens], [1, 50], 0.0, max_wait=1.0)
    assert not refused.granted and refused.wait == pytest.approx(4.5)
    assert (rs.level, ts.level) == (10, 5)
    granted = plan_reservation([rs, ts], [requests, tokens], [1, 50], 0.0, max_wait=5.0)
    assert granted.granted and granted.wait == pytest.approx(4.5)
    assert (rs.level, ts.level) == (9, -45)


def test_refill_is_capped_and_adjust_refunds_or_charges() -> None:
    spec = BucketSpec(capacity=10, refill_per_s=1)
    state = BucketState(level=0, updated=0.0)
    adjust_level(state, spec, 0, now=100.0)
    assert state.level == 10
    adjust_level(state, spec, -15, now=100.0)
    assert state.level == -5
    adjust_level(state, spec, 100, now=100.0)
    assert state.level == 10


@pytest.mark.parametrize(
    ("capacity", "rate"), [(0, 1), (0.5, 1), (1, 0), (1, -2), (float("inf"), 1), (1, float("nan"))]
)
def test_bad_specs_raise_config_error(capacity: float, rate: float) -> None:
    with pytest.raises(HiveConfigError):
        BucketSpec(capacity=capacity, refill_per_s=rate)


@given(
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=40),
    st.floats(min_value=0.5, max_value=50),
    st.integers(min_value=1, max_value=20),
)
def test_granted_units_never_exceed_capacity_plus_refill(
    gaps: list[float], rate: float, capacity: int
) -> None:
    spec = BucketSpec(capacity=capacity, refill_per_s=rate)
    state = BucketState(level=capacity, updated=0.0)
    now, granted_ready = 0.0, []
    for gap in gaps:
        now += gap
        outcome = plan_reservation([state], [spec], [1], now, max_wait=1e9)
        granted_ready.append(now + outcome.wait)
    # By the time each unit may be used, no more than capacity + rate * t units were handed out.
    for i, ready in enumerate(sorted(granted_ready), start=1):
        assert i <= capacity + rate * ready + 1e-6
