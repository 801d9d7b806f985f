"""The budgeted, reversible message-list compressor.

``compress(messages)`` labels every message (see :class:`~.labels.Label`) and
returns a new list in which:

* system messages, the task (the first user instruction), every later user
  instruction and the latest user turn are kept verbatim;
* recent outputs (the last ``keep_recent_turns``) are kept, only compacted;
* older outputs a newer message supersedes become STALE stubs naming it;
* other older outputs are DISTILLed by type (or summarised by an LLM when a
  summariser is configured and no rule fits: ESCALATE), or DROPped to a stub
  when a summary would not be shorter;
* every stub or distilled form carries the handle of its original and the tool
  that fetches it (``hive_expand``), and lists the identifiers (paths,
  ``file:line``, symbols) of its original that are visible nowhere else in the
  output, so nothing an agent might name again disappears from view;
* lines of older outputs that mention what the latest action refers to are kept.

Messages are never removed or reordered, only their content is replaced, so an
assistant tool call and its tool results stay paired. With ``budget``, forms are
lowered one step at a time, lowest value and oldest first, until the list fits;
if the invariants make that impossible, the best valid list comes back with
``budget_met=False``.

Per-message work (classification, compaction, distillation, identifiers, token
counts) is cached by content, so an agent loop that re-sends a growing list pays
only for its new messages.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, cast

from hive_middleware.compression.artifacts import (
    EXPAND_TOOL,
    ArtifactStore,
    InMemoryArtifactStore,
    default_artifact_store,
    make_handle,
)
from hive_middleware.compression.compactors import (
    clean_terminal,
    compact,
    elide_long_lines,
    has_long_line,
    is_progress_line,
)
from hive_middleware.compression.content_types import (
    OUTPUT_TYPES,
    ContentType,
    classify_message,
    classify_output,
    observation_body,
)
from hive_middleware.compression.distillers import distill
from hive_middleware.compression.identifiers import extract_identifiers, scan_identifiers
from hive_middleware.compression.json_output import distill_json
from hive_middleware.compression.labels import Label, MessageLabel
from hive_middleware.compression.shapes import Unit, decode_invalid_text, explode, fold_content, is_plain
from hive_middleware.compression.staleness import find_stale, view_region
from hive_middleware.compression.token_costs import list_tokens, message_tokens, unpriced_parts
from hive_middleware.compression.tool_vocab import output_tool_names
from hive_middleware.compression.transcript import producing_actions
from hive_middleware.config import DEFAULT_MODEL, CompressionConfig, HiveConfig
from hive_middleware.errors import HiveValidationError
from hive_middleware.types import Message, message_text, validate_messages

__all__ = ["CompressionResult", "clear_caches", "compress"]

# Value of each type when a budget forces more compression: lowest goes first.
_INSTRUCTION = ContentType.USER_INSTRUCTION
_SYSTEM = ContentType.SYSTEM
_VALUE: dict[ContentType, int] = {
    ContentType.OTHER: 0,
    ContentType.COMMAND_OUTPUT: 1,
    ContentType.SEARCH_RESULTS: 2,
    ContentType.FILE_VIEW: 3,
    ContentType.JSON_DATA: 2,
    ContentType.PATCH_DIFF: 4,
    ContentType.TEST_OUTPUT: 5,
    ContentType.ERROR_TRACEBACK: 6,
    ContentType.ASSISTANT_REASONING: 7,
    ContentType.TOOL_CALL: 8,
    ContentType.USER_INSTRUCTION: 9,
}
_VERB = {Label.DISTILL: "distilled", Label.DROP: "dropped", Label.ESCALATE: "summarised"}
_MIN_SAVING = 0.75  # a replacement must be at most this fraction of the original's size
_MIN_TURN_CHARS = 120  # shorter assistant turns have nothing to trim
_MAX_FOCUS_LINES = 3  # per replaced message
_MAX_FOCUS_TOTAL = 8  # per list, newest messages first
_FOCUS_LINE_CHARS = 160
_MIN_FOCUS_IDENTIFIER = 4


@dataclass(frozen=True)
class CompressionResult:
    """What :func:`compress` returns.

    Attributes:
        messages: The compressed list (same length and order as the input; valid
            OpenAI input).
        labels: One :class:`MessageLabel` per message.
        stats: ``tokens_before``/``tokens_after`` (whole list, litellm counts),
            ``by_type`` (tokens before/after per content type), ``by_label``
            (message counts), ``budget``, ``budget_met``, ``budget_impossible``,
            ``model``, ``token_counts_cached`` and ``escalate_failures``.
        handles: Artifact handle -> index of the (first) message whose original it
            holds; iterating gives the handles. ``labels[i].handle`` gives the
            handle of message ``i``.
        budget_met: False only when a budget was given and could not be met.
    """

    messages: list[Message]
    labels: list[MessageLabel]
    stats: dict[str, Any]
    handles: dict[str, int]
    budget_met: bool = True


@dataclass(frozen=True, slots=True)
class _Info:
    """Content-derived facts about one message (cached by role + text + tool).

    For outputs, ``prefix``/``body``/``footer`` are read from the text as a
    terminal shows it (ANSI codes, CRLF and carriage-return redraws resolved);
    ``noisy`` says the raw text differed, ``elided`` that ``compacted`` had lines
    too long to keep (minified JSON, base64) cut, so it is no longer lossless.
    """

    ctype: ContentType
    is_output: bool
    body: str
    prefix: str
    footer: str
    compacted: str
    noisy: bool = False
    elided: bool = False


@lru_cache(maxsize=16_384)
def _info(role: str, text: str, has_calls: bool, is_text: bool, after_action: bool, tool: str = "") -> _Info:
    clean = clean_terminal(text)
    msg: dict[str, Any] = {"role": role, "content": clean}
    if has_calls:
        msg["tool_calls"] = [{}]
    ctype = classify_message(msg, tool or None)
    if after_action and ctype is ContentType.USER_INSTRUCTION:
        # A text agent's environment answers its action in the next user message.
        ctype = classify_output(clean)
    is_output = is_text and role != "assistant" and ctype in OUTPUT_TYPES
    if not is_output:
        return _Info(ctype, False, text, "", "", text)
    body = observation_body(clean)
    start = clean.find(body) if body else len(clean)
    prefix = clean[:start] if start > 0 else ""
    footer = clean[start + len(body) :] if body else ""
    compacted = compact(body)
    elided = has_long_line(compacted)
    if elided:
        # Long lines are lossy to keep short: JSON is shortened as JSON, other text cut.
        structured = distill_json(compacted) if ctype is ContentType.JSON_DATA else None
        compacted = structured if structured is not None else elide_long_lines(compacted)
    return _Info(ctype, True, body, prefix, footer, compacted, clean is not text, elided)


_TAB_WIDTH = 4


@lru_cache(maxsize=16_384)
def _measure(text: str) -> int:
    """How much a text says, for the size thresholds: characters, a tab counted as the
    indentation level it stands for and progress-bar frames not at all, so the same
    output indented with tabs or drawn with a bar crosses the same thresholds."""
    if "%" in text or "[" in text:
        text = "\n".join(line for line in text.split("\n") if not is_progress_line(line))
    return len(text) + (_TAB_WIDTH - 1) * text.count("\t")


@lru_cache(maxsize=16_384)
def _action_only(text: str) -> str:
    """The action part of an assistant turn (markup or fenced block), long arguments trimmed."""
    from hive_middleware.compression.distillers import distill_assistant_turn

    start = text.find("<function=")
    if start < 0:
        start = text.find("```")
    if start <= 0:
        return ""
    return distill_assistant_turn(text[start:]) or text[start:]


@lru_cache(maxsize=16_384)
def _handle(original: str) -> str:
    return make_handle(original)


@lru_cache(maxsize=16_384)
def _line_count(text: str) -> int:
    return text.count("\n") + 1


@lru_cache(maxsize=8_192)
def _line_index(text: str) -> dict[str, int]:
    """identifier -> index of the first line that mentions it."""
    index: dict[str, int] = {}
    for n, line in enumerate(text.split("\n")):
        if len(line) > 4 * _FOCUS_LINE_CHARS:
            continue
        for ident in scan_identifiers(line):
            index.setdefault(ident, n)
    return index


_PART_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_MIN_PART = 3


@lru_cache(maxsize=65_536)
def _parts(identifier: str) -> frozenset[str]:
    """Lower-cased name parts of an identifier (path segments, snake and camel words)."""
    return frozenset(p.lower() for p in _PART_SPLIT.split(identifier) if len(p) >= _MIN_PART)


@lru_cache(maxsize=8_192)
def _indexable(text: str) -> tuple[str, ...]:
    """Identifiers worth listing in a stub.

    ``path:line`` pointers are left to the distilled body (the path itself is
    listed), and a name already written inside a longer listed one is skipped
    (``model.left`` and ``n_outputs`` are visible in ``model.left.n_outputs``, a
    directory or file name in its full path).
    """
    found = [i for i in extract_identifiers(text) if not _LINE_SUFFIX.search(i)]
    covered: set[str] = set()
    for ident in found:
        sep = "/" if "/" in ident else "." if "." in ident else ""
        if not sep:
            continue
        pieces = ident.split(sep)
        for k in range(1, len(pieces)):
            covered.add(sep.join(pieces[:k]))
            covered.add(sep.join(pieces[k:]))
        covered.update(pieces)
    return tuple(i for i in found if i not in covered)


_LINE_SUFFIX = re.compile(r":\d+$")


@lru_cache(maxsize=16_384)
def _identifier_set(text: str) -> frozenset[str]:
    return frozenset(extract_identifiers(text))


@lru_cache(maxsize=8_192)
def _index_meta(text: str, task: str) -> tuple[frozenset[str], dict[str, int], dict[str, int]]:
    """The indexable identifiers of ``text`` with their salience rank and position."""
    ranked = _ranked_indexable(text, task)
    rank = {ident: r for r, (_pos, ident) in enumerate(ranked)}
    position = {ident: pos for pos, ident in ranked}
    return frozenset(rank), rank, position


@lru_cache(maxsize=8_192)
def _ranked_indexable(text: str, task: str) -> tuple[tuple[int, str], ...]:
    """The indexable identifiers of ``text`` as ``(position, identifier)``, most salient first.

    Salient: sharing distinctive name parts with the task. A part shared by most
    of the text's identifiers (``testbed`` in every path of a listing) tells
    them apart no better than nothing, so only parts found in fewer than half of
    them count. Ties keep the order of appearance. Cached by text and task, so
    each call only filters this list by what is already visible.
    """
    identifiers = _indexable(text)
    salient = _text_parts(task)
    parts = [_parts(i) for i in identifiers]
    freq: dict[str, int] = {}
    for ps in parts:
        for p in ps:
            freq[p] = freq.get(p, 0) + 1
    common = len(identifiers) / 2
    scores = [len([p for p in ps & salient if freq[p] < common]) for ps in parts]
    # Highest score first; a stable sort keeps ties in order of appearance.
    order: Sequence[int] = range(len(identifiers))
    if any(scores):
        order = sorted(order, key=scores.__getitem__, reverse=True)
    return tuple((k, identifiers[k]) for k in order)


@lru_cache(maxsize=8_192)
def _text_parts(text: str) -> frozenset[str]:
    out: set[str] = set()
    for ident in extract_identifiers(text):
        out |= _parts(ident)
    return frozenset(out)


@lru_cache(maxsize=8_192)
def _split_lines(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n"))


@dataclass
class _Slot:
    """The working state of one message while the list is compressed."""

    index: int
    message: Mapping[str, Any]
    info: _Info
    label: Label = Label.CORE
    body: str | None = None  # the replacement body (None: original kept)
    note: str = ""  # the stub line (handle + tool) for replaced bodies
    focus: tuple[str, ...] = ()
    index_line: str = ""
    superseded_by: int | None = None
    handle: str | None = None
    protected: bool = False
    bare: bool = False  # dropped under budget pressure: no identifier index
    stored: str = ""  # what the handle gives back (the original content, or its text)


@lru_cache(maxsize=1)
def _default_config() -> HiveConfig:
    return HiveConfig.model_validate({})


def _resolve_config(config: CompressionConfig | HiveConfig | None) -> tuple[CompressionConfig, int, str]:
    if config is None:
        hive = _default_config()
        return hive.compression, hive.max_message_chars, hive.model
    if isinstance(config, HiveConfig):
        return config.compression, config.max_message_chars, config.model
    if isinstance(config, CompressionConfig):
        return config, HiveConfig.model_fields["max_message_chars"].default, DEFAULT_MODEL
    raise HiveValidationError(
        f"config must be a CompressionConfig or HiveConfig, got {type(config).__name__}", field="config"
    )


_PLAIN_ROLES = frozenset({"system", "user", "assistant", "developer"})


@lru_cache(maxsize=65_536)
def _text_ok(text: str, max_chars: int) -> bool:
    if len(text) > max_chars:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_plain_and_valid(messages: object, max_chars: int) -> bool:
    """Fast path: every message is ``{role, content: str}`` with known-good text (cached by text).

    Such a list has no tool pairing to check, so validation reduces to the
    per-text checks, which an agent loop re-sending the same messages has
    already paid for. Anything else goes through ``validate_messages``.
    """
    if not isinstance(messages, list):
        return False
    for msg in messages:
        if type(msg) is not dict or len(msg) != 2:
            return False
        content = msg.get("content")
        role = msg.get("role")
        if type(content) is not str or type(role) is not str or role not in _PLAIN_ROLES:
            return False  # anything else (an unhashable role included) goes to validate_messages
        if not _text_ok(content, max_chars):
            return False
    return True


def _check_input(messages: object, budget: int | None, max_chars: int) -> list[Message]:
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0):
        raise HiveValidationError(f"budget must be a positive number of tokens or None, got {budget!r}", field="budget")
    if _all_plain_and_valid(messages, max_chars):
        return cast("list[Message]", list(messages))  # type: ignore[call-overload]
    if isinstance(messages, list):
        messages = decode_invalid_text(messages)
    checked = validate_messages(messages, max_chars=max_chars)
    for i, msg in enumerate(checked):
        content = msg.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                text = part.get("text")
                if isinstance(text, str):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError as exc:
                        raise HiveValidationError(
                            f"messages[{i}].content[{j}].text: is not valid UTF-8 ({exc.reason} at {exc.start}); "
                            "remove lone surrogates before compressing",
                            index=i,
                            field=f"content[{j}].text",
                        ) from exc
    return checked


def _stub_note(slot: _Slot, label: Label, n_lines: int) -> str:
    kind = slot.info.ctype.value.replace("_", " ")
    call = f'{EXPAND_TOOL}("{slot.handle}")'
    if label is Label.STALE:
        return f"[stale {kind}, see message {slot.superseded_by}; full: {call}]"
    return f"[{kind} {_VERB[label]}, {n_lines} lines; full: {call}]"


def _stale_body(slot: _Slot) -> str:
    region = view_region(slot.info.body) if slot.info.ctype is ContentType.FILE_VIEW else None
    if region is not None:
        return f"[view of {region.path} lines {region.start}-{region.end}]"
    return ""


@lru_cache(maxsize=512)
def _index_lines(entries: tuple[tuple[Any, ...], ...], task: str, cap: int) -> tuple[str, ...]:
    """The identifier-index line of each replaced message (see ``index_identifiers``).

    ``entries`` has one item per message: ``(text,)`` for a kept message, else
    ``(body, focus lines, original, bare)``. A pure function of them, cached, so
    a list sent again costs one lookup.
    """
    visible: set[str] = set()
    for entry in entries:
        if len(entry) == 1:
            visible.update(_identifier_set(entry[0]))
            continue
        if entry[0]:
            visible.update(_identifier_set(entry[0]))
        for line in entry[1]:
            visible.update(_identifier_set(line))
    out: list[str] = []
    for entry in entries:
        if len(entry) == 1:
            continue
        if entry[3] or cap == 0:
            out.append("")
            continue
        ids, rank, position = _index_meta(entry[2], task)
        missing_set = ids - visible
        if not missing_set:
            out.append("")
            continue
        chosen = heapq.nsmallest(cap, missing_set, key=rank.__getitem__) if len(missing_set) > cap else missing_set
        missing = sorted(chosen, key=position.__getitem__)
        visible.update(missing)
        out.append("identifiers: " + " ".join(missing))
    return tuple(out)


class _Compressor:
    def __init__(
        self,
        messages: list[Message],
        *,
        cfg: CompressionConfig,
        model: str,
        store: ArtifactStore,
        budget: int | None,
        stored: Sequence[str] | None = None,
        extra_costs: Sequence[int] | None = None,
    ) -> None:
        self.messages = messages
        self.cfg = cfg
        self.model = model
        self.store = store
        self.budget = budget
        self.escalate_failures = 0
        self.original_costs: list[int] = []
        self.extra_costs = extra_costs
        self.slots: list[_Slot] = []
        after_action = False
        tools = output_tool_names(messages) if any(m.get("role") in ("tool", "function") for m in messages) else None
        for i, msg in enumerate(messages):
            content = msg.get("content")
            is_text = content is None or isinstance(content, str)
            text = message_text(msg) if is_text else ""
            role = str(msg.get("role"))
            tool = tools[i] if tools is not None else ""
            has_calls = bool(msg.get("tool_calls") or msg.get("function_call"))
            info = _info(role, text, has_calls, is_text, after_action and role == "user", tool)
            after_action = role == "assistant" and info.ctype is ContentType.TOOL_CALL and not has_calls
            original = stored[i] if stored is not None else content if isinstance(content, str) else ""
            self.slots.append(_Slot(index=i, message=msg, info=info, stored=original))

    # -- labelling -----------------------------------------------------------------

    def _protect(self) -> None:
        slots = self.slots
        last_user = next((s.index for s in reversed(slots) if s.message.get("role") == "user"), None)
        last_assistant = next((s.index for s in reversed(slots) if s.message.get("role") == "assistant"), None)
        for s in slots:
            role = s.message.get("role")
            content = s.message.get("content")
            s.protected = (
                s.info.ctype in (ContentType.SYSTEM, ContentType.USER_INSTRUCTION)
                or s.index in (last_user, last_assistant, len(slots) - 1)
                or not (content is None or isinstance(content, str))
                or role not in ("user", "assistant", "tool", "function")
            )

    def _focus_identifiers(self) -> tuple[str, ...]:
        latest = next((s for s in reversed(self.slots) if s.message.get("role") == "assistant"), None)
        if latest is None:
            return ()
        return tuple(i for i in extract_identifiers(latest.info.body) if len(i) >= _MIN_FOCUS_IDENTIFIER)

    def label(self) -> None:
        self._protect()
        slots = self.slots
        outputs = [s.info.is_output for s in slots]
        actions = producing_actions(self.messages, outputs)
        stale = find_stale(
            [s.info.body if s.info.is_output else None for s in slots],
            [s.info.ctype if s.info.is_output else None for s in slots],
            actions,
            similarity=self.cfg.stale_similarity,
        )
        focus = self._focus_identifiers()
        self._label_assistant_turns()
        age = 0
        for s in reversed(slots):
            if not s.info.is_output:
                continue
            recent = age < self.cfg.keep_recent_turns
            age += 1
            if s.protected:
                if s.info.noisy:  # escape codes and redraws carry nothing a model can read
                    s.label, s.body = Label.COMPACT, s.info.body
                continue
            if s.info.noisy or (s.info.compacted is not s.info.body and s.info.compacted != s.info.body):
                s.label, s.body = Label.COMPACT, s.info.compacted
            if s.info.elided:
                self._replace(s, Label.DISTILL, focus, s.info.compacted)  # lines cut: the original goes by handle
            if s.index in stale:
                s.superseded_by = stale[s.index]
                self._replace(s, Label.STALE, focus)
                continue
            size = _measure(s.info.compacted)
            if recent and size <= self.cfg.recent_max_chars:
                continue
            if size < self.cfg.distill_min_chars:
                continue
            if self._summarizer_applies(s):
                self._escalate(s, focus)  # on failure the original stays (compacted only)
                continue
            drop_after = self.cfg.drop_after_turns
            if drop_after is not None and age > drop_after:
                self._replace(s, Label.DROP, focus)  # long ago: the identifier index and handle are enough
                continue
            self._shrink(s, focus)

    def _label_assistant_turns(self) -> None:
        """Older assistant turns keep their first sentence and their action, long arguments trimmed."""
        age = 0
        for s in reversed(self.slots):
            if s.message.get("role") != "assistant":
                continue
            recent = age < self.cfg.keep_recent_turns
            age += 1
            content = s.message.get("content")
            if s.protected or recent or not isinstance(content, str) or len(content) < _MIN_TURN_CHARS:
                continue
            drop_after = self.cfg.drop_after_turns
            if drop_after is not None and age > drop_after and s.info.ctype is ContentType.TOOL_CALL:
                action = _action_only(content)
                if action:  # long ago: what was done is enough; the reasoning's names go to the index
                    self._replace(s, Label.DISTILL, (), action)
                    continue
            distilled = distill(s.info.ctype, content)
            if distilled is not None:
                self._replace(s, Label.DISTILL, (), distilled)

    def _shrink(self, s: _Slot, focus: tuple[str, ...]) -> None:
        """DISTILL ``s``; DROP it when no distilled form is shorter."""
        distilled = distill(s.info.ctype, s.info.compacted)
        if distilled is not None:
            self._replace(s, Label.DISTILL, focus, distilled)
        elif s.info.elided:
            self._replace(s, Label.DISTILL, focus, s.info.compacted)  # already its short form
        else:
            self._replace(s, Label.DROP, focus)

    def _summarizer_applies(self, s: _Slot) -> bool:
        return (
            self.cfg.summarizer_model is not None
            and s.info.ctype in (ContentType.COMMAND_OUTPUT, ContentType.OTHER)
            and len(s.info.compacted) >= self.cfg.escalate_min_chars
        )

    def _escalate(self, s: _Slot, focus: tuple[str, ...]) -> bool:
        from hive_middleware.compression.summarizer import summarize_cached

        assert self.cfg.summarizer_model is not None
        summary = summarize_cached(
            s.info.compacted,
            s.info.ctype.value,
            self.cfg.summarizer_model,
            self.cfg.summarizer_max_tokens,
            self.cfg.summarizer_timeout_s,
        )
        if summary is None:
            self.escalate_failures += 1
            return False
        self._replace(s, Label.ESCALATE, focus, summary)
        return True

    def _replace(self, s: _Slot, label: Label, focus: tuple[str, ...], body: str | None = None) -> None:
        if s.handle is None:
            s.handle = _handle(s.stored)
        s.label = label
        if label is Label.STALE:
            body = _stale_body(s)
        elif body is None:
            body = ""
        s.body = body
        s.note = _stub_note(s, label, _line_count(s.info.body))
        s.focus = self._focus_lines(s, focus, body) if focus else ()

    def _focus_lines(self, s: _Slot, focus: tuple[str, ...], body: str) -> tuple[str, ...]:
        """Lines of the original that mention what the latest action refers to."""
        text = s.info.compacted
        index = _line_index(text)
        hits = sorted({index[f] for f in focus if f in index})
        if not hits:
            return ()
        lines = _split_lines(text)
        out: list[str] = []
        for n in hits:
            line = lines[n].rstrip()
            if line and line not in body:
                out.append(line[:_FOCUS_LINE_CHARS])
            if len(out) >= _MAX_FOCUS_LINES:
                break
        return tuple(out)

    # -- identifier index ---------------------------------------------------------

    def index_identifiers(self) -> None:
        """List, in each replaced message, its identifiers visible nowhere else.

        At most ``max_index_identifiers`` per message; when there are more, those
        whose distinctive parts the task mentions come first (an agent reuses what
        it is working on), then the earliest.
        """
        replaced = [s for s in self.slots if s.label is not Label.CORE and s.label is not Label.COMPACT]
        entries = tuple(
            (s.info.body if s.body is None else s.body,)
            if s.label is Label.CORE or s.label is Label.COMPACT
            else (s.body or "", s.focus, s.info.compacted, s.bare)
            for s in self.slots
        )
        task = next((s.info.body for s in self.slots if s.info.ctype is _INSTRUCTION), "")
        lines = _index_lines(entries, task, self.cfg.max_index_identifiers)
        for s, line in zip(replaced, lines, strict=True):
            s.index_line = line
            if self._replaced_size(s) >= _MIN_SAVING * _measure(s.info.body):
                self._restore(s)  # the stub would not be shorter: keep the original (it shows everything)


    def _replaced_size(self, s: _Slot) -> int:
        return len(s.body or "") + len(s.index_line) + len(s.note) + sum(len(f) + 1 for f in s.focus)

    def _restore(self, s: _Slot) -> None:
        s.index_line, s.focus, s.superseded_by = "", (), None
        if s.info.elided:  # the compacted form lost its long lines: it stays a DISTILL with its handle
            s.label, s.body = Label.DISTILL, s.info.compacted
            s.note = _stub_note(s, Label.DISTILL, _line_count(s.info.body))
            return
        compacted = s.info.compacted if s.info.is_output else s.info.body
        s.label = Label.COMPACT if s.info.is_output and (s.info.noisy or compacted != s.info.body) else Label.CORE
        s.body = compacted if s.label is Label.COMPACT else None
        s.note = ""

    # -- output --------------------------------------------------------------------

    def render(self, s: _Slot) -> Message:
        out: dict[str, Any] = dict(s.message)
        if s.message.get("tool_calls"):
            out["tool_calls"] = [
                {**c, "function": dict(c["function"])} if isinstance(c.get("function"), Mapping) else dict(c)
                for c in s.message["tool_calls"]
            ]
        if s.label is Label.CORE or s.body is None:
            return out  # type: ignore[return-value]
        if s.label is Label.COMPACT:
            out["content"] = s.info.prefix + s.body + s.info.footer
            return out  # type: ignore[return-value]
        parts = [s.body] if s.body else []
        if s.focus:
            parts.append("lines mentioning the latest action's targets:\n" + "\n".join(s.focus))
        if s.index_line:
            parts.append(s.index_line)
        parts.append(s.note)
        out["content"] = s.info.prefix + "\n".join(parts) + s.info.footer
        return out  # type: ignore[return-value]

    def _price(self, i: int, message: Message) -> int:
        cost = message_tokens(message, self.model)
        return cost + self.extra_costs[i] if self.extra_costs is not None else cost

    def _costs(self, rendered: list[Message]) -> list[int]:
        # A message kept verbatim costs what its original costs: price each content once.
        self.original_costs = [self._price(s.index, s.message) for s in self.slots]  # type: ignore[arg-type]
        return [
            before if s.label is Label.CORE else self._price(s.index, m)
            for s, m, before in zip(self.slots, rendered, self.original_costs, strict=True)
        ]

    # -- budget --------------------------------------------------------------------

    def fit_budget(self, rendered: list[Message], costs: list[int]) -> tuple[list[Message], list[int]]:
        """Lower forms, lowest value and oldest first, until the list fits the budget."""
        assert self.budget is not None
        total = list_tokens(costs)
        heap: list[tuple[int, int, int]] = []
        for s in self.slots:
            if s.protected or s.info.ctype in (ContentType.SYSTEM,):
                continue
            if s.label is Label.DROP:
                continue
            heap.append((_VALUE.get(s.info.ctype, 0), s.index, 0))
        heapq.heapify(heap)
        while total > self.budget and heap:
            _value, i, _ = heapq.heappop(heap)
            s = self.slots[i]
            before = costs[i]
            if s.info.is_output:
                if s.label in (Label.CORE, Label.COMPACT) and len(s.info.compacted) > 0:
                    self._shrink(s, ())
                    if not self._is_dropped(s):
                        heapq.heappush(heap, (_value, i, 1))
                else:
                    self._replace(s, Label.DROP, ())
                    s.index_line, s.focus, s.bare = "", (), True
            else:
                self._shrink_message(s)
            rendered[i] = self.render(s)
            costs[i] = self._price(i, rendered[i])
            total += costs[i] - before
        return rendered, costs

    @staticmethod
    def _is_dropped(s: _Slot) -> bool:
        return s.label is Label.DROP

    def _shrink_message(self, s: _Slot) -> None:
        """Under budget pressure: an assistant turn keeps only its action; an old instruction is dropped."""
        from hive_middleware.compression.transcript import action_of_text

        content = s.message.get("content")
        if not isinstance(content, str) or not content.strip():
            return  # nothing to shrink (a bare tool call)
        if s.message.get("role") == "assistant":
            action = "" if s.message.get("tool_calls") else action_of_text(s.info.body)
            self._replace(s, Label.DROP, (), f"[action: {action}]" if action else "")
        else:
            self._replace(s, Label.DROP, ())
        s.index_line, s.focus, s.bare = "", (), True

    def _limit_focus(self) -> None:
        """Keep each line about the latest action's targets once, newest messages first."""
        kept: set[str] = set()
        for s in reversed(self.slots):
            if not s.focus:
                continue
            fresh = tuple(line for line in s.focus if line not in kept)[: max(0, _MAX_FOCUS_TOTAL - len(kept))]
            kept.update(fresh)
            s.focus = fresh

    def run(self) -> CompressionResult:
        self.label()
        self._limit_focus()
        self.index_identifiers()
        rendered = [self.render(s) for s in self.slots]
        costs = self._costs(rendered)
        budget_met = True
        if self.budget is not None and list_tokens(costs) > self.budget:
            rendered, costs = self.fit_budget(rendered, costs)
            # Drop identifier indexes oldest first if they alone keep the list over budget.
            total = list_tokens(costs)
            for s in self.slots:
                if total <= self.budget:
                    break
                if s.index_line or s.focus:
                    s.index_line, s.focus = "", ()
                    before = costs[s.index]
                    rendered[s.index] = self.render(s)
                    costs[s.index] = self._price(s.index, rendered[s.index])
                    total += costs[s.index] - before
            budget_met = total <= self.budget
        self._store_originals()
        return self._result(rendered, costs, budget_met)

    def _store_originals(self) -> None:
        """Put the original of every replaced message into the artifact store."""
        known = self.store if isinstance(self.store, InMemoryArtifactStore) else None
        for s in self.slots:
            if s.label in (Label.CORE, Label.COMPACT) or s.handle is None:
                continue
            if known is not None and s.handle in known:
                continue  # re-sent message: its original is already stored
            self.store.put(
                s.handle,
                s.stored,
                {
                    "turn": s.index,
                    "role": str(s.message.get("role")),
                    "content_type": s.info.ctype.value,
                    "label": s.label.value,
                },
            )

    def _result(self, rendered: list[Message], costs: list[int], budget_met: bool) -> CompressionResult:
        original_costs = self.original_costs
        labels: list[MessageLabel] = []
        by_type: dict[str, dict[str, int]] = {}
        by_label: dict[str, int] = {}
        handles: dict[str, int] = {}
        for s, before, after in zip(self.slots, original_costs, costs, strict=True):
            labels.append(
                MessageLabel(
                    index=s.index,
                    content_type=s.info.ctype,
                    label=s.label,
                    handle=s.handle if s.label not in (Label.CORE, Label.COMPACT) else None,
                    tokens_before=before,
                    tokens_after=after,
                    superseded_by=s.superseded_by if s.label is Label.STALE else None,
                )
            )
            # StrEnum members are their values as dict keys (and in JSON).
            t = by_type.setdefault(s.info.ctype, {"messages": 0, "tokens_before": 0, "tokens_after": 0})
            t["messages"] += 1
            t["tokens_before"] += before
            t["tokens_after"] += after
            by_label[s.label] = by_label.get(s.label, 0) + 1
            if s.handle is not None and s.label not in (Label.CORE, Label.COMPACT):
                handles.setdefault(s.handle, s.index)
        tokens_before = list_tokens(original_costs)
        tokens_after = list_tokens(costs)
        stats: dict[str, Any] = {
            "model": self.model,
            "messages": len(self.slots),
            "tokens_before": tokens_before,
            "tokens_after": tokens_after,
            "token_ratio": tokens_after / tokens_before if tokens_before else 1.0,
            "by_type": by_type,
            "by_label": by_label,
            "budget": self.budget,
            "budget_met": budget_met,
            "budget_impossible": not budget_met,
            "token_counts_cached": True,
            "escalate_failures": self.escalate_failures,
        }
        return CompressionResult(
            messages=rendered, labels=labels, stats=stats, handles=handles, budget_met=budget_met
        )


