"""Which model names a guard accepts as fallbacks.

A fallback is *known* when it is in the explicit allow-list
(``GuardConfig.allowed_models``) or in litellm's model map
(``litellm.model_cost``), looked up as given, without its provider prefix, and
as ``provider/model``. Anything else, typically a typo such as ``gpt-4o-mnii``, is
refused when the guard is built rather than discovered at the first outage, when
the fallback is needed and fails. Self-hosted or proxy models (``openai/my-model``
behind ``api_base``) are not in the map: list them in ``allowed_models``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from hive_middleware.errors import HiveConfigError
from hive_middleware.tokens import load_litellm

__all__ = ["check_fallbacks", "in_model_map"]


@lru_cache(maxsize=1024)
def in_model_map(model: str) -> bool:
    """Whether litellm's (offline) model map lists ``model``."""
    litellm = load_litellm()
    cost_map = litellm.model_cost
    if model in cost_map:
        return True
    try:
        base, provider, _, _ = litellm.get_llm_provider(model)
    except Exception:  # litellm raises a BadRequestError for names it cannot place
        return False
    return base in cost_map or f"{provider}/{base}" in cost_map


def check_fallbacks(fallbacks: Iterable[str], allowed: Iterable[str] = ()) -> tuple[str, ...]:
    """Validate fallback model names, keeping their order.

    Raises:
        HiveConfigError: a name is empty, repeated, or unknown (see the module doc).
    """
    models = tuple(fallbacks)
    allow = frozenset(allowed)
    seen: set[str] = set()
    for model in models:
        if not isinstance(model, str) or not model.strip():
            raise HiveConfigError(
                f"fallback model names must be non-empty strings, got {model!r}", key="guard.fallbacks"
            )
        if model in seen:
            raise HiveConfigError(f"fallback model {model!r} is listed twice", key="guard.fallbacks")
        seen.add(model)
        if model not in allow and not in_model_map(model):
            raise HiveConfigError(
                f"fallback model {model!r} is unknown: litellm's model map does not list it and it is not "
                "in guard.allowed_models; fix the name or add it to allowed_models",
                key="guard.fallbacks",
                model=model,
            )
    return models
