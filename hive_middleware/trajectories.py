"""Reading SWE-agent ``.traj`` files (0.x and 1.x) into per-step agent views.

A ``.traj`` file is one agent run: ``trajectory`` (one entry per step: ``action``,
``observation``, ``thought``, ``state``), ``history`` (the chat transcript the
model saw) and ``info`` (``exit_status``, ``submission``). Two generations exist:

* **0.x** (e.g. Multi-SWE-bench ``msb_java_*`` runs): ``state`` is a JSON *string*
  such as ``'{"open_file": "/x/Foo.java", "working_dir": "/x"}'``; ``history``
  starts with the system prompt, then demonstration messages (``is_demo``), then
  the instance prompt; observation messages end with ``(Open file: ...)``.
* **1.x** (e.g. ``sweagent_lm32b_swebv``): ``state`` is a dict; history messages
  carry ``message_type`` (``system_prompt``, ``observation``, ``action``,
  ``demonstration``); observation messages read ``"OBSERVATION:\\n..."``.

For each step the reader gives what the agent had *before* acting:

* :attr:`TrajectoryStep.state`: an :class:`~hive_middleware.types.AgentState`
  whose ``goal`` is the instance prompt, ``history`` the earlier steps, and
  ``env`` the ``open_file``/``working_dir`` of the previous step's ``state``
  (values ``"n/a"`` and empty strings are left out: they mean "not known").
* :attr:`TrajectoryStep.messages`: the message list the model had: system prompt,
  instance prompt (demonstrations skipped), then for each earlier step its
  assistant message and the observation message(s) that followed it. These are
  taken verbatim from ``history`` while ``history`` lines up with ``trajectory``
  (same order, same actions); from the first step where it does not (a run cut
  short, a missing ``history``) they are rebuilt in the run's own format:
  ``thought + action`` for the assistant and ``"OBSERVATION:\\n" + observation``
  (1.x) or the observation followed by the ``(Open file: ...)``,
  ``(Current directory: ...)`` and ``bash-$`` lines (0.x) for the user.

Message dicts are shared building blocks: every step's list reuses the same
strings, and :attr:`TrajectoryStep.messages` returns fresh shallow copies so a
caller may mutate them freely.

Malformed records are skipped, not fatal (see :mod:`hive_middleware.skipped`):
a step without a usable ``action``/``observation``/``thought``/``state``, or a
history message that is not an object with a string ``role``, is left out and
counted under its reason with one warning line such as ``skipped x.traj:
trajectory[3].action is missing``; a malformed ``info.exit_status`` or
``info.submission`` reads as unknown (``None``) and is counted the same way. A
file that cannot be a run at all (not JSON, no ``trajectory`` list, no usable
step) raises :class:`~hive_middleware.errors.HiveDataError` naming the file and
the field from :func:`read_trajectory`, and is skipped and counted by
:func:`iter_trajectories`, which fails only when no file is usable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hive_middleware.errors import HiveDataError
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error
from hive_middleware.types import AgentState, Message, Step

__all__ = [
    "Trajectory",
    "TrajectoryStep",
    "count_trajectory_files",
    "iter_trajectories",
    "read_trajectory",
    "trajectory_files",
]

TRAJ_SUFFIX = ".traj"
_ENV_KEYS = ("open_file", "working_dir")
_UNKNOWN_ENV_VALUES = frozenset({"", "n/a"})


@dataclass(frozen=True, slots=True)
class _Transcript:
    """The message blocks shared by all steps of one run.

    ``head`` is system prompt + instance prompt; ``turns[i]`` is the assistant
    message of step ``i`` followed by the observation message(s) the model got.
    """

    head: tuple[Message, ...]
    turns: tuple[tuple[Message, ...], ...]


@dataclass(frozen=True)
class TrajectoryStep:
    """One step of a run, seen from just before the agent acted.

    Attributes:
        index: Position of the step in the run (0-based).
        action: The exact command the agent ran (may be empty when the run was
            cut short, e.g. by the context window).
        observation: The raw tool output that followed.
        thought: The model's reasoning before the action ("" when absent).
        state: What the agent knew before acting (goal, earlier steps, env).
    """

    index: int
    action: str
    observation: str
    thought: str
    state: AgentState
    _transcript: _Transcript = field(repr=False, compare=False)

    @property
    def messages(self) -> list[Message]:
        """The message list the model had at this step (fresh shallow copies).

        System prompt, instance prompt, then the assistant and observation
        messages of every earlier step.
        """
        out: list[Message] = [cast(Message, dict(m)) for m in self._transcript.head]
        for turn in self._transcript.turns[: self.index]:
            out.extend(cast(Message, dict(m)) for m in turn)
        return out


@dataclass(frozen=True)
class Trajectory:
    """One SWE-agent run.

    Attributes:
        path: The ``.traj`` file.
        group: The name of the folder it came from (one model/agent per folder).
        run_id: The file name without ``.traj`` (the task instance id).
        format_version: ``"0.x"`` or ``"1.x"``.
        system_prompt: The system message text.
        instance_prompt: The task message (the issue), demonstrations excluded.
        steps: The steps in order.
        exit_status: ``info.exit_status`` (``"submitted"``, ``"exit_cost"`` ...) or None.
        submission: ``info.submission`` (the final patch) or None.
    """

    path: Path
    group: str
    run_id: str
    format_version: str
    system_prompt: str
    instance_prompt: str
    steps: tuple[TrajectoryStep, ...]
    exit_status: str | None
    submission: str | None


def _fail(path: Path, where: str, problem: str) -> HiveDataError:
    return HiveDataError(
        f"{path.name}: {where} {problem} (file {path}); fix or remove the file",
        path=str(path),
        field=where,
        problem=problem,
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _load_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise HiveDataError(
            f"{path}: no such file; pass an existing .traj file or folder", path=str(path)
        ) from exc
    except OSError as exc:
        raise HiveDataError(f"{path}: cannot be read ({exc.strerror})", path=str(path)) from exc
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise _fail(path, "<file>", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise _fail(
            path, "<file>", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise _fail(path, "<file>", "is nested too deeply to be a trajectory") from exc


def _optional_str(path: Path, where: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _fail(path, where, f"must be a string or null, got {type(value).__name__}")


def _parse_state(path: Path, where: str, raw: Any) -> dict[str, str]:
    """A step's ``state`` (JSON string in 0.x, dict in 1.x) -> known env facts."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(path, where, f"is a string but not valid JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise _fail(path, where, "is nested too deeply") from exc
    if not isinstance(raw, Mapping):
        raise _fail(path, where, f"must be a JSON object or a JSON string of one, got {type(raw).__name__}")
    env: dict[str, str] = {}
    for key in _ENV_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and value.strip() not in _UNKNOWN_ENV_VALUES:
            env[key] = value
    return env


