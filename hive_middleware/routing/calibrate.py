"""Calibration: temperature scaling, the answer threshold, and OOD escalation.

All three are fitted on predictions for runs the network did not train on
(out-of-fold predictions, folds split by run), never on training fits:

* **Temperature** ``T`` minimises the negative log-likelihood of the matching
  templates (temperature scaling, Guo et al. 2017).
* **Threshold**: the lowest confidence whose answered set still has
  precision >= ``target`` (plus a small margin) on those predictions.
* **OOD**: the squared Mahalanobis distance of the hidden layer to the training
  states (tied covariance); states beyond the ``ood_quantile`` of held-out
  distances escalate. A second, input-level test catches what the hidden layer
  maps near the mean (a ReLU net is blind to features it never saw): a state
  with any active feature that was never active in training (an action kind or
  signal unseen in training, e.g. another agent's tool dialect) escalates too.

Confidence of an action is the summed probability of every template that
proposes the same (normalised) command.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hive_middleware.routing.net import NetWeights

__all__ = [
    "BatchScores",
    "Calibration",
    "choose_threshold",
    "fit_temperature",
    "mahalanobis_stats",
    "precision_coverage_curve",
    "score_batch",
]


@dataclass(frozen=True)
class Calibration:
    """Fitted calibration of one model.

    Attributes:
        temperature: Softmax temperature for the template logits.
        threshold: Minimum confidence to answer.
        maha_mean: Mean hidden activation of the training states.
        maha_precision: Inverse (regularised) covariance of those activations.
        maha_max: Squared distance beyond which a state is out of distribution.
        target_precision: The precision the threshold was chosen for.
        unseen: ``(dim,)`` float32, 1 for features never active in training.
    """

    temperature: float
    threshold: float
    maha_mean: np.ndarray
    maha_precision: np.ndarray
    maha_max: float
    target_precision: float
    unseen: np.ndarray


@dataclass(frozen=True)
class BatchScores:
    """Scores of a batch of states.

    Attributes:
        best: Index of the chosen template (``n_templates`` = none fits).
        confidence: Summed probability of the chosen action.
        type_index: Predicted next-action type.
        distance: Squared Mahalanobis distance of the hidden layer.
        answered: Whether the router answers (not none, confident, in distribution).
    """

    best: np.ndarray
    confidence: np.ndarray
    type_index: np.ndarray
    distance: np.ndarray
    answered: np.ndarray


def _softmax_masked(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    z = np.where(allowed, logits, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def mahalanobis_stats(hidden: np.ndarray, ridge: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and regularised precision matrix of hidden activations."""
    mean = hidden.mean(axis=0)
    cov = np.cov(hidden - mean, rowvar=False) + ridge * np.eye(hidden.shape[1])
    return mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32)


def _distance(hidden: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    d = hidden - mean
    out: np.ndarray = np.einsum("ij,jk,ik->i", d, precision, d)
    return out


def score_batch(
    weights: NetWeights,
    x: np.ndarray,
    allowed: np.ndarray,
    groups: np.ndarray,
    temperature: float,
    threshold: float,
    maha: tuple[np.ndarray, np.ndarray, float] | None,
    unseen: np.ndarray | None = None,
) -> BatchScores:
    """Score a batch of encoded states.

    Args:
        weights: The network.
        x: ``(n, dim)`` features.
        allowed: ``(n, n_templates + 1)`` choosable logits.
        groups: ``(n, n_templates + 1)`` for each template, the index of the
            first template proposing the same command (itself when unique).
        temperature: Softmax temperature.
        threshold: Minimum confidence to answer.
        maha: ``(mean, precision, max_distance)``, or ``None`` to skip OOD.
        unseen: Features never active in training (see :class:`Calibration`), or ``None``.
    """
    t = weights.n_templates
    hidden, out = weights.forward(x)
    p = _softmax_masked(out[:, : t + 1] / temperature, allowed)
    agg = np.zeros_like(p)
    rows = np.repeat(np.arange(p.shape[0]), p.shape[1])
    np.add.at(agg, (rows, groups.ravel()), p.ravel())
    best = agg.argmax(axis=1)
    conf = agg[np.arange(len(best)), best]
    type_index = out[:, t + 1 :].argmax(axis=1)
    if maha is not None:
        dist = _distance(hidden, maha[0], maha[1])
        in_dist = dist <= maha[2]
    else:
        dist = np.zeros(len(best))
        in_dist = np.ones(len(best), dtype=bool)
    if unseen is not None:
        in_dist &= (x @ unseen) == 0
    answered = (best != t) & (conf >= threshold) & in_dist
    return BatchScores(best=best, confidence=conf, type_index=type_index, distance=dist, answered=answered)


def fit_temperature(logits: np.ndarray, allowed: np.ndarray, correct: np.ndarray) -> float:
    """The temperature minimising the NLL of the matching templates (grid search)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(6.0), 80)):
        z = np.where(allowed, logits / t, -np.inf)
        m = z.max(axis=1, keepdims=True)
        log_all = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
        zc = np.where(correct & allowed, z, -np.inf)
        mc = np.where(np.isfinite(zc.max(axis=1)), zc.max(axis=1), 0.0)
        log_ok = np.log(np.exp(zc - mc[:, None]).sum(axis=1) + 1e-30) + mc
        nll = float(np.mean(log_all - log_ok))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def precision_coverage_curve(
    confidence: np.ndarray, correct: np.ndarray, eligible: np.ndarray, n_total: int
) -> list[dict[str, float]]:
    """Precision and coverage when answering every eligible state with confidence >= t.

    Returns:
        Points ``{"threshold", "coverage", "precision", "answered"}``, one per
        distinct confidence, highest threshold first.
    """
    idx = np.flatnonzero(eligible)
    order = idx[np.argsort(-confidence[idx], kind="stable")]
    hits = np.cumsum(correct[order])
    points: list[dict[str, float]] = []
    for k in range(len(order)):
        last = k == len(order) - 1
        if not last and confidence[order[k + 1]] == confidence[order[k]]:
            continue
        n = k + 1
        points.append(
            {
                "threshold": float(confidence[order[k]]),
                "coverage": n / max(n_total, 1),
                "precision": float(hits[k]) / n,
                "answered": float(n),
            }
        )
    return points


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    eligible: np.ndarray,
    target: float,
    *,
    margin: float = 0.01,
    min_answered: int = 30,
) -> float:
    """The lowest threshold whose answered set has precision >= ``target + margin``.

    Points with fewer than ``min_answered`` answers are not trusted. When no
    threshold reaches the target, returns a value above every confidence (the
    router then always escalates).
    """
    best = float("inf")
    for point in precision_coverage_curve(confidence, correct, eligible, int(eligible.sum())):
        if point["answered"] >= min_answered and point["precision"] >= target + margin:
            best = point["threshold"]
    return min(best, 1.0 + 1e-6) if np.isfinite(best) else 1.0 + 1e-6
