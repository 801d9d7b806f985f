"""What a search query names besides its subject: authors and dates.

A name in "What did Maria say about the trip?" says *who*, and a date in "What
did Gina find for her store on 1 February, 2023?" says *when*. Matched as
keywords or embedded with the rest, both pull in every record that merely
contains them; hybrid search instead turns them into signals of their own
(records by that author, records valid on that date) and matches the rest.

Dates recognised (month names full or abbreviated, any case, optional
ordinal suffix and commas):

* ``1 February 2023``, ``1st Feb, 2023``, ``February 1, 2023``: that day;
* ``February 2023``, ``Feb, 2023``: that month;
* ``2023-02-01`` (ISO): that day.

A bare year or weekday is not a mention (too ambiguous), nor is lower-case
"may" without a day ("may 2000 users"), nor an impossible day such as "31 February 2023" (its month,
"February 2023", still is).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DateSpan", "author_mentions", "date_mentions"]

_WORD = re.compile(r"\w+", re.UNICODE)

_MONTHS = {
    name[:3]: number
    for number, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_ORD = r"(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\w)(\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MONTH}\.?,?\s+(\d{{4}})(?!\w)", re.IGNORECASE
)
_MONTH_DAY_YEAR = re.compile(rf"(?<!\w){_MONTH}\.?\s+(\d{{1,2}}){_ORD},?\s+(\d{{4}})(?!\w)", re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"(?<!\w){_MONTH}\.?,?\s+(\d{{4}})(?!\w)", re.IGNORECASE)
_ISO = re.compile(r"(?<!\w)(\d{4})-(\d{2})-(\d{2})(?!\w)")


@dataclass(frozen=True, slots=True)
class DateSpan:
    """A calendar span a query names: ``start <= day < end``."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls in the span."""
        return self.start <= day < self.end


def _month_number(name: str, *, with_day: bool = False) -> int:
    # Without a day, lower-case "may" is the verb ("may 2000 users"), not the month; 0 is never a month.
    return 0 if name == "may" and not with_day else _MONTHS[name[:3].lower()]


def _day(year: str, month: int, day: str) -> DateSpan | None:
    if not 1 <= month <= 12:
        return None
    try:
        start = date(int(year), month, int(day))
    except ValueError:  # "31 February 2023": not a date, so not a mention
        return None
    return DateSpan(start, start + timedelta(days=1))


def _month(year: str, month: int) -> DateSpan | None:
    if not 1 <= month <= 12:
        return None
    y = int(year)
    return DateSpan(date(y, month, 1), date(y + month // 12, month % 12 + 1, 1))


def date_mentions(query: str) -> tuple[tuple[DateSpan, ...], str]:
    """The days and months ``query`` names, and the query without them.

    When removing them would leave no word (the query is only a date), the
    query is returned unchanged.
    """
    spans: list[DateSpan] = []

    def take(span: DateSpan | None) -> str:
        if span is None:
            return ""
        spans.append(span)
        return " "

    rest = _ISO.sub(lambda m: take(_day(m[1], int(m[2]), m[3])) or m[0], query)
    rest = _DAY_MONTH_YEAR.sub(
        lambda m: take(_day(m[3], _month_number(m[2], with_day=True), m[1])) or m[0], rest
    )
    rest = _MONTH_DAY_YEAR.sub(
        lambda m: take(_day(m[3], _month_number(m[1], with_day=True), m[2])) or m[0], rest
    )
    rest = _MONTH_YEAR.sub(lambda m: take(_month(m[2], _month_number(m[1]))) or m[0], rest)
    if not spans:
        return (), query
    rest = " ".join(rest.split())
    return tuple(spans), rest if _WORD.search(rest) else query


@functools.lru_cache(maxsize=4096)
def _author_pattern(author: str) -> re.Pattern[str]:
    # The name as whole words, with an optional possessive ("Maria's", "Maria’s").
    return re.compile(rf"(?<!\w){re.escape(author)}(?:['’]s)?(?!\w)", re.IGNORECASE)


def author_mentions(query: str, authors: Iterable[str]) -> tuple[frozenset[str], str]:
    """The ``authors`` that ``query`` names (whole words, any case), and the query
    without those names.

    When removing the names would leave no word (the query is only a name), the
    query is returned unchanged.
    """
    words = set(_WORD.findall(query.casefold()))
    candidates = [a for a in authors if (aw := _WORD.findall(a.casefold())) and words.issuperset(aw)]
    named: list[str] = []
    rest = query
    # Longest names first, so "Jo Lee" is taken whole before "Jo" could claim part of it.
    for author in sorted(candidates, key=lambda a: (-len(a), a)):
        stripped = _author_pattern(author).sub(" ", rest)
        if stripped != rest:
            named.append(author)
            rest = stripped
    if not named:
        return frozenset(), query
    rest = " ".join(rest.split())
    return frozenset(named), rest if _WORD.search(rest) else query
