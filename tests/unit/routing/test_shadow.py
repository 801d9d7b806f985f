"""Shadow-mode routing: watch, graduate per agent, answer only with proven habits, demote on contradiction."""

from __future__ import annotations

import pytest

from hive_middleware.routing.habits import GraduationRule, LearningRecord
from hive_middleware.routing.shadow import ShadowRouter, prior_band, undoes
from hive_middleware.types import Action, AgentState, Step

RULE = GraduationRule(min_observations=20, min_lower_bound=0.95, z=1.0, min_sources=3)
ENV = {"working_dir": "/testbed"}


def _created(run: int, agent: str = "lm") -> AgentState:
    """The state right after the agent created its reproduction script."""
    path = f"/testbed/repro_{run}.py"
    history = (
        Step("find /testbed -name '*.py'", "/testbed/a.py"),
        Step(f"str_replace_editor create {path} --file_text 'print(1)'", f"File created successfully at: {path}"),
    )
    return AgentState(goal=f"fix issue {run}", history=history, step_index=2, env=ENV, agent_id=agent)


def _run_of(run: int) -> str:
    return f"python /testbed/repro_{run}.py"


def _teach(router: ShadowRouter, runs: range, agent: str = "lm") -> None:
    for run in runs:
        state = _created(run, agent)
        decision = router.decide(state)
        router.learn(LearningRecord(state, decision.action, _run_of(run), source=f"run{run}", step=2,
                                    template=decision.template if decision.action else None))


def test_watches_first_then_answers_with_the_proven_habit() -> None:
    router = ShadowRouter(rule=RULE)
    first = router.decide(_created(0))
    assert first.escalated and first.action is None and first.reason.startswith("shadow")
    _teach(router, range(20))
    decision = router.decide(_created(99))
    assert not decision.escalated
    assert decision.action == Action(_run_of(99))
    assert decision.template == "created_py:python_abs:1"
    assert decision.confidence >= 0.95


def test_habits_are_per_agent() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(40), agent="other")
    assert router.decide(_created(99, agent="lm")).escalated
    assert not router.decide(_created(99, agent="other")).escalated


def test_a_replayed_record_is_learned_once() -> None:
    router = ShadowRouter(rule=RULE)
    state = _created(0)
    for _ in range(100):
        router.learn(LearningRecord(state, None, _run_of(0), source="run0", step=2))
    assert router.book.ignored_duplicates == 99
    assert router.decide(_created(1)).escalated


def test_contradicted_live_answer_is_demoted() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    state = _created(50)
    decision = router.decide(state)
    assert decision.action is not None
    router.learn(LearningRecord(state, decision.action, "cat /testbed/repro_50.py", source="run50", step=2,
                                template=decision.template))
    assert router.decide(_created(51)).escalated


@pytest.mark.parametrize("outcome", ["undone", "failed", "overridden"])
def test_outcome_only_records_demote(outcome: str) -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    state = _created(50)
    decision = router.decide(state)
    router.learn(LearningRecord(state, decision.action, None, outcome=outcome, template=decision.template))
    assert router.decide(_created(51)).escalated


def test_a_contradiction_demotes_every_live_habit_that_gave_the_same_command() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    view = router._view(_created(50))
    command = view.fills["created_py:python_abs:1"]
    twins = [(s, t) for s in view.signatures for t, c in view.fills.items() if c == command]
    assert len({s for s, _ in twins}) == 3 and len({t for _, t in twins}) >= 1  # one per rung at least
    assert all((r := router.book.record("lm", s, t)) is not None and r.live for s, t in twins)
    state = _created(50)
    decision = router.decide(state)
    router.learn(LearningRecord(state, decision.action, None, outcome="undone", template=decision.template))
    assert not any((r := router.book.record("lm", s, t)) is not None and r.live for s, t in twins)


def test_habits_on_several_rungs_answer_with_the_highest_bound() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(30))
    decision = router.decide(_created(99))
    view = router._view(_created(99))
    bounds = [b for s in view.signatures if (b := router.book.propose("lm", s, view.fills)) is not None]
    assert decision.confidence == max(bound for _, bound in bounds)


def test_ok_outcome_keeps_the_habit() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    state = _created(50)
    decision = router.decide(state)
    router.learn(LearningRecord(state, decision.action, None, outcome="ok", template=decision.template))
    assert not router.decide(_created(51)).escalated


