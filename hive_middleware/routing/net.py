"""The router network's forward pass in NumPy, for serving without importing torch.

Training uses the torch module in :mod:`hive_middleware.routing.model`; its
weights are exported to this plain two-layer MLP (ReLU hidden layer; template,
"none" and action-type heads share the output matrix). A single state runs in a
few microseconds, far below torch's per-call overhead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NetWeights"]


@dataclass(frozen=True)
class NetWeights:
    """Weights of the router MLP (float32).

    Attributes:
        w1: ``(dim, hidden)`` first layer.
        b1: ``(hidden,)``.
        w2: ``(hidden, n_templates + 1 + n_types)`` output layer; column
            ``n_templates`` is the "no template fits" logit.
        b2: ``(n_out,)``.
        n_templates: Number of template logits.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    n_templates: int

    @property
    def dim(self) -> int:
        """Input length."""
        return int(self.w1.shape[0])

    @property
    def hidden(self) -> int:
        """Width of the penultimate (hidden) layer."""
        return int(self.w1.shape[1])

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(hidden, logits)`` for one vector or a batch (rows)."""
        h = x @ self.w1
        h += self.b1
        np.maximum(h, 0.0, out=h)
        out = h @ self.w2
        out += self.b2
        return h, out

    def tensors(self) -> dict[str, np.ndarray]:
        """The weights by safetensors name."""
        return {"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2}
