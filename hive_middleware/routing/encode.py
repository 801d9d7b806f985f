"""From an agent state to what the router network reads: facts, candidates, features.

:func:`encode_state` is the single path used by training, calibration,
evaluation and live routing, so the features a model was trained on are the
features it sees in production. :func:`validate_state` turns a malformed state
into a clear :class:`~hive_middleware.errors.HiveValidationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.facts import StateFacts, state_facts
from hive_middleware.routing.features import FeatureSpec
from hive_middleware.routing.templates import Arg, TemplateSet
from hive_middleware.types import AgentState, Step

__all__ = ["Encoded", "encode_state", "match_labels", "validate_state"]


@dataclass(frozen=True, slots=True)
class Encoded:
    """One encoded state.

    Attributes:
        facts: Derived facts of the state.
        cands: Candidates of each argument source.
        fillable: Which templates can be filled.
        allowed: ``fillable`` plus the always-allowed "none" class (length ``n + 1``).
        fills: Each template's command as written (``None`` when unfillable).
        norms: The same commands normalised (for exact-match comparison).
        groups: For each template, the index of the first template proposing
            the same normalised command (itself when unique or unfillable);
            ``groups[n_templates]`` is the "none" class.
        x: The feature vector (float32).
    """

    facts: StateFacts
    cands: dict[str, list[Arg]]
    fillable: np.ndarray
    allowed: np.ndarray
    fills: list[str | None]
    norms: list[str | None]
    groups: np.ndarray
    x: np.ndarray


def _check_history(state: AgentState) -> None:
    """The slow path of :func:`validate_state`: name the first bad step and field."""
    for i, step in enumerate(state.history):
        if not isinstance(step, Step):
            raise HiveValidationError(
                f"state.history[{i}] must be a Step, got {type(step).__name__}", field=f"history[{i}]", index=i
            )
        for name in ("action", "observation"):
            if not isinstance(getattr(step, name), str):
                raise HiveValidationError(
                    f"state.history[{i}].{name} must be a string, got {type(getattr(step, name)).__name__}",
                    field=f"history[{i}].{name}",
                    index=i,
                )
        if step.thought is not None and not isinstance(step.thought, str):
            raise HiveValidationError(
                f"state.history[{i}].thought must be a string or None", field=f"history[{i}].thought", index=i
            )


def validate_state(state: object) -> AgentState:
    """Check that ``state`` is a well-formed :class:`AgentState`.

    Raises:
        HiveValidationError: naming the field that is missing or of a wrong type.
    """
    if not isinstance(state, AgentState):
        raise HiveValidationError(
            f"route() needs an AgentState, got {type(state).__name__}; build one with "
            "AgentState(goal=..., history=(Step(...), ...), step_index=..., env={...})",
            field="state",
        )
    if not isinstance(state.goal, str):
        raise HiveValidationError(f"state.goal must be a string, got {type(state.goal).__name__}", field="goal")
    if not isinstance(state.history, tuple | list):
        raise HiveValidationError(
            f"state.history must be a tuple of Step, got {type(state.history).__name__}", field="history"
        )
    # Fast path (the common case): every step is a Step with string fields.
    if not all(
        type(step) is Step and type(step.action) is str and type(step.observation) is str
        and (step.thought is None or type(step.thought) is str)
        for step in state.history
    ):
        _check_history(state)
    if isinstance(state.step_index, bool) or not isinstance(state.step_index, int) or state.step_index < 0:
        raise HiveValidationError(
            f"state.step_index must be a non-negative int, got {state.step_index!r}", field="step_index"
        )
    if not isinstance(state.env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in state.env.items()
    ):
        raise HiveValidationError("state.env must map strings to strings (open_file, working_dir)", field="env")
    if not isinstance(state.agent_id, str):
        raise HiveValidationError("state.agent_id must be a string", field="agent_id")
    return state


def encode_state(state: AgentState, templates: TemplateSet, spec: FeatureSpec) -> Encoded:
    """Encode one (already validated) state for a model with these templates."""
    facts = state_facts(state)
    cands = templates.candidates(facts)
    fillable = templates.fillable(cands)
    n = len(templates)
    cwd = facts.cwd
    # Const templates are always fillable and stored in matching form: they are set
    # in bulk; only the other fillable templates are filled one by one.
    consts = templates.const_norms
    fills: list[str | None] = list(consts)
    norms: list[str | None] = list(consts)
    group_list = list(range(n + 1))
    first: dict[str, int] = dict(templates.const_index)
    for i, c in enumerate(consts):
        if c is not None:
            group_list[i] = first[c]
    match = templates.match
    past = {match(a, cwd) for a in facts.past_actions}
    last_norm = match(facts.last_action, cwd) if facts.last_action else None
    executed_idx = [templates.const_index[c] for c in templates.const_set.intersection(past)]
    repeat_idx: list[int] = []
    if last_norm is not None and last_norm in templates.const_index:
        repeat_idx.append(templates.const_index[last_norm])
    # Plain Python ints and lists here: per-element NumPy indexing costs ~10x more.
    for i in templates.other_indices[fillable[templates.other_indices]].tolist():
        pair = templates.fill_matched(i, facts, cands)
        if pair is None:
            continue
        filled, norm = pair
        fills[i] = filled
        norms[i] = norm
        group_list[i] = first.setdefault(norm, i)
        if norm in past:
            executed_idx.append(i)
        if norm == last_norm:
            repeat_idx.append(i)
    groups = np.array(group_list)
    last = state.history[-1] if state.history else None
    last_step = (last.action, last.observation, last.thought or "") if last is not None else None
    sizes = {k: len(v) for k, v in cands.items()}
    x = spec.vector(
        facts, last_step, state.step_index, fillable, sizes, None, None, executed_idx=executed_idx, repeat_idx=repeat_idx
    )
    allowed = np.ones(n + 1, dtype=bool)
    allowed[:n] = fillable
    return Encoded(
        facts=facts, cands=cands, fillable=fillable, allowed=allowed, fills=fills, norms=norms, groups=groups, x=x
    )


def match_labels(enc: Encoded, templates: TemplateSet, actual: str) -> tuple[np.ndarray, list[str | None]]:
    """Which templates reproduce ``actual`` exactly, and every template's normalised fill.

    Returns:
        ``(labels, fills)``: a boolean vector over templates and the normalised
        command each template proposes (``None`` when unfillable).
    """
    target = templates.match(actual, enc.facts.cwd)
    labels = np.array([norm == target for norm in enc.norms], dtype=bool)
    return labels, list(enc.norms)
