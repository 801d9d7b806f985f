"""Times on the wire of the Hive HTTP service.

A request names an instant (``as_of``, ``valid_from``) as an ISO-8601
date-time with a time zone (``2024-05-01T12:00:00Z``) or as epoch
milliseconds (an integer, or a string of digits in a query). A response gives
every time as epoch milliseconds, so a ``recorded_at`` read from one answer can
be sent back as ``as_of`` and finds that very version.
"""

import re
from datetime import UTC, datetime, timedelta

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import hlc_physical_ms

__all__ = ["Instant", "instant_ms", "parse_instant", "stamp_ms"]

Instant = str | int
"""An instant as a request sends it: ISO-8601 text or epoch milliseconds."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"-?\d+")
_EXAMPLE = "send an ISO-8601 date-time with a zone such as 2024-05-01T12:00:00Z, or epoch milliseconds"


def parse_instant(value: Instant | None, field: str) -> datetime | None:
    """The aware UTC datetime a request names (``None`` stays ``None``).

    Args:
        value: ISO-8601 text with a time zone, epoch milliseconds, or digits.
        field: The request field, named in the error.

    Returns:
        The instant; epoch milliseconds convert exactly (no float rounding).

    Raises:
        HiveValidationError: the value is neither form, has no time zone, or is out of range.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise HiveValidationError(f"{field} must be a date-time, not a boolean; {_EXAMPLE}", field=field)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int):
        try:
            # timedelta keeps whole milliseconds exact; a float division would not.
            return _EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            raise HiveValidationError(
                f"{field}={value} epoch milliseconds is out of range; {_EXAMPLE}", field=field
            ) from None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise HiveValidationError(
            f"{field}={value!r} is neither an ISO-8601 date-time nor epoch milliseconds; {_EXAMPLE}",
            field=field,
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HiveValidationError(
            f"{field}={value!r} has no time zone; add one (Z or +HH:MM) so the instant is unambiguous",
            field=field,
        )
    return moment.astimezone(UTC)


def instant_ms(moment: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime (``None`` stays ``None``)."""
    if moment is None:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def stamp_ms(stamp: int | None) -> int | None:
    """Epoch milliseconds of an HLC stamp's wall-clock part (``None`` stays ``None``)."""
    return None if stamp is None else hlc_physical_ms(stamp)
