"""RouterPolicy: decisions, batches, async, and clear errors for bad states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hive_middleware.errors import HiveError, HiveValidationError
from hive_middleware.ports import ActionPolicy
from hive_middleware.routing import RouterPolicy, load_policy
from hive_middleware.trajectories import Trajectory
from hive_middleware.types import AgentState, RouteDecision, Step


@pytest.fixture(scope="module")
def policy(tiny_model: Path) -> RouterPolicy:
    return load_policy(tiny_model)


def test_is_an_action_policy_and_decides_every_state(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    assert isinstance(policy, ActionPolicy)
    for step in lm32b_runs[0].steps:
        d = policy.decide(step.state)
        assert isinstance(d, RouteDecision)
        assert 0.0 <= d.confidence <= 1.0 + 1e-6
        assert d.escalated == (d.action is None)
        assert d.reason
        if not d.escalated:
            assert d.template in policy.model.templates.names
            assert d.confidence >= policy.model.calibration.threshold


def test_route_many_matches_single_decisions(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    states = [s.state for s in lm32b_runs[1].steps]
    many = policy.route_many(states)
    one = [policy.route(s) for s in states]
    assert [(d.action, d.template, d.escalated) for d in many] == [(d.action, d.template, d.escalated) for d in one]
    np.testing.assert_allclose([d.confidence for d in many], [d.confidence for d in one], rtol=1e-5)


def test_batch_router_on_precomputed_features_agrees(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    import torch

    from hive_middleware.routing.batch import BatchRouter
    from hive_middleware.routing.encode import encode_state

    states = [s.state for s in lm32b_runs[2].steps]
    m = policy.model
    encs = [encode_state(s, m.templates, m.spec) for s in states]
    out = BatchRouter(m).decide(
        torch.from_numpy(np.stack([e.x for e in encs])),
        torch.from_numpy(np.stack([np.append(e.fillable, True) for e in encs])),
        torch.from_numpy(np.stack([e.groups for e in encs]).astype(np.int64)),
    )
    single = [policy.decide(s) for s in states]
    np.testing.assert_allclose(out.confidence.numpy(), [d.confidence for d in single], rtol=1e-4, atol=1e-5)
    assert out.answered.tolist() == [not d.escalated for d in single]


@pytest.mark.anyio
async def test_aroute(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    state = lm32b_runs[0].steps[3].state
    d = await policy.aroute(state)
    assert d.action == policy.decide(state).action


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"goal": "x"}, "state"),
        (AgentState(goal=3), "goal"),  # type: ignore[arg-type]
        (AgentState(goal="x", history="nope"), "history"),  # type: ignore[arg-type]
        (AgentState(goal="x", history=(("ls", "out"),)), "history[0]"),  # type: ignore[arg-type]
        (AgentState(goal="x", history=(Step("ls", None),)), "history[0].observation"),  # type: ignore[arg-type]
        (AgentState(goal="x", step_index=-1), "step_index"),
        (AgentState(goal="x", env={"working_dir": 5}), "env"),  # type: ignore[dict-item]
    ],
)
def test_bad_state_gets_a_clear_error(policy: RouterPolicy, state: Any, field: str) -> None:
    with pytest.raises(HiveValidationError) as info:
        policy.decide(state)
    assert isinstance(info.value, HiveError)
    assert info.value.fields["field"] == field
    with pytest.raises(HiveValidationError):
        policy.route_many([AgentState(goal="ok"), state])


def test_predicted_type_is_an_action_type(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    from hive_middleware.routing.action_types import ACTION_TYPES

    assert policy.predict_type(lm32b_runs[0].steps[5].state) in ACTION_TYPES


def test_with_threshold_sweeps_without_touching_the_original(policy: RouterPolicy, lm32b_runs: list[Trajectory]) -> None:
    states = [s.state for s in lm32b_runs[0].steps]
    low = policy.with_threshold(0.0)
    high = policy.with_threshold(1.01)
    answered_low = sum(not d.escalated for d in low.route_many(states))
    answered = sum(not d.escalated for d in policy.route_many(states))
    assert answered_low >= answered
    assert all(d.escalated for d in high.route_many(states))
    assert policy.model.calibration.threshold not in (0.0, 1.01)
