"""High-throughput routing of pre-encoded states with torch.

:func:`~hive_middleware.routing.encode.encode_state` produces, per state, the
feature vector, the fillability mask and the template groups (templates that
propose the same command). Given those, :class:`BatchRouter` takes the same
decision as :class:`~hive_middleware.routing.policy.RouterPolicy` for a whole
batch in a few tensor operations: forward pass, masked temperature softmax,
probability pooled per command, argmax, threshold, Mahalanobis OOD test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hive_middleware.routing.modelfile import RouterModel

__all__ = ["BatchDecisions", "BatchRouter"]


@dataclass(frozen=True)
class BatchDecisions:
    """Decisions for a batch: chosen template, confidence, answered flag."""

    best: torch.Tensor
    confidence: torch.Tensor
    answered: torch.Tensor


class BatchRouter:
    """Batched decisions on pre-encoded states.

    Args:
        model: The loaded router model.
        device: ``cpu`` or ``cuda``.
    """

    def __init__(self, model: RouterModel, device: str = "cpu") -> None:
        w, cal = model.weights, model.calibration
        dev = torch.device(device)
        self.n_templates = w.n_templates
        self.w1 = torch.from_numpy(w.w1).to(dev)
        self.b1 = torch.from_numpy(w.b1).to(dev)
        # Only the template logits are needed to decide; the type head is skipped.
        self.w2 = torch.from_numpy(np.ascontiguousarray(w.w2[:, : w.n_templates + 1] / cal.temperature)).to(dev)
        self.b2 = torch.from_numpy(np.ascontiguousarray(w.b2[: w.n_templates + 1] / cal.temperature)).to(dev)
        self.mean = torch.from_numpy(cal.maha_mean).to(dev)
        self.prec = torch.from_numpy(cal.maha_precision).to(dev)
        self.threshold = cal.threshold
        self.maha_max = cal.maha_max
        self.unseen = torch.from_numpy(cal.unseen).to(dev)

    @torch.inference_mode()
    def decide(self, x: torch.Tensor, allowed: torch.Tensor, groups: torch.Tensor) -> BatchDecisions:
        """Decide a batch.

        Args:
            x: ``(n, dim)`` float32 features.
            allowed: ``(n, n_templates + 1)`` bool, fillable templates and "none".
            groups: ``(n, n_templates + 1)`` int64 template groups.
        """
        h = torch.relu(torch.addmm(self.b1, x, self.w1))
        logits = torch.addmm(self.b2, h, self.w2).masked_fill_(~allowed, float("-inf"))
        p = torch.softmax(logits, dim=1)
        pooled = torch.zeros_like(p).scatter_add_(1, groups, p)
        conf, best = pooled.max(dim=1)
        d = h - self.mean
        dist = ((d @ self.prec) * d).sum(dim=1)
        novel = (x @ self.unseen) > 0
        answered = (best != self.n_templates) & (conf >= self.threshold) & (dist <= self.maha_max) & ~novel
        return BatchDecisions(best=best, confidence=conf, answered=answered)
