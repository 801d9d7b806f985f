"""The router network in torch: a small MLP trained with a set-valued template target.

Several templates can reproduce the same action (re-run the last command and
run the file just created are often the same command), so the template loss
is the negative log of the total probability of *all* templates that match
(and of the "none" class when none does); templates that cannot be filled are
masked out before the softmax. A second head predicts the next action type.
Weights are exported to :class:`~hive_middleware.routing.net.NetWeights` for
serving; this module is imported only to train or fine-tune.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hive_middleware.routing.net import NetWeights

__all__ = ["RouterMLP", "fit_network", "pick_device"]

_NEG = -1e9


def pick_device(device: str = "auto") -> torch.device:
    """``cuda`` when asked for or when ``auto`` and available, else ``cpu``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class RouterMLP(nn.Module):
    """``dim -> hidden (ReLU) -> n_templates + 1 + n_types``."""

    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every head, concatenated."""
        out: torch.Tensor = self.fc2(torch.relu(self.fc1(x)))
        return out

    @classmethod
    def from_weights(cls, w: NetWeights) -> RouterMLP:
        """A module initialised from exported weights (for fine-tuning)."""
        m = cls(w.dim, w.hidden, int(w.w2.shape[1]))
        with torch.no_grad():
            m.fc1.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.w1.T)))
            m.fc1.bias.copy_(torch.from_numpy(w.b1))
            m.fc2.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.w2.T)))
            m.fc2.bias.copy_(torch.from_numpy(w.b2))
        return m

    def export(self, n_templates: int) -> NetWeights:
        """The weights as float32 NumPy arrays."""
        return NetWeights(
            w1=np.ascontiguousarray(self.fc1.weight.detach().cpu().numpy().T, dtype=np.float32),
            b1=self.fc1.bias.detach().cpu().numpy().astype(np.float32),
            w2=np.ascontiguousarray(self.fc2.weight.detach().cpu().numpy().T, dtype=np.float32),
            b2=self.fc2.bias.detach().cpu().numpy().astype(np.float32),
            n_templates=n_templates,
        )


def _loss(
    out: torch.Tensor, allowed: torch.Tensor, correct: torch.Tensor, y_type: torch.Tensor, n_t: int, type_weight: float
) -> torch.Tensor:
    logits = out[:, : n_t + 1].masked_fill(~allowed, _NEG)
    log_all = torch.logsumexp(logits, dim=1)
    log_ok = torch.logsumexp(logits.masked_fill(~correct, _NEG), dim=1)
    template_nll = (log_all - log_ok).mean()
    type_nll = nn.functional.cross_entropy(out[:, n_t + 1 :], y_type)
    return template_nll + type_weight * type_nll


def fit_network(
    x: np.ndarray,
    allowed: np.ndarray,
    correct: np.ndarray,
    y_type: np.ndarray,
    *,
    n_templates: int,
    n_types: int,
    hidden: int = 32,
    epochs: int = 25,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    type_weight: float = 0.5,
    seed: int = 0,
    device: str = "auto",
    init: NetWeights | None = None,
) -> NetWeights:
    """Train (or fine-tune, with ``init``) the router MLP.

    Args:
        x: ``(n, dim)`` features.
        allowed: ``(n, n_templates + 1)`` which template logits may be chosen
            (fillable templates, plus "none" always).
        correct: ``(n, n_templates + 1)`` which of them reproduce the action
            ("none" when no template does).
        y_type: ``(n,)`` index of the next action's type.
        n_templates: Number of templates.
        n_types: Number of action types.
        hidden: Hidden width.
        epochs: Passes over the data.
        lr: Adam learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Minibatch size.
        type_weight: Weight of the type loss.
        seed: Seed for initialisation and shuffling (training is deterministic on CPU).
        device: ``auto``, ``cpu`` or ``cuda``.
        init: Start from these weights instead of a fresh initialisation.

    Returns:
        The trained weights.
    """
    torch.manual_seed(seed)
    dev = pick_device(device)
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        # The network is tiny: one thread beats thread-pool overhead (measured 2x faster).
        torch.set_num_threads(1)
    try:
        return _train(x, allowed, correct, y_type, n_templates, n_types, hidden, epochs, lr, weight_decay,
                      batch_size, type_weight, seed, dev, init)
    finally:
        torch.set_num_threads(threads)


def _train(
    x: np.ndarray,
    allowed: np.ndarray,
    correct: np.ndarray,
    y_type: np.ndarray,
    n_templates: int,
    n_types: int,
    hidden: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    type_weight: float,
    seed: int,
    dev: torch.device,
    init: NetWeights | None,
) -> NetWeights:
    n_out = n_templates + 1 + n_types
    model = RouterMLP.from_weights(init) if init is not None else RouterMLP(x.shape[1], hidden, n_out)
    model.to(dev)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32)).to(dev)
    at = torch.from_numpy(np.asarray(allowed, dtype=bool)).to(dev)
    ct = torch.from_numpy(np.asarray(correct, dtype=bool)).to(dev)
    yt = torch.from_numpy(np.asarray(y_type, dtype=np.int64)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(dev)
        for start in range(0, n, batch_size):
            b = order[start : start + batch_size]
            opt.zero_grad()
            loss = _loss(model(xt[b]), at[b], ct[b], yt[b], n_templates, type_weight)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    model.eval()
    return model.cpu().export(n_templates)
