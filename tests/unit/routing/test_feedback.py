"""Online feedback: only the latest decision of an agent, bounded buffer, guarded A/B."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing import load_policy
from hive_middleware.routing.feedback import FeedbackLearner
from hive_middleware.trajectories import Trajectory
from hive_middleware.types import Action, RouteDecision


def _with_agent(state, agent: str):  # type: ignore[no-untyped-def]
    return dataclasses.replace(state, agent_id=agent)


def test_stale_unknown_and_repeated_feedback_is_refused(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    learner = FeedbackLearner(policy)
    steps = lm32b_runs[0].steps
    first = policy.decide(_with_agent(steps[1].state, "a1"))
    second = policy.decide(_with_agent(steps[2].state, "a1"))
    with pytest.raises(HiveValidationError, match="not the latest"):
        learner.record_outcome(first, steps[1].action)  # stale: a newer decision exists
    other = policy.decide(_with_agent(steps[1].state, "a2"))  # another agent does not interfere
    learner.record_outcome(second, Action(command=steps[2].action))
    with pytest.raises(HiveValidationError):
        learner.record_outcome(second, steps[2].action)  # only once
    with pytest.raises(HiveValidationError):
        learner.record_outcome(RouteDecision(None, None, 0.0, True, "forged", "a2#999999"), "ls")
    with pytest.raises(HiveValidationError):
        learner.record_outcome(RouteDecision(None, None, 0.0, True, "no id"), "ls")
    learner.record_outcome(other, steps[1].action)
    assert len(learner.buffer) == 2


def _feed(learner: FeedbackLearner, runs: list[Trajectory]) -> None:
    for run in runs:
        for step in run.steps:
            d = learner.policy.decide(_with_agent(step.state, run.run_id))
            learner.record_outcome(d, step.action)


def test_buffer_is_bounded(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    learner = FeedbackLearner(load_policy(tiny_model), capacity=10)
    _feed(learner, lm32b_runs[:1])
    assert len(learner.buffer) == 10


def test_update_adopts_only_when_no_worse(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    good = FeedbackLearner(policy, epochs=3, lr=1e-3, min_examples=16)
    _feed(good, lm32b_runs[:4])
    before = policy.weights
    report = good.update_policy()
    assert report.n_heldout > 0 and report.n_train > 0
    assert report.adopted == (policy.weights is not before)
    if report.adopted:
        assert report.new_accuracy >= report.old_accuracy

    # A destructive fine-tune (huge learning rate) must be rejected and the weights kept.
    policy2 = load_policy(tiny_model)
    bad = FeedbackLearner(policy2, epochs=5, lr=50.0, min_examples=16)
    _feed(bad, lm32b_runs[:4])
    kept = policy2.weights
    report2 = bad.update_policy()
    if not report2.adopted:
        assert policy2.weights is kept
        assert "kept" in report2.reason
    else:  # adopted only if it truly was no worse on the held-out slice
        assert report2.new_accuracy >= report2.old_accuracy


def test_too_little_feedback_does_nothing(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    learner = FeedbackLearner(policy, min_examples=1000)
    _feed(learner, lm32b_runs[:1])
    w = policy.weights
    report = learner.update_policy()
    assert not report.adopted and policy.weights is w
    assert np.isnan(report.old_accuracy)
