"""Online learning from outcomes, guarded against poisoning and regressions.

:class:`FeedbackLearner` wraps a :class:`~hive_middleware.routing.policy.RouterPolicy`:

* :meth:`FeedbackLearner.record_outcome` accepts the action the agent actually
  took **only for the latest decision of that agent** that has not yet been
  answered; feedback for an older (stale) or unknown decision, or a second
  outcome for the same decision, is refused with
  :class:`~hive_middleware.errors.HiveValidationError`. A caller therefore
  cannot replay or forge labels for states the policy never routed.
* Accepted outcomes go to a bounded buffer (oldest dropped first).
* :meth:`FeedbackLearner.update_policy` fine-tunes a copy of the network on
  part of the buffer and adopts it only if it is no worse than the current one
  on the held-out rest (guarded A/B on exact-action accuracy, ties broken by
  log-likelihood); otherwise the current weights stay. The calibration
  (temperature, threshold, OOD statistics) is kept from training: fine-tuning
  is small by design, and re-calibrating needs held-out runs, not a buffer.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.calibrate import score_batch
from hive_middleware.routing.encode import match_labels
from hive_middleware.routing.features import TYPE_NAMES, cached_action_type
from hive_middleware.routing.net import NetWeights
from hive_middleware.routing.policy import RouterPolicy
from hive_middleware.types import Action, RouteDecision

__all__ = ["FeedbackLearner", "UpdateReport"]

_TYPE_INDEX = {t: i for i, t in enumerate(TYPE_NAMES)}


@dataclass(frozen=True, slots=True)
class _Example:
    key: str
    x: np.ndarray
    allowed: np.ndarray
    correct: np.ndarray
    groups: np.ndarray
    y_type: int


@dataclass(frozen=True)
class UpdateReport:
    """What :meth:`FeedbackLearner.update_policy` did.

    Attributes:
        adopted: Whether the fine-tuned weights replaced the current ones.
        old_accuracy: Exact-action accuracy of the current weights on the held-out slice.
        new_accuracy: The same for the fine-tuned weights.
        old_nll: Mean negative log-likelihood of the right templates, current weights.
        new_nll: The same, fine-tuned weights.
        n_train: Buffer examples fine-tuned on.
        n_heldout: Buffer examples compared on.
        reason: Why it was (not) adopted.
    """

    adopted: bool
    old_accuracy: float
    new_accuracy: float
    old_nll: float
    new_nll: float
    n_train: int
    n_heldout: int
    reason: str


class FeedbackLearner:
    """Bounded feedback buffer and guarded fine-tuning for a router policy.

    Args:
        policy: The policy whose decisions receive feedback.
        capacity: Maximum examples kept (oldest dropped first).
        heldout_every: One example in this many (by a hash of its decision id)
            is kept aside for the A/B comparison.
        min_examples: ``update_policy`` does nothing below this many examples.
        epochs: Fine-tuning epochs.
        lr: Fine-tuning learning rate.
        seed: Fine-tuning seed.
    """

    def __init__(
        self,
        policy: RouterPolicy,
        *,
        capacity: int = 2_048,
        heldout_every: int = 4,
        min_examples: int = 32,
        epochs: int = 5,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        if capacity <= 0 or heldout_every < 2 or min_examples < 2:
            raise HiveValidationError("capacity must be positive, heldout_every >= 2 and min_examples >= 2")
        self.policy = policy
        self.buffer: deque[_Example] = deque(maxlen=capacity)
        self.heldout_every = heldout_every
        self.min_examples = min_examples
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def record_outcome(self, decision: RouteDecision, actual_action: str | Action) -> None:
        """Record what the agent actually did after ``decision``.

        Args:
            decision: A decision returned by the policy.
            actual_action: The action the agent took (command string or :class:`Action`).

        Raises:
            HiveValidationError: the decision is not the latest pending decision
                of its agent (stale, unknown, or already recorded), or the
                action is not a string.
        """
        command = actual_action.command if isinstance(actual_action, Action) else actual_action
        if not isinstance(command, str):
            raise HiveValidationError("actual_action must be a command string or an Action", field="actual_action")
        agent_id, sep, _ = decision.decision_id.rpartition("#")
        if not sep:
            raise HiveValidationError(
                f"decision {decision.decision_id!r} was not made by this router; record outcomes of its own decisions",
                field="decision_id",
            )
        pending = self.policy.consume(agent_id, decision.decision_id)
        if pending is None:
            latest = self.policy.pending(agent_id)
            raise HiveValidationError(
                f"feedback for decision {decision.decision_id!r} refused: it is not the latest open decision of "
                f"agent {agent_id!r} (latest: {latest.decision_id if latest else 'none'}); only the most recent "
                "decision of an agent can receive an outcome, once",
                field="decision_id",
                agent_id=agent_id,
            )
        enc = pending.encoded
        labels, _ = match_labels(enc, self.policy.model.templates, command)
        self.buffer.append(
            _Example(
                key=decision.decision_id,
                x=enc.x,
                allowed=np.append(enc.fillable, True),
                correct=np.append(labels, not labels.any()),
                groups=enc.groups,
                y_type=_TYPE_INDEX[cached_action_type(command)],
            )
        )

    def _is_heldout(self, key: str) -> bool:
        return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % self.heldout_every == 0

    def _evaluate(self, weights: NetWeights, ex: list[_Example]) -> tuple[float, float]:
        cal = self.policy.model.calibration
        x = np.stack([e.x for e in ex])
        allowed = np.stack([e.allowed for e in ex])
        correct = np.stack([e.correct for e in ex])
        groups = np.stack([e.groups for e in ex])
        scores = score_batch(weights, x, allowed, groups, cal.temperature, 0.0, None)
        accuracy = float(correct[np.arange(len(ex)), scores.best].mean())
        _, out = weights.forward(x)
        t = weights.n_templates
        z = np.where(allowed, out[:, : t + 1] / cal.temperature, -np.inf)
        m = z.max(axis=1, keepdims=True)
        log_all = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
        zc = np.where(correct & allowed, z, -np.inf)
        mc = np.where(np.isfinite(zc.max(axis=1)), zc.max(axis=1), 0.0)
        log_ok = np.log(np.exp(zc - mc[:, None]).sum(axis=1) + 1e-30) + mc
        return accuracy, float(np.mean(log_all - log_ok))

    def update_policy(self) -> UpdateReport:
        """Fine-tune on the buffer and adopt the result only if it is no worse on the held-out slice."""
        from hive_middleware.routing.model import fit_network

        examples = list(self.buffer)
        held = [e for e in examples if self._is_heldout(e.key)]
        train = [e for e in examples if not self._is_heldout(e.key)]
        current = self.policy.weights
        if len(examples) < self.min_examples or not held or not train:
            return UpdateReport(False, float("nan"), float("nan"), float("nan"), float("nan"), len(train), len(held),
                                f"not enough feedback yet ({len(examples)} examples, need {self.min_examples})")
        candidate = fit_network(
            np.stack([e.x for e in train]),
            np.stack([e.allowed for e in train]),
            np.stack([e.correct for e in train]),
            np.array([e.y_type for e in train]),
            n_templates=current.n_templates, n_types=len(TYPE_NAMES), epochs=self.epochs, lr=self.lr,
            seed=self.seed, device="cpu", init=current,
        )
        old_acc, old_nll = self._evaluate(current, held)
        new_acc, new_nll = self._evaluate(candidate, held)
        better = new_acc > old_acc or (new_acc == old_acc and new_nll <= old_nll)
        if better:
            self.policy.swap_weights(candidate)
            reason = "adopted: no worse on the held-out slice"
        else:
            reason = "kept the current weights: the fine-tuned ones were worse on the held-out slice"
        return UpdateReport(better, old_acc, new_acc, old_nll, new_nll, len(train), len(held), reason)
