"""Instants on the wire: epoch milliseconds and ISO-8601 in, epoch milliseconds out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hive_middleware.integrations.server.wire_time import instant_ms, parse_instant, stamp_ms
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import LOGICAL_BITS

MS = st.integers(min_value=-62_000_000_000_000, max_value=253_000_000_000_000)


@given(MS)
def test_epoch_milliseconds_round_trip_exactly(ms: int) -> None:
    moment = parse_instant(ms, "as_of")
    assert moment is not None and moment.tzinfo is not None
    assert instant_ms(moment) == ms
    assert parse_instant(str(ms), "as_of") == moment


@given(MS, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_iso_text_with_any_offset_names_the_same_instant(ms: int, offset_min: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    local = moment.astimezone(timezone(timedelta(minutes=offset_min)))
    assert instant_ms(parse_instant(local.isoformat(), "as_of")) == ms


@given(st.integers(min_value=0, max_value=2**62 >> LOGICAL_BITS), st.integers(0, 2**LOGICAL_BITS - 1))
def test_an_hlc_stamp_reads_as_its_wall_clock_millisecond(ms: int, logical: int) -> None:
    assert stamp_ms((ms << LOGICAL_BITS) | logical) == ms


def test_z_suffix_and_none() -> None:
    assert instant_ms(parse_instant("2024-05-01T12:00:00Z", "as_of")) == 1_714_564_800_000
    assert parse_instant(None, "as_of") is None and instant_ms(None) is None and stamp_ms(None) is None


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2024-05-01T12:00:00", "no time zone"),
        ("2024-05-01", "no time zone"),
        ("last tuesday", "neither an ISO-8601"),
        ("", "neither an ISO-8601"),
        (10**20, "out of range"),
        (True, "not a boolean"),
    ],
)
def test_bad_instants_name_the_field_and_the_fix(value: str | int, said: str) -> None:
    with pytest.raises(HiveValidationError, match=said) as caught:
        parse_instant(value, "valid_from")
    assert caught.value.fields["field"] == "valid_from"
    assert "valid_from" in caught.value.message
