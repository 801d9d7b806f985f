"""Optional LLM extractor: facts, entities and relations from a conversation.

Off by default (``MemoryConfig.extractor_model = None``); the rule-based cues of
:mod:`~hive_middleware.memory.cues` work without it. When on, a conversation
is split into windows of at most ``max_chars`` characters and each window is one
``litellm.completion`` call asking for JSON::

    {"facts": [{"entity": "alice", "attribute": "location", "value": "berlin"}],
     "entities": ["alice", "berlin"],
     "relations": [{"source": "alice", "relation": "lives_in", "target": "berlin"}]}

Cost is bounded: one extraction makes at most ``max_calls`` calls (the budget of
one write); windows beyond the budget are not sent and are counted in
:attr:`Extraction.skipped_windows`, never silently dropped. A provider failure
raises :class:`~hive_middleware.errors.HiveModelError` (``status_code``,
``provider``, the original chained); a reply that is not a JSON object raises it
too. Items of a valid reply that lack a required field are counted in
:attr:`Extraction.rejected` and left out.

litellm is imported on first use through :func:`hive_middleware.tokens.load_litellm`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveModelError
from hive_middleware.types import message_text

__all__ = [
    "DEFAULT_EXTRACT_MAX_CHARS",
    "EXTRACTION_PROMPT",
    "ExtractedFact",
    "ExtractedRelation",
    "Extraction",
    "LLMExtractor",
]

DEFAULT_EXTRACT_MAX_CHARS = 12_000
"""Characters of conversation sent in one extraction call."""

EXTRACTION_PROMPT = (
    "Extract durable knowledge from the conversation below. Reply with one JSON object and nothing else, "
    'with three lists: "facts" (objects with "entity", "attribute", "value": short lowercase strings; one '
    'per stated fact, latest value only), "entities" (names of people, places, things), "relations" '
    '(objects with "source", "relation", "target"). Use empty lists when there is nothing.'
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    """``entity``'s ``attribute`` is ``value``."""

    entity: str
    attribute: str
    value: str

    @property
    def key(self) -> str:
        """Stable memory key of the fact's slot (same as episodic consolidation's)."""
        return f"fact:{self.entity.casefold()}:{self.attribute.casefold()}"

    @property
    def content(self) -> str:
        """The fact as one sentence."""
        return f"{self.entity}'s {self.attribute} is {self.value}"


