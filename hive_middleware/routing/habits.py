"""Habits learned in shadow mode: shadow records, graduation, demotion (pure logic, no I/O).

A *habit* is one way of answering a kind of state, for one agent: the key is
``(agent, signature, template)`` where the *signature* describes the state
from the state only, on one rung of a coarse-to-fine ladder
(:func:`~hive_middleware.routing.signature.state_signatures`: the previous
action's kind, what its observation showed, whether the edited file is the
agent's own script, how the agent runs Python, whether it is repeating
itself...) and the *template* names the
rule that fills the answer from the state (an action template such as
``runs:cmd:1``, a recurring command ``const:submit``, or ``prior`` for the
trained model's own proposal). The next action never enters the key.

Every habit keeps a :class:`ShadowRecord`: how often it applied (``n``) and
how often the action it would have taken equals the one the LLM actually chose
(``hits``, exact match after whitespace normalisation). A habit goes *live*
(:class:`GraduationRule`) only when its current proof window has at least
``min_observations`` observations (and at least the rule's ``floor``: the
fewest that can clear the bound at all) from at least ``min_sources`` distinct
runs, and the Wilson lower bound of ``hits / n`` is at least
``min_lower_bound``. A live habit whose answer is contradicted (the LLM or the
recorded run chose something else, the agent undid the routed action, or the
routed command failed), or whose answer would have been wrong at a step another
habit answered or none did, is *demoted*: it goes back to shadow and its proof
window restarts, so it must earn its answers again. The lifetime counts are
kept for reporting.

:class:`HabitBook` holds the records of one tenant, per agent. Observations of
one agent never count for another agent's habits, a record seen twice (same
source and step) is ignored, and nothing goes live without the proof, so a
poisoned or noisy stream cannot make a habit answer.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.signature import state_signature, state_signatures
from hive_middleware.types import Action, AgentState

if TYPE_CHECKING:
    from hive_middleware.config import RoutingConfig

__all__ = [
    "DEFAULT_HABIT_MIN_LOWER_BOUND",
    "DEFAULT_HABIT_MIN_OBSERVATIONS",
    "DEFAULT_HABIT_MIN_SOURCES",
    "DEFAULT_HABIT_Z",
    "GraduationRule",
    "HabitBook",
    "HabitKey",
    "LearningRecord",
    "ShadowRecord",
    "state_signature",
    "state_signatures",
    "wilson_lower_bound",
]

DEFAULT_HABIT_MIN_OBSERVATIONS = 20
"""Observations a habit needs in its proof window before it may go live."""
DEFAULT_HABIT_MIN_LOWER_BOUND = 0.95
"""Wilson lower bound of the exact-match rate a habit needs to go live."""
DEFAULT_HABIT_Z = 1.0
"""Normal quantile of the Wilson bound (1.0: one-sided 84 %). With it, ``min_observations``
hits out of as many (20) clear a bound of 0.95; 1.645 (one-sided 95 %) would need 52."""
DEFAULT_HABIT_MIN_SOURCES = 3
"""Distinct runs (threads) a habit's proof must come from."""

_MAX_SOURCES_KEPT = 8
_SEEN_PER_AGENT = 4_096

HabitKey = tuple[str, str, str]
"""``(agent, signature, template)``."""


def wilson_lower_bound(hits: int, n: int, z: float = DEFAULT_HABIT_Z) -> float:
    """The Wilson score lower bound of a binomial proportion (0 when ``n`` is 0).

    Args:
        hits: Successes.
        n: Trials.
        z: Normal quantile (1.0: one-sided 84 %; 1.645: one-sided 95 %).
    """
    if n <= 0:
        return 0.0
    p = hits / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


