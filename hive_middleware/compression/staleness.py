"""STALE: outputs a later message supersedes.

* a file view is stale when a later view of the same file covers its line range
  (an edit's result snippet counts as a view: it shows the newer text), or when a
  later view of the same file overlaps it and rapidfuzz finds the two texts
  near-identical (``ratio >= stale_similarity``);
* any other output is stale when the same command (whitespace-normalised) ran
  again later: the newer run shows the current state.

The newest output of each kind is never stale, so superseded content always has
a successor the stub can name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from hive_middleware.compression.content_types import ContentType

__all__ = ["ViewRegion", "find_stale", "view_region"]

_HEADER = re.compile(
    r"^(?:Here's the result of running `cat -n` on (?:a snippet of )?(?P<p1>[^\s:]+):?"
    r"|The file (?P<p2>\S+) has been (?:edited|updated)\..*|\[File: (?P<p3>[^\s(]+) \(\d+ lines total\)\])\s*$"
)
_ABBREVIATED = "<NOTE>This file is too large"
_NUMBERED = re.compile(r"^\s*(\d+)(?:\t|:|→)", re.M)


@dataclass(frozen=True, slots=True)
class ViewRegion:
    """The file and line range a file view shows (``outline``: an abbreviated whole-file view)."""

    path: str
    start: int
    end: int
    outline: bool = False

    def covers(self, other: ViewRegion) -> bool:
        """Whether this view shows every line ``other`` shows."""
        if self.path != other.path:
            return False
        if other.outline:
            return self.outline or (self.start <= 1 and self.end >= other.end)
        return not self.outline and self.start <= other.start and self.end >= other.end

    def overlaps(self, other: ViewRegion) -> bool:
        """Whether the two views share lines of the same file."""
        return self.path == other.path and self.start <= other.end and other.start <= self.end


@lru_cache(maxsize=8_192)
def view_region(body: str) -> ViewRegion | None:
    """Parse a file view's path and line range (``None`` when it is not one)."""
    path = ""
    outline = False
    for line in body.split("\n", 4)[:4]:
        line = line.rstrip("\r")
        if line.startswith(_ABBREVIATED):
            outline = True
            continue
        m = _HEADER.match(line)
        if m:
            path = m.group("p1") or m.group("p2") or m.group("p3") or ""
            break
    if not path:
        return None
    numbers = _NUMBERED.findall(body)
    if not numbers:
        return None
    return ViewRegion(path=path, start=int(numbers[0]), end=int(numbers[-1]), outline=outline)


@lru_cache(maxsize=8_192)
def _near_identical(old: str, new: str, cutoff: float) -> bool:
    from rapidfuzz import fuzz

    return bool(fuzz.ratio(old, new, score_cutoff=cutoff))


def _command_key(action: str) -> str:
    return " ".join(action.split())


def find_stale(
    bodies: Sequence[str | None],
    types: Sequence[ContentType | None],
    actions: Sequence[str | None],
    *,
    similarity: float,
) -> dict[int, int]:
    """Which outputs a later output supersedes.

    Args:
        bodies: Per message, the output text (``None`` for non-outputs).
        types: Per message, its content type (``None`` for non-outputs).
        actions: Per message, the producing command (``None`` for non-outputs).
        similarity: rapidfuzz ``ratio`` (0-100) above which two overlapping views
            of one file count as the same re-read.

    Returns:
        ``{stale index: index of the newer message that supersedes it}``.
    """
    stale: dict[int, int] = {}
    newer_views: dict[str, list[tuple[int, ViewRegion]]] = {}
    newer_commands: dict[str, int] = {}
    for i in range(len(bodies) - 1, -1, -1):
        body = bodies[i]
        if body is None:
            continue
        kind = types[i]
        region = view_region(body) if kind is ContentType.FILE_VIEW else None
        if region is not None:
            later = newer_views.setdefault(region.path, [])
            for j, newer in later:
                if newer.covers(region) or (
                    newer.overlaps(region) and _near_identical(body, bodies[j] or "", similarity)
                ):
                    stale[i] = j
                    break
            later.append((i, region))
            continue
        action = actions[i]
        if not action or kind is ContentType.FILE_VIEW:
            continue
        key = _command_key(action)
        j_cmd = newer_commands.get(key)
        if j_cmd is not None:
            stale[i] = j_cmd
        else:
            newer_commands[key] = i
    return stale
