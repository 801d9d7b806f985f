"""What a habit book shows after a replay: near misses and why, and the hindsight ceiling.

Pure functions over a :class:`~hive_middleware.routing.habits.HabitBook` (no
I/O), used by ``hive eval route --online`` to explain its coverage:

* :func:`near_misses`: habits that are nearly exact over their life but not
  live at the end, each with the reason (:data:`NEAR_MISS_REASONS`).
* :func:`hindsight_hits`: per rung of the signature ladder, how many steps
  habits could have answered had every habit's lifetime exact-match rate been
  known from the first step (one template per signature, rate at least the
  rule's bound, at least the rule's smallest proof). Within one rung the
  signatures split the steps, so the counts add up; the best rung is a lower
  bound of what the whole ladder could answer in hindsight. The prequential
  figure stays below it by the observations every habit needs before it may
  answer, and by the proofs that restart after a demotion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hive_middleware.routing.habits import HabitBook, HabitKey, ShadowRecord
from hive_middleware.routing.signature import RUNGS, signature_rung

__all__ = ["NEAR_MISS_REASONS", "NearMiss", "hindsight_hits", "near_misses"]

NEAR_MISS_REASONS = ("demoted", "too_few_runs", "too_few_observations", "bound_below")
"""Why a nearly exact habit is not live: it was live and lost a proof to a miss;
its proof window has hits from too few distinct runs; it has fewer
observations than the smallest proof; or its window's lower bound is below the rule's."""


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A habit that is nearly exact but not live.

    Attributes:
        key: ``(agent, signature, template)``.
        record: Its record.
        reason: One of :data:`NEAR_MISS_REASONS`.
    """

    key: HabitKey
    record: ShadowRecord
    reason: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        agent, signature, template = self.key
        r = self.record
        return {
            "agent": agent, "signature": signature, "template": template, "reason": self.reason,
            "lifetime_hits": r.total_hits, "lifetime_n": r.total_n, "window_hits": r.hits, "window_n": r.n,
            "window_runs": len(r.sources), "demotions": r.demotions, "answered": r.answered,
        }


def _reason(book: HabitBook, record: ShadowRecord) -> str:
    rule = book.rule
    if record.n < rule.floor:
        return "demoted" if record.demotions else "too_few_observations"
    if len(record.sources) < rule.min_sources:
        return "too_few_runs"
    return "bound_below"


def near_misses(
    book: HabitBook, *, agent: str | None = None, min_rate: float = 0.85, min_hits: int = 10, limit: int = 10
) -> list[NearMiss]:
    """Habits not live at the end whose lifetime exact-match rate is at least ``min_rate``.

    Habits that fill the same commands on the same steps (twins on one
    signature, with equal lifetime counts) are listed once. Ordered by
    lifetime hits, most first.
    """
    found: list[NearMiss] = []
    seen: set[tuple[str, str, int, int]] = set()  # (agent, signature or template, lifetime hits, n)
    candidates = sorted(
        ((k, r) for k, r in book.items() if (agent is None or k[0] == agent) and not r.live),
        key=lambda kr: (-kr[1].total_hits, kr[0]),
    )
    for key, record in candidates:
        if record.total_hits < min_hits or record.total_hits < min_rate * record.total_n:
            continue
        # Twins: another template on the same signature, or the same template on another rung.
        twins = {(key[0], key[1], record.total_hits, record.total_n), (key[0], key[2], record.total_hits, record.total_n)}
        if twins & seen:
            continue
        seen |= twins
        found.append(NearMiss(key, record, _reason(book, record)))
        if len(found) >= limit:
            break
    return found


def hindsight_hits(book: HabitBook, agent: str) -> dict[str, int]:
    """Per rung name (:data:`~hive_middleware.routing.signature.RUNGS`), the steps of ``agent``
    that the best-in-hindsight template of each signature answers correctly (see the module docstring)."""
    rule = book.rule
    best: dict[tuple[int, str], int] = {}
    entries: Iterable[tuple[HabitKey, ShadowRecord]] = book.items()
    for (owner, signature, _template), record in entries:
        if owner != agent or record.total_n < rule.floor:
            continue
        if record.total_hits < rule.min_lower_bound * record.total_n:
            continue
        rung = signature_rung(signature)
        if rung is None:
            continue
        key = (rung, signature)
        best[key] = max(best.get(key, 0), record.total_hits)
    out = dict.fromkeys(RUNGS, 0)
    for (rung, _signature), hits in best.items():
        out[RUNGS[rung]] += hits
    return out