@dataclass(frozen=True, slots=True)
class ExtractedRelation:
    """``source --relation--> target``."""

    source: str
    relation: str
    target: str


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one extraction found.

    Attributes:
        facts: Entity/attribute/value facts, in reply order, without repeats.
        entities: Entity names, without repeats.
        relations: Relations, without repeats.
        calls: Model calls made.
        skipped_windows: Windows not sent because the call budget was spent.
        rejected: Reply items left out for lacking a required field.
    """

    facts: tuple[ExtractedFact, ...] = ()
    entities: tuple[str, ...] = ()
    relations: tuple[ExtractedRelation, ...] = ()
    calls: int = 0
    skipped_windows: int = 0
    rejected: int = 0


@dataclass
class _Accumulator:
    facts: dict[ExtractedFact, None] = field(default_factory=dict)
    entities: dict[str, None] = field(default_factory=dict)
    relations: dict[ExtractedRelation, None] = field(default_factory=dict)
    rejected: int = 0

    def result(self, calls: int, skipped: int) -> Extraction:
        return Extraction(
            tuple(self.facts), tuple(self.entities), tuple(self.relations), calls, skipped, self.rejected
        )


def _strings(item: object, names: Sequence[str]) -> tuple[str, ...] | None:
    if not isinstance(item, Mapping):
        return None
    values = tuple(item.get(n) for n in names)
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) and str(v).strip() for v in values):
        return None
    return tuple(str(v).strip() for v in values)


def _parse_reply(text: str, model: str, acc: _Accumulator) -> None:
    body = _FENCE.sub("", text.strip())
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise HiveModelError(
            f"extractor model {model!r} did not reply with JSON ({exc}); reply starts {text[:80]!r}",
            model=model,
        ) from exc
    if not isinstance(parsed, dict):
        raise HiveModelError(
            f"extractor model {model!r} replied with JSON {type(parsed).__name__}, expected an object",
            model=model,
        )
    for item in parsed.get("facts") or []:
        values = _strings(item, ("entity", "attribute", "value"))
        if values is None:
            acc.rejected += 1
        else:
            acc.facts[ExtractedFact(*values)] = None
    for item in parsed.get("entities") or []:
        if isinstance(item, str) and item.strip():
            acc.entities[item.strip()] = None
        else:
            acc.rejected += 1
    for item in parsed.get("relations") or []:
        values = _strings(item, ("source", "relation", "target"))
        if values is None:
            acc.rejected += 1
        else:
            acc.relations[ExtractedRelation(*values)] = None


def _windows(conversation: str | Sequence[Mapping[str, Any]], max_chars: int) -> list[str]:
    if isinstance(conversation, str):
        lines = [conversation]
    else:
        lines = [f"{m.get('role', 'user')}: {message_text(m)}" for m in conversation]
    windows: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        # A single line longer than a window is cut, so no call exceeds max_chars.
        while len(line) > max_chars:
            if current:
                windows.append("\n".join(current))
                current, size = [], 0
            windows.append(line[:max_chars])
            line = line[max_chars:]
        if size + len(line) > max_chars and current:
            windows.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current and any(s.strip() for s in current):
        windows.append("\n".join(current))
    return windows


def _model_error(exc: Exception, model: str) -> HiveModelError:
    status = getattr(exc, "status_code", None)
    provider = getattr(exc, "llm_provider", None)
    return HiveModelError(
        f"extractor model {model!r} failed: {type(exc).__name__}: {exc}",
        status_code=status if isinstance(status, int) else None,
        provider=provider if isinstance(provider, str) else None,
        model=model,
    )


def _reply_text(response: Any, model: str) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise HiveModelError(f"extractor model {model!r} returned no message", model=model) from exc
    if not isinstance(content, str):
        raise HiveModelError(f"extractor model {model!r} returned no text content", model=model)
    return content


class LLMExtractor:
    """Extracts facts, entities and relations through litellm, within a call budget.

    Args:
        model: litellm model name.
        max_calls: Most calls one :meth:`extract` may make (the per-write budget).
        max_chars: Conversation characters per call.
        timeout_s: Timeout of one call.
        completion_kwargs: Extra keyword arguments for every call (``api_base``,
            ``temperature``, ``mock_response`` in tests...).
        completion: Replaces ``litellm.completion`` (e.g. a guarded call).
        acompletion: Replaces ``litellm.acompletion``.
    """

    def __init__(
        self,
        model: str,
        *,
        max_calls: int = 1,
        max_chars: int = DEFAULT_EXTRACT_MAX_CHARS,
        timeout_s: float = 20.0,
        completion_kwargs: Mapping[str, Any] | None = None,
        completion: Callable[..., Any] | None = None,
        acompletion: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise HiveConfigError("the extractor needs a model name (memory.extractor_model)", key="extractor_model")
        if max_calls < 1:
            raise HiveConfigError(f"extractor max_calls must be >= 1, got {max_calls}", key="extractor_max_calls")
        if max_chars < 1:
            raise HiveConfigError(f"extractor max_chars must be >= 1, got {max_chars}", key="extractor_max_chars")
        self.model = model
        self.max_calls = max_calls
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self._kwargs = dict(completion_kwargs or {})
        self._completion = completion
        self._acompletion = acompletion

    @classmethod
    def from_config(cls, config: MemoryConfig, **kwargs: Any) -> LLMExtractor | None:
        """The extractor ``config`` asks for, or ``None`` when ``extractor_model`` is unset."""
        if config.extractor_model is None:
            return None
        return cls(
            config.extractor_model,
            max_calls=config.extractor_max_calls,
            max_chars=config.extractor_max_chars,
            timeout_s=config.extractor_timeout_s,
            **kwargs,
        )

    def _request(self, window: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": EXTRACTION_PROMPT},
                {"role": "user", "content": window},
            ],
            "timeout": self.timeout_s,
            **self._kwargs,
        }

    def _plan(self, conversation: str | Sequence[Mapping[str, Any]]) -> tuple[list[str], int]:
        windows = _windows(conversation, self.max_chars)
        # The newest windows carry the latest values; spend the budget on them.
        sent = windows[-self.max_calls:] if windows else []
        return sent, len(windows) - len(sent)

    def extract(self, conversation: str | Sequence[Mapping[str, Any]]) -> Extraction:
        """Extract from ``conversation`` (a text, or OpenAI-format messages).

        Returns:
            The :class:`Extraction`; empty (``calls=0``) for an empty conversation.

        Raises:
            HiveModelError: the provider failed or replied with something other
                than a JSON object.
        """
        windows, skipped = self._plan(conversation)
        completion = self._completion or _litellm().completion
        acc = _Accumulator()
        for window in windows:
            try:
                response = completion(**self._request(window))
            except HiveModelError:
                raise
            except Exception as exc:  # a provider error of any type becomes a typed one
                raise _model_error(exc, self.model) from exc
            _parse_reply(_reply_text(response, self.model), self.model, acc)
        return acc.result(len(windows), skipped)

    async def aextract(self, conversation: str | Sequence[Mapping[str, Any]]) -> Extraction:
        """Async twin of :meth:`extract` (``litellm.acompletion``)."""
        windows, skipped = self._plan(conversation)
        acompletion = self._acompletion or _litellm().acompletion
        acc = _Accumulator()
        for window in windows:
            try:
                response = await acompletion(**self._request(window))
            except HiveModelError:
                raise
            except Exception as exc:  # a provider error of any type becomes a typed one
                raise _model_error(exc, self.model) from exc
            _parse_reply(_reply_text(response, self.model), self.model, acc)
        return acc.result(len(windows), skipped)


def _litellm() -> Any:
    from hive_middleware.tokens import load_litellm

    litellm = load_litellm()
    litellm.suppress_debug_info = True
    return litellm