@dataclass(frozen=True, slots=True)
class GraduationRule:
    """When a shadow record proves its habit.

    Attributes:
        min_observations: Observations needed in the proof window.
        min_lower_bound: Wilson lower bound of the hit rate needed.
        z: Normal quantile of the bound.
        min_sources: Distinct runs the observations must come from.
    """

    min_observations: int = DEFAULT_HABIT_MIN_OBSERVATIONS
    min_lower_bound: float = DEFAULT_HABIT_MIN_LOWER_BOUND
    z: float = DEFAULT_HABIT_Z
    min_sources: int = DEFAULT_HABIT_MIN_SOURCES
    floor: int = field(init=False, repr=False, compare=False)
    """The fewest observations that can prove a habit (all of them hits); derived."""

    def __post_init__(self) -> None:
        if isinstance(self.min_observations, bool) or not isinstance(self.min_observations, int) or (
            self.min_observations < 1
        ):
            raise HiveValidationError("min_observations must be an int >= 1", field="min_observations")
        if not 0.0 < self.min_lower_bound <= 1.0:
            raise HiveValidationError("min_lower_bound must be in (0, 1]", field="min_lower_bound")
        if not self.z > 0:
            raise HiveValidationError("z must be positive", field="z")
        if isinstance(self.min_sources, bool) or not isinstance(self.min_sources, int) or self.min_sources < 1:
            raise HiveValidationError("min_sources must be an int >= 1", field="min_sources")
        # The smallest window that can prove anything: below it even n hits out of n fail the bound.
        n = self.min_observations
        while wilson_lower_bound(n, n, self.z) < self.min_lower_bound and n < 1_000_000:
            n += 1
        object.__setattr__(self, "floor", n)

    @classmethod
    def from_config(cls, routing: RoutingConfig) -> GraduationRule:
        """The rule set by ``routing.habit_*`` (:class:`~hive_middleware.config.RoutingConfig`)."""
        return cls(
            min_observations=routing.habit_min_observations,
            min_lower_bound=routing.habit_min_lower_bound,
            z=routing.habit_confidence_z,
            min_sources=routing.habit_min_sources,
        )

    def proven(self, record: ShadowRecord) -> bool:
        """Whether ``record``'s proof window proves its habit."""
        return (
            record.n >= self.floor
            and len(record.sources) >= self.min_sources
            and wilson_lower_bound(record.hits, record.n, self.z) >= self.min_lower_bound
        )


