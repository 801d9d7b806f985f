"""Shadow-mode routing: watch every step, answer only with habits that proved themselves.

:class:`ShadowRouter` implements :class:`~hive_middleware.ports.ActionPolicy`.
For a state it derives the habit signatures, coarse to fine
(:func:`~hive_middleware.routing.signature.state_signatures`), and the action
every applicable rule would take: each action template
(:mod:`~hive_middleware.routing.templates`), each command this agent keeps
repeating across runs (learned online), and, when a trained model is given as
the *prior*, the model's own best proposal (as the habit ``prior`` of a
confidence band, so the model is calibrated per agent, not globally). It
answers only when one of those habits is live for this agent in the
:class:`~hive_middleware.routing.habits.HabitBook`; otherwise it escalates and
keeps the candidates to learn from.

Learning, from a plain stream of
:class:`~hive_middleware.routing.habits.LearningRecord` (``state, predicted,
actual, outcome``) through :meth:`ShadowRouter.learn`, or by itself: when the
next state of the same agent arrives, its last step is the action that was
taken after the previous decision (:meth:`ShadowRouter.decide` learns from it
first). An executed live answer is no evidence for its habit (nothing else
was asked); it counts only against it, when it was overridden, failed, or was
undone by the next action.

Decisions and learning are pure computation (no I/O); persistence lives in
:mod:`hive_middleware.routing.habit_memory`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hive_middleware.routing.encode import validate_state
from hive_middleware.routing.facts import StateFacts, state_facts, step_facts
from hive_middleware.routing.features import cached_action_type
from hive_middleware.routing.habits import (
    CONTRADICTIONS,
    GraduationRule,
    HabitBook,
    LearningRecord,
)
from hive_middleware.routing.normalize import whitespace_form
from hive_middleware.routing.policy import RouterPolicy
from hive_middleware.routing.signature import state_signatures
from hive_middleware.routing.templates import Template, TemplateSet, _base_candidates
from hive_middleware.types import Action, AgentState, RouteDecision, Step

if TYPE_CHECKING:
    from hive_middleware.config import RoutingConfig

__all__ = ["PRIOR_TEMPLATE", "ShadowRouter", "prior_band", "router_from_config", "undoes"]

PRIOR_TEMPLATE = "prior"
"""Template name of the prior model's own proposal."""

_PRIOR_BANDS = (0.9, 0.8, 0.6, 0.4)
_MAX_AGENTS = 10_000
_MAX_CONST_CHARS = 200
_MAX_TRACKED_COMMANDS = 4_096
_FAILED_SIGNALS = frozenset({"command_not_found", "edit_failed"})


def prior_band(confidence: float) -> str:
    """The confidence band of a prior proposal (``prior/0.9`` ... ``prior/low``): its habit signature."""
    for band in _PRIOR_BANDS:
        if confidence >= band:
            return f"prior/{band}"
    return "prior/low"


_UNDO_EDIT = re.compile(r"^str_replace_editor undo_edit (\S+)")
_GIT_RESTORE = re.compile(r"^git (?:checkout --|restore) (\S+)")


def undoes(previous: str, action: str) -> bool:
    """Whether ``action`` undoes ``previous`` (an edit reverted, a created file removed)."""
    prev = step_facts(Step(previous, ""))
    touched = prev.edited or prev.created
    if touched is None:
        return False
    a = action.strip()
    m = _UNDO_EDIT.match(a) or _GIT_RESTORE.match(a)
    if m is not None and m.group(1).rstrip("/") == touched.rstrip("/"):
        return True
    return prev.created is not None and a.startswith("rm ") and prev.created in a.split()[1:]


@dataclass(frozen=True, slots=True)
class _View:
    """What the router derived from one state."""

    agent: str
    signatures: tuple[str, ...]  # coarse to fine
    fills: dict[str, str]  # template -> exact-match form
    raw: dict[str, str]  # template -> command as rendered
    prior_signature: str | None
    prior_fill: str | None
    prior_raw: str | None
    prior_type: str