def _detect_version(top: Mapping[str, Any], steps: Sequence[Any], history: Sequence[Any]) -> str:
    info = top.get("info")
    if isinstance(info, Mapping):
        version = info.get("swe_agent_version")
        if isinstance(version, str) and version[:1].isdigit():
            return "0.x" if version.startswith("0.") else "1.x"
    if any(isinstance(m, Mapping) and "message_type" in m for m in history):
        return "1.x"
    if any(isinstance(s, Mapping) and isinstance(s.get("state"), Mapping) for s in steps):
        return "1.x"
    return "0.x"


def _copy_message(path: Path, where: str, msg: Any) -> Message:
    """Validate one history message and keep only its OpenAI fields."""
    if not isinstance(msg, Mapping):
        raise _fail(path, where, f"must be an object, got {type(msg).__name__}")
    role = msg.get("role")
    if not isinstance(role, str):
        raise _fail(path, f"{where}.role", "is missing" if role is None else "must be a string")
    content = msg.get("content")
    if content is not None and not isinstance(content, str | list):
        raise _fail(
            path,
            f"{where}.content",
            f"must be a string, a list of parts or null, got {type(content).__name__}",
        )
    if isinstance(content, list) and not all(isinstance(p, Mapping) and "type" in p for p in content):
        raise _fail(path, f"{where}.content", "parts must be objects with a 'type'")
    out = Message(role=role, content=content)
    calls = msg.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _fail(path, f"{where}.tool_calls", "must be a list or null")
        if calls and role == "assistant":
            out["tool_calls"] = calls
    call_id = msg.get("tool_call_id")
    if isinstance(call_id, str):
        out["tool_call_id"] = call_id
    if role == "tool" and not isinstance(call_id, str):
        # A tool result without its call id is not valid for any provider; a user
        # message carries the same text.
        out["role"] = "user"
    return out


def _is_demo(msg: Mapping[str, Any]) -> bool:
    return bool(msg.get("is_demo")) or msg.get("message_type") == "demonstration"


@dataclass(frozen=True, slots=True)
class _RawStep:
    action: str
    observation: str
    thought: str
    env_after: dict[str, str]


