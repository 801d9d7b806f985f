"""What a search query names besides its subject: authors and dates.

A name in "What did Maria say about the trip?" says *who*, and a date in "What
did Gina find for her store on 1 February, 2023?" says *when*. Matched as
keywords or embedded with the rest, both pull in every record that merely
contains them; hybrid search instead turns them into signals of their own
(records by that author, records valid on that date) and matches the rest.

Authors are found as proper names (:func:`author_mentions`):

* the name as written, or with each word capitalised (an author stored as
  "maria" is found in "Maria"), as whole words, words apart by any
  whitespace, with an optional possessive ("Maria's", "Maria’s"); so "Will"
  is found in "What did Will say?" and "Will's", not in "will" or "WILL";
* a name made only of common English words ("Will", "May", "Grace", "Summer",
  "user", "assistant"; the list is ``common_words.json`` beside this module)
  may just be those words, so it is found only where it is written with a
  capital and does not open a sentence: the start of the query, or after
  ``.``, ``!``, ``?``, ``…``, ``:`` or a line break, opening brackets and
  quotes aside. "What will the deploy break?", "May I see May's notes?" (the
  first "May") and "the user asked" name nobody;
* quoting lifts that rule: in ``What did "user" ask?`` or ``'May' wrote it``
  the quoted name is an author's (still as written or capitalised);
* a name with any uncommon word ("Maria", "Jon", "Maria Lopez", "Will Smith")
  is found anywhere, the start of the query included;
* longer names are taken first, and a shorter one is not found inside them
  ("Jo" in "Jo Lee").

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
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

__all__ = ["DateSpan", "author_mentions", "common_words", "date_mentions"]

_WORD = re.compile(r"\w+", re.UNICODE)
# Opening quote -> the quotes that may close it.
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“”"}
# Characters that may stand between a sentence's start and its first word.
_OPENERS = " \t\r\n\f\v([{" + "".join(_QUOTES)
_SENTENCE_ENDS = ".!?…:"

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


@functools.cache
def common_words() -> frozenset[str]:
    """The common English words (lower case) that make a name ambiguous.

    Loaded once from ``common_words.json`` beside this module; its ``about``
    field says how the list was built.
    """
    text = resources.files("hive_middleware.memory").joinpath("common_words.json").read_text("utf-8")
    return frozenset(json.loads(text)["words"])


def _is_ambiguous(author: str) -> bool:
    # Every word common ("Will", "Summer Rain", "user"): the name may be ordinary words.
    words = _WORD.findall(author.casefold())
    return bool(words) and common_words().issuperset(words)


def _capitalised(author: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in author.split())


@functools.lru_cache(maxsize=4096)
def _author_pattern(author: str) -> re.Pattern[str]:
    # The name as written or capitalised, as whole words; group 1 is the name itself,
    # then an optional possessive ("Maria's", "Maria’s").
    forms = sorted({" ".join(author.split()), _capitalised(author)}, key=lambda form: (-len(form), form))
    names = "|".join(r"\s+".join(re.escape(word) for word in form.split()) for form in forms)
    return re.compile(rf"(?<!\w)({names})(?:['’]s)?(?!\w)")


def _quoted(query: str, match: re.Match[str]) -> bool:
    before = query[match.start() - 1] if match.start() > 0 else ""
    closing = _QUOTES.get(before)
    if closing is None:
        return False
    # Closed right after the match: '"May"' and '"May's"' ('"May"'s' too: the possessive then
    # does not match), not the possessive's own apostrophe in "‘May’s notes".
    after = query[match.end() : match.end() + 1]
    return bool(after) and after in closing


def _opens_sentence(query: str, start: int) -> bool:
    before = query[:start]
    kept = before.rstrip(_OPENERS)
    if not kept or "\n" in before[len(kept) :]:
        return True
    return kept[-1] in _SENTENCE_ENDS


def _name_span(query: str, match: re.Match[str], ambiguous: bool) -> tuple[int, int] | None:
    # Where the match names the author (its quotes included), or None where it does not.
    if _quoted(query, match):
        return match.start() - 1, match.end() + 1
    if not ambiguous or (match[1][0].isupper() and not _opens_sentence(query, match.start())):
        return match.span()
    return None


def author_mentions(query: str, authors: Iterable[str]) -> tuple[frozenset[str], str]:
    """The ``authors`` that ``query`` names, and the query without those names.

    A name is found as a proper name (see the module docstring): as written or
    capitalised, whole words, with an optional possessive; a name made only of
    common words also has to be capitalised and not open a sentence, unless it
    is quoted. Longer names are taken first, so "Jo Lee" is found whole before
    "Jo" could claim part of it.

    Args:
        query: The search text.
        authors: The names to look for (``metadata["author"]`` values).

    Returns:
        The names found, and ``query`` without them (whitespace collapsed).
        When removing them would leave no word (the query is only a name),
        ``query`` is returned unchanged.
    """
    words = set(_WORD.findall(query.casefold()))
    candidates = [a for a in authors if (aw := _WORD.findall(a.casefold())) and words.issuperset(aw)]
    named: list[str] = []
    taken: list[tuple[int, int]] = []
    for author in sorted(candidates, key=lambda a: (-len(a), a)):
        ambiguous = _is_ambiguous(author)
        spans = [
            span
            for match in _author_pattern(author).finditer(query)
            if (span := _name_span(query, match, ambiguous)) is not None
            and not any(start < span[1] and span[0] < end for start, end in taken)
        ]
        if spans:
            named.append(author)
            taken.extend(spans)
    if not named:
        return frozenset(), query
    pieces: list[str] = []
    position = 0
    for start, end in sorted(taken):
        pieces.append(query[position:start])
        position = end
    pieces.append(query[position:])
    rest = " ".join(" ".join(pieces).split())
    return frozenset(named), rest if _WORD.search(rest) else query
