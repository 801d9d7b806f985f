"""Token counting through ``litellm.token_counter``, offline.

litellm is imported on first use (it costs seconds). ``LITELLM_LOCAL_MODEL_COST_MAP``
is forced on before the import so it never fetches its cost map.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from hive_middleware.config import DEFAULT_MODEL

__all__ = ["count_message_tokens", "count_text_tokens", "load_litellm"]

_counter: Callable[..., int] | None = None


def load_litellm() -> Any:
    """Import litellm with its network-touching defaults switched off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.telemetry = False
    return litellm


def _token_counter() -> Callable[..., int]:
    global _counter
    if _counter is None:
        _counter = load_litellm().token_counter
    return _counter


@lru_cache(maxsize=65_536)
def count_text_tokens(text: str, model: str = DEFAULT_MODEL) -> int:
    """Tokens of a bare text for ``model`` (cached by text and model)."""
    return int(_token_counter()(model=model, text=text))


def count_message_tokens(messages: Sequence[Mapping[str, Any]], model: str = DEFAULT_MODEL) -> int:
    """Tokens of a whole OpenAI message list for ``model``, framing included."""
    return int(_token_counter()(model=model, messages=list(messages)))
