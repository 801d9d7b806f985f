"""The features of step t never depend on step t or anything after it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hive_middleware.routing.encode import encode_state
from hive_middleware.routing.features import FeatureSpec
from hive_middleware.routing.modelfile import load_model
from hive_middleware.trajectories import read_trajectory
from hive_middleware.types import AgentState, Step


def _rewrite_future(src: Path, dst: Path, t: int) -> None:
    """Copy a run, replacing step t and every later step by different content."""
    data = json.loads(src.read_text())
    for i, step in enumerate(data["trajectory"]):
        if i >= t:
            step["action"] = f"submit_{i} --poison"
            step["observation"] = f"poison observation {i} Traceback (most recent call last)"
            step["thought"] = f"poison thought {i}"
    dst.write_text(json.dumps(data))


def test_features_of_step_t_ignore_step_t_and_later(lm32b_files: list[Path], tiny_model: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model)
    checked = 0
    for src in lm32b_files[:4]:
        full = read_trajectory(src)
        for t in (0, 1, len(full.steps) // 2, len(full.steps) - 1):
            dst = tmp_path / src.name
            _rewrite_future(src, dst, t)
            poisoned = read_trajectory(dst)
            assert poisoned.steps[t].action != full.steps[t].action
            a = encode_state(full.steps[t].state, model.templates, model.spec)
            b = encode_state(poisoned.steps[t].state, model.templates, model.spec)
            np.testing.assert_array_equal(a.x, b.x)
            assert a.fills == b.fills
            # And from a state built by hand out of the earlier steps only (step t absent).
            truncated = AgentState(
                goal=full.instance_prompt,
                history=tuple(Step(s.action, s.observation, s.thought) for s in full.steps[:t]),
                step_index=t,
                env=dict(full.steps[t].state.env),
            )
            c = encode_state(truncated, model.templates, model.spec)
            np.testing.assert_array_equal(a.x, c.x)
            checked += 1
    assert checked == 16


def test_feature_vector_has_the_declared_layout(tiny_model: Path) -> None:
    model = load_model(tiny_model)
    spec = FeatureSpec(n_templates=len(model.templates))
    assert spec.dim == model.weights.dim == model.spec.dim
    offsets = spec.offsets
    assert list(offsets) == sorted(offsets, key=offsets.__getitem__)