def compress(
    messages: Sequence[Message],
    *,
    budget: int | None = None,
    model: str | None = None,
    config: CompressionConfig | HiveConfig | None = None,
    artifacts: ArtifactStore | None = None,
) -> CompressionResult:
    """Compress an OpenAI-format message list, reversibly.

    Args:
        messages: The list to compress; it is never modified.
        budget: Largest token count wanted for the result (``None``: no budget,
            only the default policy applies).
        model: Model whose tokenizer counts tokens (default: the config's model).
        config: Compression settings (a ``CompressionConfig`` or a whole ``HiveConfig``).
        artifacts: Where originals are stored (default: the process-wide in-memory store).

    Returns:
        The compressed list with labels, stats and handles (see :class:`CompressionResult`).

    Raises:
        HiveValidationError: the input is not a valid message list (unknown role,
            malformed tool call, orphaned tool result, invalid UTF-8, a message
            over the configured maximum size) or ``budget`` is not a positive int.
    """
    cfg, max_chars, default_model = _resolve_config(config)
    checked = _check_input(messages, budget, max_chars)
    store = artifacts if artifacts is not None else default_artifact_store()
    model = model or default_model
    if is_plain(checked):
        return _Compressor(checked, cfg=cfg, model=model, store=store, budget=budget).run()
    units = explode(checked)
    virtual = cast("list[Message]", [u.message for u in units])
    engine = _Compressor(
        virtual,
        cfg=cfg,
        model=model,
        store=store,
        budget=budget,
        stored=[u.stored for u in units],
        extra_costs=_extra_costs(checked, units, model),
    )
    return _fold(checked, units, engine.run(), model, budget)


