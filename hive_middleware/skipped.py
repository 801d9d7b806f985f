"""Counting the records a data reader leaves out, and why.

The readers of real data (``.traj`` runs, LoCoMo, long-horizon) load every
usable record and skip a malformed or unscorable one: each skip adds one to a
count per *reason* and writes one warning line naming the file and the field.
Evaluations report the counts as ``"skipped": {reason: n}`` and fail only when
nothing usable remains.

A reader takes an explicit :class:`SkippedRecords`; without one it reports to
the collector opened by :func:`recording_skips` in the current context (so a
caller can collect the skips of code it does not control), or else to a
private one that only warns.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from hive_middleware.errors import HiveDataError

__all__ = ["SkippedRecords", "active_skips", "recording_skips", "skip_data_error", "skip_reason"]

_log = logging.getLogger("hive_middleware.data")
_INDEX = re.compile(r"\[\d+\]")
_SAMPLE = re.compile(r"\([^)]*\)")
_DETAIL = re.compile(r"\s*(\(.*|, got .*|;.*)$", re.DOTALL)


def skip_reason(where: str, problem: str) -> str:
    """A reason to count skips under: the field without its indices, and the problem without its details.

    ``skip_reason("trajectory[3].action", "must be a string, got int")`` is
    ``"trajectory[].action: must be a string"``, so every step with that defect
    counts under one key.
    """
    field = _SAMPLE.sub("", _INDEX.sub("[]", where))
    field = re.sub(r"^(\[\])+", "", field).strip(". ")  # a top-level list index says nothing
    short = _DETAIL.sub("", problem).strip() or problem.strip()
    return f"{field}: {short}" if field else short


class SkippedRecords:
    """Counts of skipped records by reason; each skip also writes one warning line.

    Args:
        warn: Called with one line per skip (default: a ``WARNING`` on the
            ``hive_middleware.data`` logger).
    """

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._warn = warn or _log.warning
        self._counts: Counter[str] = Counter()

    def skip(self, reason: str, detail: str) -> None:
        """Count one skipped record under ``reason`` and warn with ``detail`` (file and field)."""
        self._counts[reason] += 1
        self._warn(" ".join(f"skipped {detail}".split()))

    @property
    def counts(self) -> dict[str, int]:
        """``{reason: n}``, reasons sorted, for the ``skipped`` key of a report."""
        return dict(sorted(self._counts.items()))

    @property
    def total(self) -> int:
        """How many records were skipped."""
        return sum(self._counts.values())

    def describe(self) -> str:
        """``"3 skipped (a: 2, b: 1)"`` for one-line error messages; ``"none skipped"`` when empty."""
        if not self._counts:
            return "none skipped"
        parts = ", ".join(f"{reason}: {n}" for reason, n in self.counts.items())
        return f"{self.total} skipped ({parts})"


def skip_data_error(skips: SkippedRecords, exc: HiveDataError) -> None:
    """Count the record a :class:`~hive_middleware.errors.HiveDataError` refused as one skip.

    The reason comes from the error's ``field`` and ``problem`` fields (see
    :func:`skip_reason`); the warning line names the file and the field.
    """
    where = str(exc.fields.get("field") or "<file>")
    problem = str(exc.fields.get("problem") or exc.message)
    path = exc.fields.get("path")
    name = Path(path).name if isinstance(path, str) and path else "<data>"
    detail = f"{name}: {where} {problem}" if exc.fields.get("problem") else exc.message
    skips.skip(skip_reason(where, problem), detail)


_ACTIVE: ContextVar[SkippedRecords | None] = ContextVar("hive_skipped_records", default=None)


def active_skips(explicit: SkippedRecords | None = None) -> SkippedRecords:
    """``explicit`` if given, else the collector of :func:`recording_skips`, else a fresh one that only warns."""
    if explicit is not None:
        return explicit
    return _ACTIVE.get() or SkippedRecords()


@contextmanager
def recording_skips(warn: Callable[[str], None] | None = None) -> Iterator[SkippedRecords]:
    """Collect the skips of every reader called in this context (and threads it copies into).

    Example::

        with recording_skips() as skips:
            result = run_compress_eval(paths, methods, "hive")
        result["skipped"] = skips.counts

    Args:
        warn: Where the warning lines go (default: the ``hive_middleware.data`` logger).
    """
    skips = SkippedRecords(warn)
    token = _ACTIVE.set(skips)
    try:
        yield skips
    finally:
        _ACTIVE.reset(token)
