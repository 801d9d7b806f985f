"""The token / anchor trade-off of ``hive eval compress``: the engine at several settings vs the baselines.

:func:`run_tradeoff` measures the engine at each :class:`EngineSetting` (a
token budget and ``CompressionConfig`` overrides) and the two compressing
baselines, ``last_5_masking`` and ``keep_3_clearing``, on the same runs (the
``string`` shape), and gives each a point (``token_ratio``,
``anchor_retention``). The engine's points, sorted by token ratio, form its
curve.

For each baseline the target *curve at or above the point* is checked
(:func:`curve_target`): it is met when some engine setting spends no more
tokens than the baseline (token ratio at most the baseline's) and keeps at
least as many anchors, or when the curve, read by linear interpolation
between neighbouring settings at the baseline's token ratio, is at least the
baseline's anchor retention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from hive_middleware.config import DEFAULT_MODEL
from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.compress_baselines import keep_3_clearing, last_5_masking
from hive_middleware.evals.compress_engine import EngineMethod
from hive_middleware.evals.compress_eval import CompressionMethod, run_compress_eval
from hive_middleware.trajectories import Trajectory

__all__ = [
    "DEFAULT_TRADEOFF_SETTINGS",
    "TRADEOFF_BASELINES",
    "EngineSetting",
    "curve_at",
    "curve_target",
    "run_tradeoff",
]

_POINT_KEYS = ("token_ratio", "anchor_retention", "anchor_retention_expandable", "identifier_retention")


@dataclass(frozen=True)
class EngineSetting:
    """One setting of the engine on the trade-off curve.

    Attributes:
        label: Name in the report (``"default"``, ``"budget 4000"`` ...).
        budget: Token budget given to ``compress`` (None: no budget).
        settings: ``CompressionConfig`` fields overridden.
    """

    label: str
    budget: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


DEFAULT_TRADEOFF_SETTINGS: tuple[EngineSetting, ...] = (
    EngineSetting("budget 4000", budget=4000),
    EngineSetting("budget 8000", budget=8000),
    EngineSetting("default"),
    EngineSetting("keep_recent_turns=3", settings={"keep_recent_turns": 3}),
    EngineSetting("keep_recent_turns=5", settings={"keep_recent_turns": 5}),
    EngineSetting("keep_recent_turns=8", settings={"keep_recent_turns": 8}),
    EngineSetting(
        "keep_recent_turns=8, drop_after_turns=None",
        settings={"keep_recent_turns": 8, "drop_after_turns": None},
    ),
    EngineSetting(
        "keep_recent_turns=12, drop_after_turns=None",
        settings={"keep_recent_turns": 12, "drop_after_turns": None},
    ),
    EngineSetting(
        "keep_recent_turns=8, drop_after_turns=None, recent_max_chars=8000",
        settings={"keep_recent_turns": 8, "drop_after_turns": None, "recent_max_chars": 8000},
    ),
)
"""From most to least compressive, roughly: two budgets, the defaults, then more recent turns kept
whole, older outputs never stubbed, and longer recent outputs kept whole."""

TRADEOFF_BASELINES: dict[str, CompressionMethod] = {
    "last_5_masking": last_5_masking,
    "keep_3_clearing": keep_3_clearing,
}


def curve_at(points: Sequence[Mapping[str, Any]], token_ratio: float) -> float | None:
    """The curve's anchor retention at ``token_ratio`` (linear between neighbours; None outside it)."""
    best: dict[float, float] = {}
    for p in points:
        x, y = p.get("token_ratio"), p.get("anchor_retention")
        if x is not None and y is not None:
            best[x] = max(y, best.get(x, y))
    xs = sorted(best)
    for left, right in pairwise(xs):
        if left <= token_ratio <= right:
            share = (token_ratio - left) / (right - left)
            return best[left] + share * (best[right] - best[left])
    if token_ratio in best:
        return best[token_ratio]
    return None


def curve_target(points: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the engine's curve passes at or above a baseline's point.

    Args:
        points: The engine's points (``label``, ``token_ratio``, ``anchor_retention``).
        baseline: The baseline's point.

    Returns:
        ``{"token_ratio", "anchor_retention"`` (the baseline's),
        ``"curve_at_token_ratio"`` (interpolated, None outside the curve),
        ``"dominating_settings"`` (labels of settings with token ratio <= and
        anchor retention >= the baseline's), ``"met"}``.
    """
    x, y = baseline.get("token_ratio"), baseline.get("anchor_retention")
    if x is None or y is None:
        return {"token_ratio": x, "anchor_retention": y, "curve_at_token_ratio": None,
                "dominating_settings": [], "met": None}  # fmt: skip
    dominating = [
        str(p["label"])
        for p in points
        if p.get("token_ratio") is not None
        and p.get("anchor_retention") is not None
        and p["token_ratio"] <= x
        and p["anchor_retention"] >= y
    ]
    at = curve_at(points, x)
    return {
        "token_ratio": x,
        "anchor_retention": y,
        "curve_at_token_ratio": at,
        "dominating_settings": dominating,
        "met": bool(dominating) or (at is not None and at >= y),
    }


def run_tradeoff(
    paths: Sequence[str | Path],
    settings: Sequence[EngineSetting] = DEFAULT_TRADEOFF_SETTINGS,
    *,
    model: str = DEFAULT_MODEL,
    max_runs: int | None = None,
    on_run: Callable[[Trajectory], None] | None = None,
) -> dict[str, Any]:
    """Measure the engine at every setting and the two baselines on the same runs.

    Args:
        paths: ``.traj`` files or folders of them.
        settings: The engine settings (distinct labels).
        model: Model whose tokenizer counts tokens (and the engine's model).
        max_runs: Runs read from each path (None: all).
        on_run: Called after each run (progress reporting).

    Returns:
        ``{"hive": [point...], "baselines": {name: point}, "targets": {name:
        curve_target}, "runs_per_path", "n_runs", "n_steps", "shape"}``; a
        point has ``token_ratio``, ``anchor_retention``,
        ``anchor_retention_expandable``, ``identifier_retention`` (and, for the
        engine, ``label``, ``budget``, ``settings``).

    Raises:
        HiveUsageError: no setting, or two settings (or a setting and a
            baseline) share a label.
    """
    labels = [s.label for s in settings]
    if not labels or len(set(labels)) != len(labels) or set(labels) & set(TRADEOFF_BASELINES):
        raise HiveUsageError(
            f"give engine settings with distinct labels, none named like a baseline; got {labels}"
        )
    methods: dict[str, CompressionMethod] = {
        s.label: EngineMethod(budget=s.budget, model=model, settings=s.settings) for s in settings
    }
    methods.update(TRADEOFF_BASELINES)
    measured = run_compress_eval(paths, methods, None, model=model, max_runs=max_runs, on_run=on_run)
    entries = measured["baselines"]
    hive = [
        {"label": s.label, "budget": s.budget, "settings": dict(s.settings),
         **{k: entries[s.label][k] for k in _POINT_KEYS}}
        for s in settings
    ]  # fmt: skip
    baselines = {name: {k: entries[name][k] for k in _POINT_KEYS} for name in TRADEOFF_BASELINES}
    return {
        "hive": hive,
        "baselines": baselines,
        "targets": {name: curve_target(hive, point) for name, point in baselines.items()},
        "runs_per_path": max_runs,
        "n_runs": measured["n_runs"],
        "n_steps": measured["n_steps"],
        "shape": measured["shape"],
    }
