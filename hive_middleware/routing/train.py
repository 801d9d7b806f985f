"""Training a router from SWE-agent trajectories (``hive router train``).

Steps: read the runs; split them **by run** (a deterministic hash of the run
id puts one run in five aside, the same rule as ``hive eval route``, never trained or calibrated
on); mine templates on the training runs; encode every training step;
cross-fit ``folds`` networks (folds also split by run) to get out-of-fold
predictions; fit temperature, threshold and OOD limit on those; train the final
network on all training runs; write the model directory.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hive_middleware.errors import HiveDataError
from hive_middleware.routing.calibrate import (
    Calibration,
    choose_threshold,
    fit_temperature,
    mahalanobis_stats,
    precision_coverage_curve,
    score_batch,
)
from hive_middleware.routing.encode import encode_state, match_labels
from hive_middleware.routing.facts import state_facts
from hive_middleware.routing.features import TYPE_NAMES, FeatureSpec, cached_action_type
from hive_middleware.routing.modelfile import RouterModel, save_model
from hive_middleware.routing.net import NetWeights
from hive_middleware.routing.split import HOLDOUT_FOLDS, is_held_out
from hive_middleware.routing.templates import TemplateSet, mine_templates
from hive_middleware.trajectories import Trajectory, iter_trajectories

__all__ = ["Dataset", "TrainConfig", "build_dataset", "is_heldout_run", "train_router"]

_TYPE_INDEX = {t: i for i, t in enumerate(TYPE_NAMES)}


def _bucket(run_id: str, salt: str) -> int:
    return int(hashlib.sha256(f"{salt}:{run_id}".encode()).hexdigest()[:8], 16) % 100


def is_heldout_run(run_id: str) -> bool:
    """Whether a run is in the evaluation split (never trained or calibrated on).

    The split's rule is :func:`~hive_middleware.routing.split.is_held_out` (sha256 of the
    run id, one run in five); ``hive eval route`` uses it too, so both agree on which runs
    are unseen.
    """
    return is_held_out(run_id)


@dataclass
class Dataset:
    """Encoded steps of some runs (arrays aligned by row)."""

    x: np.ndarray
    allowed: np.ndarray
    correct: np.ndarray
    groups: np.ndarray
    y_type: np.ndarray
    run_ids: list[str]
    group_names: list[str]

    def take(self, rows: np.ndarray) -> Dataset:
        """The subset of rows."""
        return Dataset(
            x=self.x[rows],
            allowed=self.allowed[rows],
            correct=self.correct[rows],
            groups=self.groups[rows],
            y_type=self.y_type[rows],
            run_ids=[self.run_ids[i] for i in rows],
            group_names=[self.group_names[i] for i in rows],
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])


def build_dataset(trajectories: Iterable[Trajectory], templates: TemplateSet, spec: FeatureSpec) -> Dataset:
    """Encode every step of ``trajectories`` with labels from the actual actions."""
    xs: list[np.ndarray] = []
    allowed: list[np.ndarray] = []
    correct: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    types: list[int] = []
    runs: list[str] = []
    names: list[str] = []
    for traj in trajectories:
        for step in traj.steps:
            enc = encode_state(step.state, templates, spec)
            labels, _ = match_labels(enc, templates, step.action)
            xs.append(enc.x)
            allowed.append(np.append(enc.fillable, True))
            correct.append(np.append(labels, not labels.any()))
            groups.append(enc.groups)
            types.append(_TYPE_INDEX[cached_action_type(step.action)])
            runs.append(traj.run_id)
            names.append(traj.group)
    if not xs:
        raise HiveDataError("no trajectory steps to encode; pass folders of .traj files with steps")
    return Dataset(
        x=np.stack(xs),
        allowed=np.stack(allowed),
        correct=np.stack(correct),
        groups=np.stack(groups),
        y_type=np.asarray(types, dtype=np.int64),
        run_ids=runs,
        group_names=names,
    )


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of ``hive router train`` (defaults are what the shipped numbers use)."""

    hidden: int = 32
    epochs: int = 25
    folds: int = 4
    target_precision: float = 0.95
    margin: float = 0.0
    ood_quantile: float = 0.995
    min_template_runs: int = 3
    seed: int = 0
    device: str = "auto"
    holdout: bool = True
    matching: str = "whitespace"