def _synth_turn(version: str, step: _RawStep) -> tuple[Message, ...]:
    """Rebuild one step's messages in the run's own format when history lacks it."""
    text = f"{step.thought.rstrip()}\n{step.action}".strip() if step.thought else step.action
    assistant = Message(role="assistant", content=text)
    if version == "1.x":
        observation = f"OBSERVATION:\n{step.observation}"
    else:
        open_file = step.env_after.get("open_file", "n/a")
        cwd = step.env_after.get("working_dir", "n/a")
        observation = f"{step.observation}\n(Open file: {open_file})\n(Current directory: {cwd})\nbash-$"
    return assistant, Message(role="user", content=observation)


def _build_transcript(
    path: Path, version: str, history: Sequence[Any], raw_steps: Sequence[_RawStep], skips: SkippedRecords
) -> tuple[str, str, _Transcript]:
    system_prompt = ""
    instance_prompt = ""
    head: list[Message] = []
    body: list[tuple[int, Message, Mapping[str, Any]]] = []  # (history index, message, raw)
    seen_instance = False
    for i, raw in enumerate(history):
        where = f"history[{i}]"
        try:
            msg = _copy_message(path, where, raw)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        if _is_demo(raw):
            continue
        if not seen_instance:
            if msg["role"] == "system" and not head:
                system_prompt = _text_of(msg.get("content"))
                head.append(msg)
                continue
            if msg["role"] == "user":
                instance_prompt = _text_of(msg.get("content"))
                head.append(msg)
                seen_instance = True
                continue
            if msg["role"] == "system":
                head.append(msg)
                continue
            seen_instance = True  # no instance prompt: the turns start here
        body.append((i, msg, raw))

    # Split the body into turns: an assistant message and what follows it.
    history_turns: list[tuple[Message, ...]] = []
    history_actions: list[str | None] = []
    current: list[Message] = []
    for _i, msg, raw in body:
        if msg["role"] == "assistant":
            if current:
                history_turns.append(tuple(current))
            current = [msg]
            action = raw.get("action")
            history_actions.append(action if isinstance(action, str) else None)
        elif current:
            current.append(msg)
        else:
            head.append(msg)  # extra user/system text before the first action
    if current:
        history_turns.append(tuple(current))

    turns: list[tuple[Message, ...]] = []
    aligned = True
    for idx, step in enumerate(raw_steps):
        if aligned and idx < len(history_turns):
            recorded = history_actions[idx]
            if recorded is None or recorded == step.action:
                turns.append(history_turns[idx])
                continue
        aligned = False
        turns.append(_synth_turn(version, step))
    return system_prompt, instance_prompt, _Transcript(head=tuple(head), turns=tuple(turns))


def _read_step(p: Path, i: int, s: Any) -> _RawStep:
    where = f"trajectory[{i}]"
    if not isinstance(s, Mapping):
        raise _fail(p, where, f"must be an object, got {type(s).__name__}")
    fields: dict[str, str] = {}
    for name in ("action", "observation"):
        value = s.get(name)
        if value is None:
            raise _fail(p, f"{where}.{name}", "is missing")
        if not isinstance(value, str):
            raise _fail(p, f"{where}.{name}", f"must be a string, got {type(value).__name__}")
        fields[name] = value
    thought = s.get("thought")
    if thought is not None and not isinstance(thought, str):
        raise _fail(p, f"{where}.thought", f"must be a string, got {type(thought).__name__}")
    env_after = _parse_state(p, f"{where}.state", s.get("state"))
    return _RawStep(fields["action"], fields["observation"], thought or "", env_after)


def _lenient_str(p: Path, where: str, value: Any, skips: SkippedRecords) -> str | None:
    try:
        return _optional_str(p, where, value)
    except HiveDataError as exc:
        skip_data_error(skips, exc)
        return None