def _continue(state: AgentState, action: str, observation: str) -> AgentState:
    history = (*state.history, Step(action, observation))
    return AgentState(state.goal, history, len(history), state.env, state.agent_id)


def test_learns_by_itself_from_the_next_state() -> None:
    router = ShadowRouter(rule=RULE)
    for run in range(20):
        state = _created(run)
        assert router.decide(state).escalated
        router.decide(_continue(state, _run_of(run), "1"))  # the next step shows what the LLM did
    assert not router.decide(_created(99)).escalated


def test_an_executed_live_answer_is_no_evidence_but_an_override_demotes() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    record = router.book.record("lm", router._view(_created(0)).signatures[1], "created_py:python_abs:1")
    assert record is not None
    n = record.n
    state = _created(60)
    decision = router.decide(state)
    assert decision.action is not None
    router.decide(_continue(state, decision.action.command, "1"))  # executed as routed
    assert record.n == n and record.live  # it did not confirm itself
    state = _created(61)
    assert router.decide(state).action is not None
    router.decide(_continue(state, "ls /testbed", "a.py"))  # the agent ran something else instead
    assert not record.live and record.demotions == 1


def test_a_routed_command_that_fails_or_is_undone_demotes() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(20))
    state = _created(70)
    decision = router.decide(state)
    assert decision.action is not None
    router.decide(_continue(state, decision.action.command, "bash: python: command not found"))
    assert router.decide(_created(71)).escalated


def test_undoes() -> None:
    assert undoes("str_replace_editor str_replace /r/a.py --old_str x --new_str y", "str_replace_editor undo_edit /r/a.py")
    assert undoes("str_replace_editor create /r/t.py --file_text x", "rm /r/t.py")
    assert not undoes("str_replace_editor create /r/t.py --file_text x", "rm /r/other.py")
    assert not undoes("python /r/t.py", "str_replace_editor undo_edit /r/t.py")


def test_recurring_commands_become_candidates() -> None:
    router = ShadowRouter(rule=RULE)
    for run in range(30):
        state = _continue(_created(run), _run_of(run), "all good")
        decision = router.decide(state)
        router.learn(LearningRecord(state, decision.action, "submit", source=f"run{run}", step=3,
                                    template=decision.template if decision.action else None))
    decision = router.decide(_continue(_created(99), _run_of(99), "all good"))
    assert decision.action == Action("submit") and decision.template == "const:submit"


def test_prior_bands() -> None:
    assert prior_band(0.97) == "prior/0.9"
    assert prior_band(0.85) == "prior/0.8"
    assert prior_band(0.1) == "prior/low"


def test_prior_model_is_one_more_habit(tiny_model: object) -> None:
    from hive_middleware.routing.policy import load_policy

    prior = load_policy(tiny_model)  # type: ignore[arg-type]
    router = ShadowRouter(prior, rule=RULE)
    decision = router.decide(_created(0))
    assert decision.escalated  # the prior alone never answers in shadow mode
    assert router.training_runs == prior.training_runs


def test_router_from_config(tiny_model: object) -> None:
    from hive_middleware.config import RoutingConfig
    from hive_middleware.routing.policy import RouterPolicy
    from hive_middleware.routing.shadow import router_from_config

    assert router_from_config(RoutingConfig()) is None
    assert isinstance(router_from_config(RoutingConfig(model_dir=str(tiny_model))), RouterPolicy)
    shadow = router_from_config(RoutingConfig(model_dir=str(tiny_model), shadow=True, habit_min_observations=30),
                                tenant="acme")
    assert isinstance(shadow, ShadowRouter) and shadow.prior is not None
    assert shadow.book.rule.min_observations == 30 and shadow.book.tenant == "acme"
    bare = router_from_config(RoutingConfig(shadow=True))
    assert isinstance(bare, ShadowRouter) and bare.prior is None


def test_reproducible_steps_count_what_some_candidate_reproduced() -> None:
    router = ShadowRouter(rule=RULE)
    _teach(router, range(4))
    for run in range(4, 6):  # the agent edited instead: no candidate could have produced that
        state = _created(run)
        router.learn(LearningRecord(state, None, f"str_replace_editor str_replace /testbed/repro_{run}.py "
                                    "--old_str a --new_str b", source=f"run{run}", step=2))
    assert router.reproducible_steps() == {"lm": (6, 4)}