@dataclass
class TrainReport:
    """What training did and measured (also stored in the manifest's ``training``)."""

    summary: dict[str, Any] = field(default_factory=dict)


def _fit(ds: Dataset, n_t: int, cfg: TrainConfig, seed: int) -> NetWeights:
    from hive_middleware.routing.model import fit_network

    return fit_network(
        ds.x, ds.allowed, ds.correct, ds.y_type,
        n_templates=n_t, n_types=len(TYPE_NAMES), hidden=cfg.hidden, epochs=cfg.epochs,
        seed=seed, device=cfg.device,
    )


def _chosen_correct(ds: Dataset, best: np.ndarray) -> np.ndarray:
    out: np.ndarray = ds.correct[np.arange(len(best)), best]
    return out


def train_router(
    data: Sequence[str | Path],
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> TrainReport:
    """Train, calibrate and save a router model.

    Args:
        data: Folders (or files) of ``.traj`` runs.
        out_dir: The model directory to write.
        config: Training knobs.
        progress: Called with a short message at each stage.

    Returns:
        The training summary (also written to the manifest).

    Raises:
        HiveDataError: no usable runs.
    """
    cfg = config or TrainConfig()
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    say("reading trajectories")
    all_runs = list(iter_trajectories(list(data)))
    train_runs = [r for r in all_runs if not (cfg.holdout and is_heldout_run(r.run_id))]
    heldout = [r.run_id for r in all_runs if cfg.holdout and is_heldout_run(r.run_id)]
    if len(train_runs) < cfg.folds:
        raise HiveDataError(
            f"only {len(train_runs)} training runs after holding out {len(heldout)}; pass more .traj files"
        )
    say(f"mining templates on {len(train_runs)} runs")
    examples = [(r.run_id, state_facts(s.state), s.action) for r in train_runs for s in r.steps]
    templates = TemplateSet(
        mine_templates(examples, min_runs=cfg.min_template_runs, matching=cfg.matching), cfg.matching
    )
    if len(templates) == 0:
        raise HiveDataError("no template reproduces any action in the training runs; pass more runs")
    spec = FeatureSpec(n_templates=len(templates))
    say(f"encoding {len(examples)} steps with {len(templates)} templates")
    ds = build_dataset(train_runs, templates, spec)
    n_t = len(templates)

    say(f"cross-fitting {cfg.folds} folds by run")
    fold_of = np.array([_bucket(r, "fold") % cfg.folds for r in ds.run_ids])
    oof_logits = np.zeros((len(ds), n_t + 1), dtype=np.float32)
    oof_dist = np.zeros(len(ds))
    oof_type = np.zeros(len(ds), dtype=np.int64)
    for k in range(cfg.folds):
        tr, te = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        if len(te) == 0 or len(tr) == 0:
            continue
        w = _fit(ds.take(tr), n_t, cfg, cfg.seed + k + 1)
        h_tr, _ = w.forward(ds.x[tr])
        mean, prec = mahalanobis_stats(h_tr)
        h_te, out_te = w.forward(ds.x[te])
        oof_logits[te] = out_te[:, : n_t + 1]
        oof_type[te] = out_te[:, n_t + 1 :].argmax(axis=1)
        d = h_te - mean
        oof_dist[te] = np.einsum("ij,jk,ik->i", d, prec, d)

    say("calibrating")
    temperature = fit_temperature(oof_logits, ds.allowed, ds.correct)
    maha_max = float(np.quantile(oof_dist, cfg.ood_quantile))
    ident = NetWeights(
        w1=np.eye(n_t + 1, dtype=np.float32), b1=np.zeros(n_t + 1, np.float32),
        w2=np.zeros((n_t + 1, n_t + 1 + len(TYPE_NAMES)), np.float32),
        b2=np.zeros(n_t + 1 + len(TYPE_NAMES), np.float32), n_templates=n_t,
    )
    # Score the out-of-fold logits through the same decision code (an identity "network").
    ident.w2[:, : n_t + 1] = np.eye(n_t + 1, dtype=np.float32)
    shifted = oof_logits - oof_logits.min() + 1.0  # ReLU-safe; softmax is shift-invariant
    scores = score_batch(ident, shifted, ds.allowed, ds.groups, temperature, 0.0, None)
    ok = _chosen_correct(ds, scores.best)
    eligible = (scores.best != n_t) & (oof_dist <= maha_max)
    threshold = choose_threshold(scores.confidence, ok, eligible, cfg.target_precision, margin=cfg.margin)
    curve = precision_coverage_curve(scores.confidence, ok, eligible, len(ds))
    answered = eligible & (scores.confidence >= threshold)

    say("training the final network")
    final = _fit(ds, n_t, cfg, cfg.seed)
    h_all, _ = final.forward(ds.x)
    mean, prec = mahalanobis_stats(h_all)
    calibration = Calibration(
        temperature=temperature, threshold=threshold, maha_mean=mean, maha_precision=prec,
        maha_max=maha_max, target_precision=cfg.target_precision,
        unseen=(~(ds.x != 0).any(axis=0)).astype(np.float32),
    )
    oracle = float(ds.correct[:, :n_t].any(axis=1).mean())
    heldout_eval: dict[str, Any] = {}
    held_runs = [r for r in all_runs if cfg.holdout and is_heldout_run(r.run_id)]
    if held_runs:
        # Reported only (never used to fit or choose anything): the curve on unseen runs.
        say(f"scoring {len(held_runs)} held-out runs")
        hd = build_dataset(held_runs, templates, spec)
        hs = score_batch(
            final, hd.x, hd.allowed, hd.groups, temperature, threshold, (mean, prec, maha_max), calibration.unseen
        )
        hok = _chosen_correct(hd, hs.best)
        h_eligible = (hs.best != n_t) & (hs.distance <= maha_max) & ((hd.x @ calibration.unseen) == 0)
        h_curve = precision_coverage_curve(hs.confidence, hok, h_eligible, len(hd))
        heldout_eval = {
            "n_runs": len(held_runs),
            "n_steps": len(hd),
            "oracle_coverage": float(hd.correct[:, :n_t].any(axis=1).mean()),
            "coverage": float(hs.answered.mean()),
            "precision": float(hok[hs.answered].mean()) if hs.answered.any() else None,
            "type_top1": float((hs.type_index == hd.y_type).mean()),
            "curve": h_curve[:: max(1, len(h_curve) // 60)],
        }
    summary: dict[str, Any] = {
        "groups": dict(Counter(r.group for r in train_runs)),
        "n_runs": len(train_runs),
        "n_steps": len(ds),
        "n_templates": n_t,
        "training_runs": sorted(r.run_id for r in train_runs),
        "heldout_runs": sorted(heldout),
        "split": f"held out when sha256(run_id) mod {HOLDOUT_FOLDS} == 0 (as hive eval route)",
        "oracle_coverage": oracle,
        "oof": {
            "coverage": float(answered.mean()),
            "precision": float(ok[answered].mean()) if answered.any() else float("nan"),
            "type_top1": float((oof_type == ds.y_type).mean()),
            "curve": curve[:: max(1, len(curve) // 60)],
        },
        "heldout": heldout_eval,
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "seconds": round(time.perf_counter() - started, 1),
    }
    model = RouterModel(weights=final, templates=templates, spec=spec, calibration=calibration, training=summary)
    save_model(model, out_dir)
    say("done")
    return TrainReport(summary=summary)
