"""The router policy: state -> exact action from a template, or escalate.

:class:`RouterPolicy` implements :class:`~hive_middleware.ports.ActionPolicy`.
For a state it encodes the features, runs the MLP (NumPy, no torch needed to
serve), masks templates whose arguments cannot be filled, sums the calibrated
probability of templates that propose the same command, and answers only when
that confidence clears the threshold chosen for the target precision and the
state is in distribution (Mahalanobis distance of the hidden layer, and no
input feature that was never active in training). Otherwise the decision is
escalated with a reason. :meth:`RouterPolicy.decide_with_type` also returns the
predicted next action type (the type of the answered action; else the type
head's guess; on out-of-distribution states, the type of the last action).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hive_middleware.routing.encode import Encoded, encode_state, validate_state
from hive_middleware.routing.features import TYPE_NAMES, cached_action_type
from hive_middleware.routing.modelfile import RouterModel, load_model
from hive_middleware.routing.net import NetWeights
from hive_middleware.types import Action, AgentState, RouteDecision

__all__ = ["PendingDecision", "RouterPolicy", "default_model_dir", "load_policy"]

_MAX_AGENTS = 10_000


@dataclass(frozen=True)
class PendingDecision:
    """The latest decision of an agent, kept so feedback can be learned from."""

    decision_id: str
    agent_id: str
    encoded: Encoded


class RouterPolicy:
    """A trained action router.

    Args:
        model: The loaded model (see :func:`load_policy`).
    """

    def __init__(self, model: RouterModel) -> None:
        self.model = model
        self._weights = model.weights
        self._ids = itertools.count(1)
        self._pending: OrderedDict[str, PendingDecision] = OrderedDict()
        self._lock = threading.Lock()
        cal = model.calibration
        self._n_t = model.templates.__len__()
        self._inv_t = 1.0 / cal.temperature
        self._mean = cal.maha_mean
        self._prec = cal.maha_precision
        self._unseen = cal.unseen

    def with_threshold(self, threshold: float) -> RouterPolicy:
        """A policy on the same model answering at ``threshold`` instead of the calibrated one.

        For precision-coverage sweeps; out-of-distribution states still escalate.
        """
        cal = dataclasses.replace(self.model.calibration, threshold=float(threshold))
        return RouterPolicy(dataclasses.replace(self.model, calibration=cal, weights=self._weights))

    @property
    def training_runs(self) -> frozenset[str]:
        """Run ids the model was trained or calibrated on (evaluations must skip them)."""
        runs = self.model.training.get("training_runs", [])
        return frozenset(r for r in runs if isinstance(r, str))

    @property
    def weights(self) -> NetWeights:
        """The network weights in use."""
        return self._weights

    def swap_weights(self, weights: NetWeights) -> None:
        """Adopt new weights of the same shape (used by guarded online updates)."""
        if weights.w1.shape != self._weights.w1.shape or weights.w2.shape != self._weights.w2.shape:
            raise ValueError("new weights must have the same shapes as the current ones")
        self._weights = weights

    # ---- core -----------------------------------------------------------------------------

    def _decide_encoded(
        self, state: AgentState, enc: Encoded, hidden: np.ndarray, out: np.ndarray, with_type: bool = True
    ) -> tuple[RouteDecision, str]:
        """The decision, and the predicted next action type ("" unless ``with_type``)."""
        model = self.model
        cal = model.calibration
        t = self._n_t
        z = np.where(enc.allowed, out[: t + 1] * self._inv_t, -np.inf)
        z = np.exp(z - z.max())
        p = z / z.sum()
        type_name = TYPE_NAMES[int(np.argmax(out[t + 1 :]))] if with_type else ""
        # Templates proposing the same command pool their probability (same as score_batch).
        agg = np.bincount(enc.groups, weights=p, minlength=t + 1)
        best = int(np.argmax(agg))
        conf = float(agg[best])
        decision_id = f"{state.agent_id}#{next(self._ids)}"
        d = hidden - self._mean
        dist = float(d @ self._prec @ d)
        novel = float(enc.x @ self._unseen) > 0
        if with_type and (novel or dist > cal.maha_max):
            # The type head was never trained on states like this: fall back to the
            # agent-agnostic prior "the same type of action as the last one".
            history = state.history
            type_name = cached_action_type(history[-1].action) if history else type_name
        name = model.templates.names[best] if best < t else None
        command = enc.fills[best] if best < t else None
        if command is None:
            decision = RouteDecision(
                None, None, conf, True, f"escalate: no template fits (p={conf:.3f})", decision_id
            )
        elif novel:
            decision = RouteDecision(
                None,
                name,
                conf,
                True,
                "escalate: state out of distribution (features never seen in training are active)",
                decision_id,
            )
        elif dist > cal.maha_max:
            decision = RouteDecision(
                None,
                name,
                conf,
                True,
                f"escalate: state out of distribution (distance {dist:.1f} > {cal.maha_max:.1f})",
                decision_id,
            )
        elif conf < cal.threshold:
            decision = RouteDecision(
                None,
                name,
                conf,
                True,
                f"escalate: confidence {conf:.3f} below threshold {cal.threshold:.3f}",
                decision_id,
            )
        else:
            decision = RouteDecision(
                Action(command=command),
                name,
                conf,
                False,
                f"template {name} (confidence {conf:.3f} >= {cal.threshold:.3f})",
                decision_id,
            )
        if with_type and decision.action is not None:
            type_name = cached_action_type(decision.action.command)
        with self._lock:
            self._pending[state.agent_id] = PendingDecision(decision_id, state.agent_id, enc)
            self._pending.move_to_end(state.agent_id)
            while len(self._pending) > _MAX_AGENTS:
                self._pending.popitem(last=False)
        return decision, type_name

    def _decide(self, state: AgentState, with_type: bool) -> tuple[RouteDecision, str]:
        state = validate_state(state)
        enc = encode_state(state, self.model.templates, self.model.spec)
        hidden, out = self._weights.forward(enc.x)
        return self._decide_encoded(state, enc, hidden, out, with_type)

    def decide_with_type(self, state: AgentState) -> tuple[RouteDecision, str]:
        """Route one state and also return the predicted next action type.

        Raises:
            HiveValidationError: the state is malformed.
        """
        return self._decide(state, True)

    def decide(self, state: AgentState) -> RouteDecision:
        """Route one state (:class:`~hive_middleware.ports.ActionPolicy`).

        Returns:
            An answered decision (``action`` set) or an escalation with a reason.

        Raises:
            HiveValidationError: the state is malformed.
        """
        # The type of the next action is not asked for: its (shell-parsing) work is skipped.
        return self._decide(state, False)[0]

    def route(self, state: AgentState) -> RouteDecision:
        """Alias of :meth:`decide`."""
        return self.decide(state)

    async def aroute(self, state: AgentState) -> RouteDecision:
        """Async :meth:`route` (pure computation, microseconds: runs inline)."""
        return self.decide(state)

    def predict_type(self, state: AgentState) -> str:
        """The predicted type of the next action (one of ``ACTION_TYPES``)."""
        return self.decide_with_type(state)[1]

    def route_many(self, states: Sequence[AgentState]) -> list[RouteDecision]:
        """Route a batch of states with one matrix product.

        Raises:
            HiveValidationError: a state is malformed (its index is in the message).
        """
        valid = [validate_state(s) for s in states]
        if not valid:
            return []
        encs = [encode_state(s, self.model.templates, self.model.spec) for s in valid]
        hidden, out = self._weights.forward(np.stack([e.x for e in encs]))
        return [
            self._decide_encoded(s, e, hidden[i], out[i], with_type=False)[0]
            for i, (s, e) in enumerate(zip(valid, encs, strict=True))
        ]

    # ---- feedback bookkeeping ---------------------------------------------------------------

    def pending(self, agent_id: str) -> PendingDecision | None:
        """The latest decision made for ``agent_id`` that has not yet received feedback."""
        with self._lock:
            return self._pending.get(agent_id)

    def consume(self, agent_id: str, decision_id: str) -> PendingDecision | None:
        """Take the pending decision of ``agent_id`` if it is ``decision_id`` (else ``None``)."""
        with self._lock:
            current = self._pending.get(agent_id)
            if current is None or current.decision_id != decision_id:
                return None
            del self._pending[agent_id]
            return current


def default_model_dir() -> Path:
    """The model shipped in the package (trained by ``hive router train`` on the public runs)."""
    return Path(__file__).with_name("default_model")


def load_policy(model_dir: str | Path) -> RouterPolicy:
    """Load a router model directory written by ``hive router train``.

    Raises:
        HiveModelFileError: the directory is missing, tampered with, or made for
            another feature spec / template set.
    """
    return RouterPolicy(load_model(model_dir))