def read_trajectory(path: str | Path, *, skips: SkippedRecords | None = None) -> Trajectory:
    """Read one SWE-agent ``.traj`` file (0.x or 1.x), skipping malformed steps.

    Args:
        path: The ``.traj`` file.
        skips: Where skipped steps and history messages are counted (default:
            the collector of :func:`~hive_middleware.skipped.recording_skips`,
            else warnings only).

    Returns:
        The run with its usable steps, each step's agent state and message list.

    Raises:
        HiveDataError: the file is missing, not JSON, has no ``trajectory`` list,
            or none of its steps is usable; the message names the file and the field.
    """
    skips = active_skips(skips)
    p = Path(path)
    top = _load_json(p)
    if not isinstance(top, Mapping):
        raise _fail(p, "<top level>", f"must be a JSON object, got {type(top).__name__}")
    steps_raw = top.get("trajectory")
    if steps_raw is None:
        raise _fail(p, "trajectory", "is missing")
    if not isinstance(steps_raw, list):
        raise _fail(p, "trajectory", f"must be a list, got {type(steps_raw).__name__}")
    history_raw = top.get("history", [])
    if history_raw is None:
        history_raw = []
    if not isinstance(history_raw, list):
        raise _fail(p, "history", f"must be a list, got {type(history_raw).__name__}")
    info = top.get("info", {})
    if info is None:
        info = {}
    if not isinstance(info, Mapping):
        raise _fail(p, "info", f"must be an object, got {type(info).__name__}")
    exit_status = _lenient_str(p, "info.exit_status", info.get("exit_status"), skips)
    submission = _lenient_str(p, "info.submission", info.get("submission"), skips)
    version = _detect_version(top, steps_raw, history_raw)

    raw_steps: list[_RawStep] = []
    for i, s in enumerate(steps_raw):
        try:
            raw_steps.append(_read_step(p, i, s))
        except HiveDataError as exc:
            skip_data_error(skips, exc)
    if steps_raw and not raw_steps:
        raise _fail(p, "trajectory", f"has no usable step (all {len(steps_raw)} are malformed)")

    system_prompt, instance_prompt, transcript = _build_transcript(p, version, history_raw, raw_steps, skips)

    past: list[Step] = [
        Step(action=r.action, observation=r.observation, thought=r.thought) for r in raw_steps
    ]
    past_tuple = tuple(past)
    steps: list[TrajectoryStep] = []
    for i, r in enumerate(raw_steps):
        env = dict(raw_steps[i - 1].env_after) if i > 0 else {}
        state = AgentState(goal=instance_prompt, history=past_tuple[:i], step_index=i, env=env)
        steps.append(
            TrajectoryStep(
                index=i,
                action=r.action,
                observation=r.observation,
                thought=r.thought,
                state=state,
                _transcript=transcript,
            )
        )
    return Trajectory(
        path=p,
        group=p.resolve().parent.name,
        run_id=p.name[: -len(TRAJ_SUFFIX)] if p.name.endswith(TRAJ_SUFFIX) else p.stem,
        format_version=version,
        system_prompt=system_prompt,
        instance_prompt=instance_prompt,
        steps=tuple(steps),
        exit_status=exit_status,
        submission=submission,
    )


def trajectory_files(paths: Sequence[str | Path]) -> list[Path]:
    """The ``.traj`` files named by ``paths``, in order.

    A path is a folder (its ``.traj`` files, sorted by name, not recursive) or
    one ``.traj`` file. Files whose name starts with ``_`` are run metadata and
    are skipped.

    Raises:
        HiveDataError: a path does not exist, is not a ``.traj`` file, or is a
            folder without any ``.traj`` file.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.suffix == TRAJ_SUFFIX and not f.name.startswith("_") and f.is_file()
            )
            if not found:
                raise HiveDataError(
                    f"{p}: folder has no .traj files; pass a folder of SWE-agent trajectories", path=str(p)
                )
            files.extend(found)
        elif p.is_file():
            if p.suffix != TRAJ_SUFFIX:
                raise HiveDataError(
                    f"{p}: not a .traj file; pass a .traj file or a folder of them", path=str(p)
                )
            files.append(p)
        else:
            raise HiveDataError(f"{p}: no such file or folder", path=str(p))
    return files


def count_trajectory_files(paths: Sequence[str | Path]) -> int:
    """How many runs :func:`iter_trajectories` will yield (for progress bars)."""
    return len(trajectory_files(paths))


def iter_trajectories(
    paths: Sequence[str | Path], *, skips: SkippedRecords | None = None
) -> Iterator[Trajectory]:
    """Read the usable runs under ``paths`` one at a time (see :func:`trajectory_files`).

    A file that is not a usable run is skipped: counted under its reason in
    ``skips`` with one warning line. Skipped steps inside usable runs are
    counted there too.

    Args:
        paths: Folders of ``.traj`` files or single files.
        skips: Where skips are counted (default: the collector of
            :func:`~hive_middleware.skipped.recording_skips`, else warnings only).

    Raises:
        HiveDataError: a bad path, or no file under ``paths`` is a usable run
            (one line naming the paths and the skip reasons).
    """
    skips = active_skips(skips)
    files = trajectory_files(paths)
    usable = 0
    for f in files:
        try:
            run = read_trajectory(f, skips=skips)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        usable += 1
        yield run
    if files and not usable:
        names = ", ".join(str(p) for p in ([paths] if isinstance(paths, str | Path) else paths))
        raise HiveDataError(
            f"no usable trajectory in {names}: all {len(files)} .traj files are malformed "
            f"({skips.describe()}); fix or replace them",
            path=names, field="trajectory",
        )
