"""The token / anchor trade-off: the curve, its targets, and the engine swept over settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.compress_engine import engine_available
from hive_middleware.evals.compress_tradeoff import EngineSetting, curve_at, curve_target, run_tradeoff

POINTS = [
    {"label": "tight", "token_ratio": 0.3, "anchor_retention": 0.80},
    {"label": "default", "token_ratio": 0.4, "anchor_retention": 0.88},
    {"label": "loose", "token_ratio": 0.5, "anchor_retention": 0.94},
]


def test_curve_is_read_between_neighbouring_settings() -> None:
    assert curve_at(POINTS, 0.45) == pytest.approx(0.91)
    assert curve_at(POINTS, 0.4) == pytest.approx(0.88)
    assert curve_at(POINTS, 0.6) is None and curve_at(POINTS, 0.2) is None
    assert curve_at([{"label": "x", "token_ratio": 0.4, "anchor_retention": 0.5}], 0.4) == 0.5
    assert curve_at([], 0.4) is None


def test_targets() -> None:
    # above the curve where the curve reaches: not met
    above = curve_target(POINTS, {"token_ratio": 0.45, "anchor_retention": 0.95})
    assert above["met"] is False and above["dominating_settings"] == []
    assert above["curve_at_token_ratio"] == pytest.approx(0.91)
    # below it: met by interpolation, and dominated by the settings spending no more tokens
    below = curve_target(POINTS, {"token_ratio": 0.45, "anchor_retention": 0.85})
    assert below["met"] is True and below["dominating_settings"] == ["default"]
    # right of the curve: met only when a cheaper setting keeps as many anchors
    right = curve_target(POINTS, {"token_ratio": 0.6, "anchor_retention": 0.92})
    assert right["curve_at_token_ratio"] is None
    assert right["met"] is True and right["dominating_settings"] == ["loose"]
    assert curve_target(POINTS, {"token_ratio": 0.6, "anchor_retention": 0.99})["met"] is False
    assert curve_target(POINTS, {"token_ratio": None, "anchor_retention": None})["met"] is None


def test_labels_must_be_distinct(tmp_path: Path) -> None:
    with pytest.raises(HiveUsageError, match="distinct"):
        run_tradeoff([tmp_path], [EngineSetting("a"), EngineSetting("a", budget=100)])
    with pytest.raises(HiveUsageError, match="distinct"):
        run_tradeoff([tmp_path], [EngineSetting("last_5_masking")])


@pytest.mark.skipif(not engine_available(), reason="the compression engine is not installed")
def test_engine_settings_on_a_real_slice(shared_data: Path) -> None:
    folder = shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"
    settings = [EngineSetting("budget 3000", budget=3000), EngineSetting("default"),
                EngineSetting("keep 6", settings={"keep_recent_turns": 6})]  # fmt: skip
    result = run_tradeoff([folder], settings, max_runs=2)
    assert [p["label"] for p in result["hive"]] == ["budget 3000", "default", "keep 6"]
    assert set(result["baselines"]) == set(result["targets"]) == {"last_5_masking", "keep_3_clearing"}
    assert result["n_runs"] == 2 and result["shape"] == "string"
    for point in [*result["hive"], *result["baselines"].values()]:
        assert 0 < point["token_ratio"] <= 1
        assert point["anchor_retention"] is None or 0 <= point["anchor_retention"] <= 1
    assert result["hive"][1]["settings"] == {} and result["hive"][2]["settings"] == {"keep_recent_turns": 6}