@dataclass(slots=True)
class ShadowRecord:
    """The evidence for one habit.

    Attributes:
        n: Observations in the current proof window.
        hits: Of those, how many times the habit's action equalled the LLM's.
        sources: Distinct runs that gave hits in the window (at most a few kept).
        live: Whether the habit answers.
        total_n: Observations over the habit's whole life.
        total_hits: Hits over its whole life.
        answered: Times it answered live.
        contradicted: Times it was live and its answer was (or would have been) wrong.
        demotions: Times it was demoted.
        graduations: Times it went live.
        example: The last action it would have taken (for people reading the record).
    """

    n: int = 0
    hits: int = 0
    sources: list[str] = field(default_factory=list)
    live: bool = False
    total_n: int = 0
    total_hits: int = 0
    answered: int = 0
    contradicted: int = 0
    demotions: int = 0
    graduations: int = 0
    example: str = ""

    def lower_bound(self, z: float = DEFAULT_HABIT_Z) -> float:
        """Wilson lower bound of the window's hit rate."""
        return wilson_lower_bound(self.hits, self.n, z)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (what persistence stores)."""
        return {
            "n": self.n, "hits": self.hits, "sources": list(self.sources), "live": self.live,
            "total_n": self.total_n, "total_hits": self.total_hits, "answered": self.answered,
            "contradicted": self.contradicted, "demotions": self.demotions, "graduations": self.graduations,
            "example": self.example,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ShadowRecord:
        """Rebuild a record from :meth:`as_dict` output.

        Raises:
            HiveValidationError: a field is missing or of the wrong type.
        """
        try:
            ints = {k: int(data[k]) for k in ("n", "hits", "total_n", "total_hits", "answered", "contradicted",  # type: ignore[call-overload]
                                              "demotions", "graduations")}
            sources = [str(s) for s in data.get("sources") or []]  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            raise HiveValidationError(f"malformed habit record: {exc}", field="habit") from exc
        if min(ints.values()) < 0 or ints["hits"] > ints["n"] or ints["total_hits"] > ints["total_n"]:
            raise HiveValidationError("malformed habit record: counts out of range", field="habit")
        return cls(sources=sources, live=bool(data.get("live")), example=str(data.get("example") or ""), **ints)


@dataclass(frozen=True, slots=True)
class LearningRecord:
    """One element of the learning stream: what the router saw, guessed, and what really happened.

    Attributes:
        state: The state before the step (never containing the step's action).
        predicted: What the router answered live, or ``None`` when it only watched.
        actual: The action the LLM chose (the recorded one in a replay). ``None``
            when no LLM was asked (a live answer was executed): the record then
            only carries the outcome.
        outcome: What became of a live answer: ``None`` (nothing known),
            ``"ok"``, ``"undone"`` (the agent undid it), ``"failed"`` (the
            routed command failed) or ``"overridden"`` (something else ran).
        source: The run or thread the step belongs to (proof must span runs).
        step: The step's index in that run (a record seen twice is ignored).
        template: The habit that answered live (``predicted`` set), if known.
    """

    state: AgentState
    predicted: Action | None
    actual: str | None
    outcome: str | None = None
    source: str = ""
    step: int | None = None
    template: str | None = None


CONTRADICTIONS = frozenset({"undone", "failed", "overridden"})
"""Outcomes that demote the live habit that answered."""


class HabitBook:
    """The shadow records of one tenant's agents, and the rules that move habits live and back.

    Args:
        rule: When a habit is proven.
        tenant: Whose habits these are (used by persistence).
    """

    def __init__(self, rule: GraduationRule | None = None, *, tenant: str = "default") -> None:
        self.rule = rule or GraduationRule()
        self.tenant = tenant
        # (agent, signature) -> {template: record}: one lookup per step finds every candidate's record.
        self._records: dict[tuple[str, str], dict[str, ShadowRecord]] = {}
        self._live: dict[tuple[str, str], set[str]] = {}
        self._seen: dict[str, OrderedDict[tuple[str, int], None]] = {}
        self._dirty: set[HabitKey] = set()
        self.ignored_duplicates = 0

    # -- reading ------------------------------------------------------------------------

    def record(self, agent: str, signature: str, template: str) -> ShadowRecord | None:
        """The record of one habit, or ``None`` if it was never observed."""
        return self._records.get((agent, signature), {}).get(template)

    def items(self) -> Iterator[tuple[HabitKey, ShadowRecord]]:
        """Every habit and its record."""
        for (agent, signature), by_template in self._records.items():
            for template, record in by_template.items():
                yield (agent, signature, template), record

    def live_habits(self, agent: str | None = None) -> list[HabitKey]:
        """The habits that answer (of one agent, or all)."""
        return sorted(
            (a, s, t) for (a, s), templates in self._live.items() for t in templates if agent is None or a == agent
        )

    def __len__(self) -> int:
        return sum(len(v) for v in self._records.values())

    def propose(self, agent: str, signature: str, fills: Mapping[str, str]) -> tuple[str, float] | None:
        """The live habit to answer with among ``fills`` (template -> command), and its lower bound.

        Among the live habits of ``(agent, signature)`` whose template can be
        filled in this state, the one with the highest lower bound (then most
        observations, then name) answers; ``None`` when none is live.
        """
        live = self._live.get((agent, signature))
        if not live:
            return None
        records = self._records[(agent, signature)]
        z = self.rule.z
        best: tuple[float, int, str] | None = None
        for template in live:
            if template in fills:
                r = records[template]
                score = (r.lower_bound(z), r.n, template)
                if best is None or score > best:
                    best = score
        return (best[2], best[0]) if best is not None else None

    def best_shadow(self, agent: str, signature: str, fills: Mapping[str, str]) -> tuple[str, float] | None:
        """The fillable habit with the highest lower bound, live or not (a guess, never an answer)."""
        records = self._records.get((agent, signature))
        if not records:
            return None
        z = self.rule.z
        best: tuple[float, int, str] | None = None
        for template in fills:
            r = records.get(template)
            if r is not None and r.n:
                score = (r.lower_bound(z), r.n, template)
                if best is None or score > best:
                    best = score
        return (best[2], best[0]) if best is not None else None

    # -- learning -----------------------------------------------------------------------

    def seen_before(self, agent: str, source: str, step: int | None) -> bool:
        """Whether the step ``(source, step)`` of ``agent`` was already learned from (and mark it)."""
        if step is None or not source:
            return False
        seen = self._seen.setdefault(agent, OrderedDict())
        key = (source, step)
        if key in seen:
            self.ignored_duplicates += 1
            return True
        seen[key] = None
        if len(seen) > _SEEN_PER_AGENT:
            seen.popitem(last=False)
        return False

    def observe(
        self,
        agent: str,
        signature: str,
        fills: Mapping[str, str],
        actual: str,
        *,
        source: str = "",
        answered: str | None = None,
    ) -> None:
        """Learn from one step the LLM decided: every fillable habit is scored against ``actual``.

        Args:
            agent: Whose step it was.
            signature: One of :func:`state_signatures` of the state.
            fills: Each applicable template's command, in exact-match form.
            actual: The LLM's action, in exact-match form.
            source: The run it belongs to.
            answered: The live habit that answered this step, if one did
                (counted in its record's ``answered``).

        A live habit whose command differs from ``actual`` is demoted, whether
        it answered or not: its answer would have been wrong.
        """
        by_template = self._records.setdefault((agent, signature), {})
        rule = self.rule
        for template, command in fills.items():
            record = by_template.get(template)
            if record is None:
                record = by_template[template] = ShadowRecord()
            hit = command == actual
            record.n += 1
            record.total_n += 1
            record.example = command
            if hit:
                record.hits += 1
                record.total_hits += 1
                if source and source not in record.sources:
                    record.sources.append(source)
                    if len(record.sources) > _MAX_SOURCES_KEPT:
                        del record.sources[0]
            if template == answered:
                record.answered += 1
            if record.live and not hit:
                # Answered or not, its answer here would have been wrong: the same evidence as a
                # contradicted answer (several rungs and templates often propose one command).
                self._demote(agent, signature, template, record)
            elif not record.live and rule.proven(record):
                self._graduate(agent, signature, template, record)
            else:
                # Misses are saved too: a stored record without them would overstate its habit.
                self._dirty.add((agent, signature, template))

    def contradict(self, agent: str, signature: str, template: str) -> bool:
        """A live answer of this habit was contradicted (undone, failed, overridden): demote it.

        Returns:
            Whether a live habit was demoted.
        """
        record = self.record(agent, signature, template)
        if record is None or not record.live:
            return False
        record.answered += 1
        self._demote(agent, signature, template, record)
        return True

    def _graduate(self, agent: str, signature: str, template: str, record: ShadowRecord) -> None:
        record.live = True
        record.graduations += 1
        self._live.setdefault((agent, signature), set()).add(template)
        self._dirty.add((agent, signature, template))

    def _demote(self, agent: str, signature: str, template: str, record: ShadowRecord) -> None:
        if record.live:
            record.contradicted += 1
            record.demotions += 1
        record.live = False
        # The proof restarts: the habit earns its answers again from new observations.
        record.n = record.hits = 0
        record.sources.clear()
        live = self._live.get((agent, signature))
        if live is not None:
            live.discard(template)
        self._dirty.add((agent, signature, template))

    # -- persistence support --------------------------------------------------------------

    def take_dirty(self) -> list[tuple[HabitKey, ShadowRecord]]:
        """Habits changed since the last call (observed, graduated, demoted), with their records."""
        out = []
        for key in sorted(self._dirty):
            record = self.record(*key)
            if record is not None:
                out.append((key, record))
        self._dirty.clear()
        return out

    def load(self, entries: Iterable[tuple[HabitKey, ShadowRecord]]) -> int:
        """Adopt stored records (replacing those of the same habits); returns how many.

        A stored record marked live is live again only if it still proves
        itself under this book's rule.
        """
        count = 0
        for (agent, signature, template), record in entries:
            record.live = record.live and self.rule.proven(record)
            self._records.setdefault((agent, signature), {})[template] = record
            live = self._live.setdefault((agent, signature), set())
            if record.live:
                live.add(template)
            else:
                live.discard(template)
            count += 1
        return count
