"""The exact-match normal form of an agent action: the ruler of ``hive eval route``.

Precision compares the routed action with the agent's real one after this
normalisation and nothing else, so no engine's own normalisation (see
:mod:`hive_middleware.routing.normalize`) can flatter its score. The action
taxonomy (:data:`~hive_middleware.routing.action_types.ACTION_TYPES`) lives in
the core, beside the router that predicts it.
"""

from __future__ import annotations

__all__ = ["normalize_action"]


def normalize_action(command: str) -> str:
    """The exact-match form of a command: whitespace runs collapsed, ends trimmed.

    Only whitespace is normalised (DESIGN §2): quoting, case and argument order
    are part of the action.
    """
    return " ".join(command.split())