@dataclass(slots=True)
class _Pending:
    view: _View
    state: AgentState
    length: int
    last_action: str
    answered: str | None  # the habit template that answered live
    answered_signature: str | None
    routed: str | None  # exact-match form of the routed command
    source: str


@dataclass(slots=True)
class _Commands:
    """Per agent: recurring commands, counted in distinct runs."""

    sources: dict[str, set[str]] = field(default_factory=dict)
    consts: tuple[str, ...] = ()


class ShadowRouter:
    """Route with habits proven in shadow mode, per agent; learn from every step.

    Args:
        prior: A trained router used as the prior (its proposals are one more
            habit per confidence band), or ``None`` to start from nothing.
        book: The habit records (default: an empty book with ``rule``).
        rule: Graduation rule of a new book.
        templates: Action templates to try (default: the generic templates
            plus the prior's mined ones).
        max_consts: Recurring commands tried as constant answers per agent.
        const_min_sources: Runs a command must recur in to be tried.
        signatures: The state's habit signatures, coarse to fine (default
            :func:`~hive_middleware.routing.signature.state_signatures`); it
            must read only the state.
    """

    def __init__(
        self,
        prior: RouterPolicy | None = None,
        *,
        book: HabitBook | None = None,
        rule: GraduationRule | None = None,
        templates: TemplateSet | None = None,
        max_consts: int = 24,
        const_min_sources: int = 3,
        signatures: Callable[[StateFacts], tuple[str, ...]] = state_signatures,
    ) -> None:
        self.prior = prior
        self.signatures = signatures
        self._prior_sweep = prior.with_threshold(0.0) if prior is not None else None
        self.book = book if book is not None else HabitBook(rule)
        if templates is None:
            base: list[Template] = _base_candidates()
            names = {t.name for t in base}
            if prior is not None:
                base += [t for t in prior.model.templates.templates if t.name not in names and t.source != "const"]
            templates = TemplateSet(base, "whitespace")
        self.templates = templates
        self._prior_consts: tuple[str, ...] = (
            tuple(t.command for t in prior.model.templates.templates if t.source == "const") if prior else ()
        )
        self.max_consts = max_consts
        self.const_min_sources = const_min_sources
        self._commands: dict[str, _Commands] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._routed: dict[str, tuple[_View, str, str, str, int]] = {}
        self._reproducible: dict[str, list[int]] = {}  # agent -> [steps learned, reproduced by a candidate]
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def reproducible_steps(self) -> dict[str, tuple[int, int]]:
        """Per agent: steps learned from, and of those how many some candidate reproduced exactly.

        The second count is the most any habit could ever answer correctly: a
        step no template, recurring command or prior proposal reproduces
        (an edit's new text, a search for a new word) is beyond every habit.
        """
        return {agent: (steps, hits) for agent, (steps, hits) in self._reproducible.items()}

    @property
    def training_runs(self) -> frozenset[str]:
        """Run ids the prior was trained or calibrated on (evaluations skip them)."""
        return self.prior.training_runs if self.prior is not None else frozenset()

    # -- candidates -------------------------------------------------------------------

    def _view(self, state: AgentState, facts: StateFacts | None = None) -> _View:
        facts = facts or state_facts(state)
        agent = state.agent_id
        ts = self.templates
        cands = ts.candidates(facts)
        fills: dict[str, str] = {}
        raw: dict[str, str] = {}
        names = ts.names
        for i in ts.other_indices[ts.fillable(cands)[ts.other_indices]].tolist():
            pair = ts.fill_matched(i, facts, cands)
            if pair is not None and pair[0].strip():
                raw[names[i]] = pair[0]
                fills[names[i]] = whitespace_form(pair[0])
        commands = self._commands.get(agent)
        for const in (*self._prior_consts, *(commands.consts if commands else ())):
            name = "const:" + const
            raw[name] = const
            fills[name] = whitespace_form(const)
        prior_signature = prior_fill = prior_raw = None
        prior_type = ""
        if self._prior_sweep is not None:
            decision, prior_type = self._prior_sweep.decide_with_type(state)
            if decision.action is not None:
                prior_signature = prior_band(decision.confidence)
                prior_raw = decision.action.command
                prior_fill = whitespace_form(prior_raw)
        return _View(agent, self.signatures(facts), fills, raw, prior_signature, prior_fill, prior_raw, prior_type)

    # -- deciding -------------------------------------------------------------------------

    def _decide(self, state: AgentState) -> tuple[RouteDecision, str]:
        state = validate_state(state)
        self._learn_from_continuation(state)
        view = self._view(state)
        book = self.book
        answer: tuple[str, str, float, str] | None = None  # template, raw command, bound, signature
        for signature in view.signatures:
            choice = book.propose(view.agent, signature, view.fills)
            if choice is not None and (answer is None or choice[1] > answer[2]):
                answer = (choice[0], view.raw[choice[0]], choice[1], signature)
        if view.prior_signature is not None and view.prior_raw is not None:
            prior_choice = book.propose(view.agent, view.prior_signature, {PRIOR_TEMPLATE: view.prior_raw})
            if prior_choice is not None and (answer is None or prior_choice[1] > answer[2]):
                answer = (PRIOR_TEMPLATE, view.prior_raw, prior_choice[1], view.prior_signature)
        decision_id = f"{view.agent}#{next(self._ids)}"
        if answer is not None:
            template, command, bound, signature = answer
            decision = RouteDecision(
                Action(command=command), template, bound, False,
                f"live habit {signature} {template} (lower bound {bound:.3f})", decision_id,
            )
            guessed = cached_action_type(command)
        else:
            guess = None
            for signature in view.signatures:
                candidate = book.best_shadow(view.agent, signature, view.fills)
                if candidate is not None and (guess is None or candidate[1] > guess[1]):
                    guess = candidate
            best = guess[0] if guess else None
            decision = RouteDecision(
                None, best, guess[1] if guess else 0.0, True,
                f"shadow: no live habit for {view.signatures[-1]}", decision_id,
            )
            if view.prior_type:
                guessed = view.prior_type
            elif best is not None:
                guessed = cached_action_type(view.raw[best])
            else:
                guessed = cached_action_type(state.history[-1].action) if state.history else "other"
        history = state.history
        pending = _Pending(
            view=view,
            state=state,
            length=len(history),
            last_action=history[-1].action if history else "",
            answered=answer[0] if answer else None,
            answered_signature=answer[3] if answer else None,
            routed=whitespace_form(answer[1]) if answer else None,
            source=_goal_source(state.goal),
        )
        with self._lock:
            self._pending[view.agent] = pending
            self._pending.move_to_end(view.agent)
            while len(self._pending) > _MAX_AGENTS:
                self._pending.popitem(last=False)
        return decision, guessed

    def decide(self, state: AgentState) -> RouteDecision:
        """Answer with a live habit, else escalate (learning first from the previous step).

        Raises:
            HiveValidationError: the state is malformed.
        """
        return self._decide(state)[0]

    def decide_with_type(self, state: AgentState) -> tuple[RouteDecision, str]:
        """:meth:`decide` plus the predicted type of the next action."""
        return self._decide(state)

    def route(self, state: AgentState) -> RouteDecision:
        """Alias of :meth:`decide`."""
        return self.decide(state)

    async def aroute(self, state: AgentState) -> RouteDecision:
        """Async :meth:`decide` (pure computation: runs inline)."""
        return self.decide(state)

    # -- learning ---------------------------------------------------------------------------

    def _take_pending(self, agent: str) -> _Pending | None:
        with self._lock:
            return self._pending.pop(agent, None)

    def _learn_from_continuation(self, state: AgentState) -> None:
        self._check_undo(state)
        with self._lock:
            pending = self._pending.get(state.agent_id)
        if pending is None:
            return
        history = state.history
        follows = len(history) == pending.length + 1 and (
            pending.length == 0 or history[pending.length - 1].action == pending.last_action
        )
        if not follows:
            if len(history) <= pending.length:
                self._take_pending(state.agent_id)  # a new run began: the old decision's step is unknown
            return
        self._take_pending(state.agent_id)
        taken = history[-1]
        self._settle(pending, taken.action, taken.observation, pending.source, pending.length)

    def settle(self, agent_id: str, action: str, observation: str = "") -> bool:
        """Learn from the action taken after ``agent_id``'s latest decision (e.g. at the end of a run).

        Returns:
            Whether there was a decision to learn from.
        """
        pending = self._take_pending(agent_id)
        if pending is None:
            return False
        self._settle(pending, action, observation, pending.source, pending.length)
        return True

    def _settle(self, pending: _Pending, action: str, observation: str, source: str, step: int) -> None:
        view = pending.view
        book = self.book
        if book.seen_before(view.agent, source, step):
            return
        actual = whitespace_form(action)
        if pending.answered is None or pending.answered_signature is None:
            self._observe(view, actual, source, None, None)
            return
        if actual != pending.routed:
            # Something other than the routed answer ran: the LLM (or the run) overrode it.
            self._observe(view, actual, source, pending.answered, pending.answered_signature)
        elif _FAILED_SIGNALS & step_facts(Step(action, observation)).signals:
            self._contradict(view, pending.answered_signature, pending.answered)
        else:
            # Executed as routed: no evidence for the habit, but the next action may undo it.
            with self._lock:
                if len(self._routed) >= _MAX_AGENTS:
                    self._routed.clear()
                self._routed[view.agent] = (view, pending.answered_signature, pending.answered, action, step + 1)

    def _check_undo(self, state: AgentState) -> None:
        with self._lock:
            routed = self._routed.pop(state.agent_id, None)
        if routed is None:
            return
        view, signature, template, command, length = routed
        history = state.history
        if len(history) == length + 1 and undoes(command, history[-1].action):
            self._contradict(view, signature, template)

    def _observe(
        self, view: _View, actual: str, source: str, answered: str | None, answered_signature: str | None
    ) -> None:
        book = self.book
        counts = self._reproducible.get(view.agent)
        if counts is None:
            if len(self._reproducible) >= _MAX_AGENTS:
                self._reproducible.clear()
            counts = self._reproducible[view.agent] = [0, 0]
        counts[0] += 1
        counts[1] += actual in view.fills.values() or actual == view.prior_fill
        for signature in view.signatures:
            book.observe(view.agent, signature, view.fills, actual, source=source,
                         answered=answered if signature == answered_signature else None)
        if view.prior_signature is not None and view.prior_fill is not None:
            book.observe(view.agent, view.prior_signature, {PRIOR_TEMPLATE: view.prior_fill}, actual, source=source,
                         answered=PRIOR_TEMPLATE if answered == PRIOR_TEMPLATE else None)
        self._count_command(view.agent, actual, source)

    def _count_command(self, agent: str, command: str, source: str) -> None:
        if not source or not command or len(command) > _MAX_CONST_CHARS or "\n" in command:
            return
        commands = self._commands.setdefault(agent, _Commands())
        runs = commands.sources.get(command)
        if runs is None:
            if len(commands.sources) >= _MAX_TRACKED_COMMANDS:
                # Forget commands seen in one run only: they are the long tail.
                commands.sources = {c: s for c, s in commands.sources.items() if len(s) > 1}
            runs = commands.sources[command] = set()
        if source in runs:
            return
        runs.add(source)
        if len(runs) == self.const_min_sources or (
            len(runs) > self.const_min_sources and command in commands.consts
        ):
            ranked = sorted(
                (c for c, s in commands.sources.items() if len(s) >= self.const_min_sources),
                key=lambda c: (-len(commands.sources[c]), c),
            )
            commands.consts = tuple(ranked[: self.max_consts])

    def learn(self, record: LearningRecord) -> None:
        """Learn from one record of the learning stream.

        The record's state must be the one the router saw (or would have seen)
        before the step. With ``actual`` set, every applicable habit is scored
        against it, and a live answer (``predicted`` set) that differs from it
        demotes the habit that gave it. With ``actual`` unset, only the outcome
        of a live answer is used: ``undone``, ``failed`` or ``overridden``
        demote its habit. A record of a step already learned from (same
        ``source`` and ``step``) is ignored.

        Raises:
            HiveValidationError: the record's state is malformed.
        """
        state = validate_state(record.state)
        with self._lock:
            pending = self._pending.get(state.agent_id)
            if pending is not None and pending.state is state:
                del self._pending[state.agent_id]
            else:
                pending = None
        view = pending.view if pending is not None else self._view(state)
        source = record.source or _goal_source(state.goal)
        step = record.step if record.step is not None else len(state.history)
        template = record.template if record.predicted is not None else None
        if template is None and pending is not None and record.predicted is not None:
            template = pending.answered
        signature: str | None
        if template == PRIOR_TEMPLATE:
            signature = view.prior_signature
        elif pending is not None and template is not None and template == pending.answered:
            signature = pending.answered_signature
        else:
            signature = self._answering_signature(view, template)
        if record.actual is None:
            if template is not None and signature is not None and record.outcome in CONTRADICTIONS:
                self._contradict(view, signature, template)
            return
        if self.book.seen_before(view.agent, source, step):
            return
        self._observe(view, whitespace_form(record.actual), source, template, signature)
        if template is not None and signature is not None and record.outcome in CONTRADICTIONS:
            self._contradict(view, signature, template)

    def _contradict(self, view: _View, signature: str, template: str) -> None:
        """Demote the habit that answered and every live habit of the state that gave the same command."""
        book = self.book
        book.contradict(view.agent, signature, template)
        command = view.prior_fill if template == PRIOR_TEMPLATE else view.fills.get(template)
        if command is None:
            return
        for rung in view.signatures:
            for twin, filled in view.fills.items():
                if filled == command:
                    book.contradict(view.agent, rung, twin)
        if view.prior_signature is not None and view.prior_fill == command:
            book.contradict(view.agent, view.prior_signature, PRIOR_TEMPLATE)

    def _answering_signature(self, view: _View, template: str | None) -> str | None:
        """The rung whose live habit answers with ``template`` in this view (the best bound), if any."""
        if template is None:
            return None
        best: tuple[float, str] | None = None
        for signature in view.signatures:
            choice = self.book.propose(view.agent, signature, {template: view.fills.get(template, "")})
            if choice is not None and (best is None or choice[1] > best[0]):
                best = (choice[1], signature)
        return best[1] if best is not None else None

    def learn_many(self, records: Iterable[LearningRecord]) -> int:
        """Learn from every record of a stream; returns how many were read."""
        count = 0
        for record in records:
            self.learn(record)
            count += 1
        return count


def _goal_source(goal: str) -> str:
    """A run's identity when none is given: its goal text (runs of one task share it)."""
    return hashlib.blake2b(goal.encode("utf-8", "replace"), digest_size=8).hexdigest()



def router_from_config(routing: RoutingConfig, *, tenant: str = "default") -> RouterPolicy | ShadowRouter | None:
    """The router ``routing`` asks for: ``None`` without a model (unless shadow mode), the model
    itself, or with ``routing.shadow`` a :class:`ShadowRouter` with the model (if any) as its prior.

    Raises:
        HiveModelFileError: the model directory is missing or invalid.
    """
    from pathlib import Path

    from hive_middleware.routing.policy import load_policy

    prior = load_policy(Path(routing.model_dir)) if routing.model_dir is not None else None
    if not routing.shadow:
        return prior
    return ShadowRouter(prior, book=HabitBook(GraduationRule.from_config(routing), tenant=tenant))
