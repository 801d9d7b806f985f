"""Sparse (CSR) batched routing takes the dense router's decisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hive_middleware.routing import RouterPolicy, load_policy
from hive_middleware.routing.batch import BatchRouter
from hive_middleware.routing.encode import encode_state
from hive_middleware.routing.policy import default_model_dir
from hive_middleware.routing.sparse_batch import SparseBatch, SparseBatchRouter, column_mode
from hive_middleware.trajectories import Trajectory


def _encoded(policy: RouterPolicy, runs: list[Trajectory]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = policy.model
    encs = [encode_state(s.state, m.templates, m.spec) for r in runs for s in r.steps]
    return (
        np.stack([e.x for e in encs]),
        np.stack([e.allowed for e in encs]),
        np.stack([e.groups for e in encs]).astype(np.int64),
    )


@pytest.mark.parametrize("which", ["tiny", "packaged"])
@pytest.mark.parametrize("chunk", [7, 2048])
def test_sparse_router_matches_dense_router(
    which: str, chunk: int, tiny_model: Path, lm32b_runs: list[Trajectory]
) -> None:
    policy = load_policy(tiny_model if which == "tiny" else default_model_dir())
    x, allowed, groups = _encoded(policy, lm32b_runs[:3])
    dense = BatchRouter(policy.model).decide(torch.from_numpy(x), torch.from_numpy(allowed), torch.from_numpy(groups))
    sparse = SparseBatchRouter(policy.model).decide(SparseBatch.from_dense(x, allowed, groups), chunk=chunk)
    assert torch.equal(sparse.best, dense.best)
    assert torch.equal(sparse.answered, dense.answered)
    np.testing.assert_allclose(sparse.confidence.numpy(), dense.confidence.numpy(), rtol=1e-5, atol=1e-6)
    # Both agree with single-state routing too.
    single = [policy.decide(s.state) for r in lm32b_runs[:3] for s in r.steps]
    assert sparse.answered.tolist() == [not d.escalated for d in single]


def test_any_baseline_gives_the_same_decisions(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    x, allowed, groups = _encoded(policy, lm32b_runs[:2])
    router = SparseBatchRouter(policy.model)
    by_mode = router.decide(SparseBatch.from_dense(x, allowed, groups))
    by_zero = router.decide(SparseBatch.from_dense(x, allowed, groups, baseline=np.zeros(x.shape[1], np.float32)))
    assert torch.equal(by_mode.best, by_zero.best) and torch.equal(by_mode.answered, by_zero.answered)
    np.testing.assert_allclose(by_mode.confidence.numpy(), by_zero.confidence.numpy(), rtol=1e-5, atol=1e-6)


def test_csr_layout_reconstructs_the_features(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    x, allowed, groups = _encoded(policy, lm32b_runs[:1])
    sb = SparseBatch.from_dense(x, allowed, groups)
    base = column_mode(x)
    assert np.array_equal(sb.baseline.numpy(), base)
    rebuilt = np.tile(base, (len(x), 1))
    ends = [*sb.offsets.tolist()[1:], sb.indices.shape[0]]
    for i, (a, b) in enumerate(zip(sb.offsets.tolist(), ends, strict=True)):
        idx, val = sb.indices[a:b].numpy(), sb.values[a:b].numpy()
        assert idx[-1] == x.shape[1] and val[-1] == 1.0  # the constant feature closes each row
        rebuilt[i, idx[:-1]] += val[:-1]
    np.testing.assert_allclose(rebuilt, x, atol=1e-6)  # x - baseline + baseline, in float32
    assert sb.indices.shape[0] < (x != 0).sum() + len(x)  # the baseline removes non-zeros


def test_novel_features_escalate_in_the_sparse_path(tiny_model: Path, lm32b_runs: list[Trajectory]) -> None:
    policy = load_policy(tiny_model)
    x, allowed, groups = _encoded(policy, lm32b_runs[:1])
    unseen = np.flatnonzero(policy.model.calibration.unseen)
    if unseen.size == 0:
        pytest.skip("this model has no never-seen features")
    x = x.copy()
    x[::2, unseen[0]] = 1.0
    out = SparseBatchRouter(policy.model).decide(SparseBatch.from_dense(x, allowed, groups))
    assert not out.answered[::2].any()