def _extra_costs(messages: Sequence[Message], units: Sequence[Unit], model: str) -> list[int]:
    """Per unit, the tokens its message's shape adds to its text (non-text parts, blocks, JSON).

    Charged to the first unit of each message so budget fitting sees the whole
    message's cost; the final stats are counted on the rebuilt messages.
    """
    extra = [0] * len(units)
    first: dict[int, int] = {}
    virtual_sum: dict[int, int] = {}
    for k, u in enumerate(units):
        if u.wrap is None and u.block is None:
            continue
        first.setdefault(u.source, k)
        virtual_sum[u.source] = virtual_sum.get(u.source, 0) + message_tokens(u.message, model)
    for source, k in first.items():
        extra[k] = message_tokens(messages[source], model) - virtual_sum[source]
    return extra


def _fold(
    messages: Sequence[Message], units: Sequence[Unit], result: CompressionResult, model: str, budget: int | None
) -> CompressionResult:
    """Put the compressed units back into the input's shapes; labels, stats and handles per input message."""
    by_source: list[list[int]] = [[] for _ in messages]
    for k, u in enumerate(units):
        by_source[u.source].append(k)
    source = [u.source for u in units]

    def relabel(lab: MessageLabel) -> MessageLabel:
        sup = source[lab.superseded_by] if lab.superseded_by is not None else None
        return replace(lab, index=source[lab.index], superseded_by=sup)

    out: list[Message] = []
    labels: list[MessageLabel] = []
    by_type: dict[str, dict[str, int]] = {}
    by_label: dict[str, int] = {}
    total_before = total_after = 0
    for i, msg in enumerate(messages):
        ks = by_source[i]
        kept = [result.labels[k].label is Label.CORE for k in ks]
        new: dict[str, Any] = dict(msg)
        if not all(kept):
            texts = [result.messages[k].get("content") for k in ks]
            new["content"] = fold_content(msg, [units[k] for k in ks], cast("list[str | None]", texts), kept)
        before = message_tokens(msg, model)
        after = before if all(kept) else message_tokens(new, model)
        parts = tuple(relabel(result.labels[k]) for k in ks)
        main = max(parts, key=lambda p: (p.label is not Label.CORE, p.tokens_before))
        handle = main.handle or next((p.handle for p in parts if p.handle), None)
        labels.append(
            replace(main, handle=handle, tokens_before=before, tokens_after=after, parts=parts if len(parts) > 1 else ())
        )
        out.append(cast("Message", new))
        t = by_type.setdefault(main.content_type, {"messages": 0, "tokens_before": 0, "tokens_after": 0})
        t["messages"] += 1
        t["tokens_before"] += before
        t["tokens_after"] += after
        by_label[main.label] = by_label.get(main.label, 0) + 1
        total_before += before
        total_after += after
    tokens_before = list_tokens([total_before])
    tokens_after = list_tokens([total_after])
    budget_met = budget is None or tokens_after <= budget
    stats = dict(result.stats)
    stats.update(
        {
            "messages": len(messages),
            "units": len(units),
            "non_text_parts": sum(u.non_text_parts for u in units),
            "unpriced_parts": sum(unpriced_parts(m) for m in messages),
            "tokens_before": tokens_before,
            "tokens_after": tokens_after,
            "token_ratio": tokens_after / tokens_before if tokens_before else 1.0,
            "by_type": by_type,
            "by_label": by_label,
            "budget_met": budget_met,
            "budget_impossible": not budget_met,
        }
    )
    handles = {h: source[k] for h, k in result.handles.items()}
    return CompressionResult(messages=out, labels=labels, stats=stats, handles=handles, budget_met=budget_met)


def clear_caches() -> None:
    """Forget every per-content result (classification, distillations, identifiers,
    token counts) so the next call pays full price (benchmarks of cold calls, tests)."""
    from hive_middleware.compression import (
        distillers,
        identifiers,
        json_output,
        shapes,
        staleness,
        token_costs,
        tool_vocab,
        transcript,
    )

    for fn in (
        _info, _measure, _action_only, _handle, _identifier_set, _index_meta, _text_ok, _index_lines, _line_count, _line_index, _indexable, _ranked_indexable, _parts,
        _text_parts, _split_lines,
        distillers.distill_assistant_turn, distillers.distill_command_output, distillers.distill_error,
        distillers.distill_file_view, distillers.distill_patch, distillers.distill_search_results,
        distillers.distill_test_output, identifiers.extract_identifiers, staleness.view_region,
        json_output.distill_json, json_output._parse, shapes.unwrap_json_output, tool_vocab.tool_kind,
        staleness._near_identical, token_costs._cached, transcript.action_of_text,
    ):
        fn.cache_clear()
