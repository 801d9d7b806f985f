"""Calibration: temperature, threshold and OOD hold on held-out data."""

from __future__ import annotations

import numpy as np

from hive_middleware.routing.calibrate import (
    choose_threshold,
    fit_temperature,
    mahalanobis_stats,
    precision_coverage_curve,
)


def _synthetic(n: int, k: int, true_t: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / true_t): a known miscalibration."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 6.0, size=(n, k))
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    correct = np.zeros((n, k), dtype=bool)
    correct[np.arange(n), y] = True
    return logits, np.ones((n, k), dtype=bool), correct


def _confidence(logits: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    z = logits / t
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p.max(axis=1), p.argmax(axis=1)


def test_temperature_recovers_known_miscalibration() -> None:
    logits, allowed, correct = _synthetic(4000, 6, true_t=2.0, seed=0)
    t = fit_temperature(logits, allowed, correct)
    assert abs(t - 2.0) < 0.25


def test_calibration_and_threshold_hold_on_held_out_data() -> None:
    logits, allowed, correct = _synthetic(6000, 6, true_t=2.0, seed=1)
    fit, test = slice(0, 3000), slice(3000, 6000)
    t = fit_temperature(logits[fit], allowed[fit], correct[fit])
    conf, best = _confidence(logits[fit], t)
    ok = correct[fit][np.arange(3000), best]
    threshold = choose_threshold(conf, ok, np.ones(3000, dtype=bool), target=0.95, margin=0.01)
    assert threshold < 1.0  # reachable on this data
    # Held-out: the answered set keeps the target precision within tolerance ...
    conf_t, best_t = _confidence(logits[test], t)
    ok_t = correct[test][np.arange(3000), best_t]
    answered = conf_t >= threshold
    assert answered.sum() > 100
    assert ok_t[answered].mean() >= 0.95 - 0.02
    # ... and confidences are calibrated: expected calibration error below 0.03.
    bins = np.minimum((conf_t * 10).astype(int), 9)
    ece = sum(abs(ok_t[bins == b].mean() - conf_t[bins == b].mean()) * (bins == b).mean() for b in range(10) if (bins == b).any())
    assert ece < 0.03


def test_unreachable_target_means_always_escalate() -> None:
    conf = np.linspace(0.1, 0.9, 100)
    ok = np.zeros(100, dtype=bool)
    assert choose_threshold(conf, ok, np.ones(100, dtype=bool), target=0.95) > 1.0


def test_curve_is_monotone_in_coverage() -> None:
    rng = np.random.default_rng(2)
    conf = rng.random(500)
    ok = rng.random(500) < conf
    curve = precision_coverage_curve(conf, ok, np.ones(500, dtype=bool), 1000)
    cov = [p["coverage"] for p in curve]
    assert cov == sorted(cov) and cov[-1] == 0.5


def test_mahalanobis_flags_far_points() -> None:
    rng = np.random.default_rng(3)
    h = rng.normal(size=(2000, 8)).astype(np.float32)
    mean, prec = mahalanobis_stats(h)
    d_in = np.einsum("ij,jk,ik->i", h - mean, prec, h - mean)
    limit = np.quantile(d_in, 0.99)
    far = h[:100] + 6.0
    d_far = np.einsum("ij,jk,ik->i", far - mean, prec, far - mean)
    assert (d_far > limit).mean() > 0.95
