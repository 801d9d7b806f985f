"""Habit signatures: coarse to fine descriptions of a state, built from the state only.

A habit is keyed by ``(agent, signature, template)``. One signature is a
compromise: a coarse one gathers evidence fast but mixes behaviours (after an
edit the agent sometimes re-runs its script and sometimes edits again), a fine
one separates them but needs more steps before any habit in it is proven. So
every state has a *ladder* of signatures (:func:`state_signatures`), coarse to
fine, and every habit on every rung is scored at each step: a habit that is
exact on the coarse rung proves itself early, and a behaviour that is exact
only in a finer context proves itself there. Each rung is judged on its own
evidence, so a coarse habit's precision is the precision it really has over
all the states it covers.

Every part of a signature reads the state before the step (the earlier
actions, their observations, the environment); the step's own action never
enters.
"""

from __future__ import annotations

from hive_middleware.routing.facts import ACTION_KINDS, StateFacts, StepFacts

__all__ = ["RUNGS", "START_SIGNATURE", "signature_rung", "state_signature", "state_signatures"]

START_SIGNATURE = "start"
"""The signature of a state with no earlier step."""
RUNGS = ("coarse", "middle", "fine")
"""Names of the ladder's rungs, coarse to fine."""
_PARTS_PER_RUNG = (2, 5, 8)  # '/'-separated parts of a signature on each rung

# The first of these the observation shows is its outcome (most telling first).
_OBS_PRIORITY = (
    "edit_failed",
    "command_not_found",
    "traceback",
    "syntax_error",
    "tests_failed",
    "tests_passed",
    "error",
    "file_created",
    "file_edited",
    "no_matches",
    "has_line_hits",
    "has_hits",
    "view_listing",
    "empty",
)
_RUN_KINDS = frozenset({"create", "edit", "run", "test", "build"})
_READ_KINDS = frozenset({"view", "open", "goto", "scroll"})


def _outcome(step: StepFacts) -> str:
    """What the previous step's observation showed.

    The output of a file view is the file's text, so words such as ``error``
    or ``passed`` in it say nothing about the step: a view's outcome is the
    shape of what was shown instead (:attr:`~hive_middleware.routing.facts.StepFacts.shown`:
    a folder, an abridged large file, a whole file, a line range, an editor
    window with more below or at the end; or nothing).
    """
    signals = step.signals
    if step.kind in _READ_KINDS:
        if "not_found" in signals or "empty" in signals:
            return "nothing"
        return step.shown or "text"
    return next((s for s in _OBS_PRIORITY if s in signals), "other")


def _python_style(runs: tuple[str, ...]) -> str:
    """How the agent last ran a program: ``cd`` (cd D && ...), ``abs``, ``rel`` or ``none``."""
    if not runs:
        return "none"
    last = runs[0]
    if last.startswith("cd "):
        return "cd"
    parts = last.split(None, 2)
    return "abs" if len(parts) > 1 and parts[1].startswith("/") else "rel"


def _hits(step: StepFacts) -> str:
    """How many places a search named: ``0``, ``1`` or ``n`` (one hit is often opened next)."""
    count = len(step.hits) or len(step.line_hits)
    return "0" if count == 0 else "1" if count == 1 else "n"


def _scope(facts: StateFacts, last: StepFacts) -> str:
    """Whose file the previous edit or creation touched: the agent's own script at the top of the
    working directory (``own``), its own file inside a folder (``nested``: a module of a test
    project, seldom run directly) or a file of the repository (``repo``)."""
    if not facts.edited_own_script:
        return "repo"
    path = last.created or last.edited or facts.last_edited or ""
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    cwd = (facts.cwd or "").rstrip("/")
    return "own" if folder in ("", ".", cwd) else "nested"


def state_signatures(facts: StateFacts) -> tuple[str, ...]:
    """The signatures of a state, coarse to fine (each rung extends the one before).

    * ``kind/outcome``: the previous action's kind and what its observation
      showed (:func:`_outcome`).
    * ``.../scope/edits/style``: for edits and creations whether the file is
      the agent's own script, its own file in a folder, or the repository's; edits since the last run (0, 1, 2+); around
      running code, how the agent last ran a program.
    * ``.../repeat/target/hits``: whether the previous action repeated the
      one before it (an agent in a loop), whether the file just edited is the
      one the last run executed, and how many places the previous search
      named.
    """
    if not facts.steps:
        return (START_SIGNATURE,)
    last = facts.steps[0]
    kind = last.kind
    coarse = f"{kind}/{_outcome(last)}"
    scope = _scope(facts, last) if kind in ("edit", "create") else "-"
    style = _python_style(facts.runs) if kind in _RUN_KINDS else "-"
    middle = f"{coarse}/{scope}/{min(facts.edits_since_run, 2)}/{style}"
    repeat = "loop" if facts.second_action and facts.last_action == facts.second_action else "-"
    target = "target" if kind in ("edit", "create") and facts.edited_run_target else "-"
    hits = _hits(last) if kind in ("search", "find") else "-"
    return (coarse, middle, f"{middle}/{repeat}/{target}/{hits}")


def state_signature(facts: StateFacts) -> str:
    """The middle rung of :func:`state_signatures` (one signature where a single one is wanted)."""
    ladder = state_signatures(facts)
    return ladder[1] if len(ladder) > 1 else ladder[0]


def signature_rung(signature: str) -> int | None:
    """The rung (index into :data:`RUNGS`) of a signature made by :func:`state_signatures`.

    :data:`START_SIGNATURE` is on every rung and reads as the coarse one;
    ``None`` for a string of another shape (a prior band, a foreign signature).
    """
    if signature == START_SIGNATURE:
        return 0
    if signature.split("/", 1)[0] not in ACTION_KINDS:
        return None
    parts = signature.count("/") + 1
    return _PARTS_PER_RUNG.index(parts) if parts in _PARTS_PER_RUNG else None
