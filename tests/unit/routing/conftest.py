"""A tiny router trained once per session on a small slice of real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_middleware.trajectories import Trajectory, read_trajectory

LM32B = "trajectories/sweagent_lm32b_swebv"


@pytest.fixture(scope="session")
def lm32b_files(shared_data: Path) -> list[Path]:
    """Twelve SWE-agent 1.x runs (sorted by name)."""
    return sorted((shared_data / LM32B).glob("*.traj"))[:12]


@pytest.fixture(scope="session")
def lm32b_runs(lm32b_files: list[Path]) -> list[Trajectory]:
    return [read_trajectory(f) for f in lm32b_files]


@pytest.fixture(scope="session")
def tiny_model(lm32b_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A router trained by the product path on 12 runs (seconds on CPU)."""
    from hive_middleware.routing.train import TrainConfig, train_router

    out = tmp_path_factory.mktemp("router") / "model"
    cfg = TrainConfig(hidden=16, epochs=3, folds=2, min_template_runs=1, holdout=False, device="cpu")
    train_router(lm32b_files, out, cfg)
    return out
