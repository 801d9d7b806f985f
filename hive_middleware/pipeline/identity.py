"""Who wrote a memory: tenant, agent and thread, and the keys built from them.

Every memory an integration writes carries ``namespace = (tenant, agent, thread)``
and a key that names all three, so two agents, two threads or two tenants never
overwrite each other. The thread is the framework's own conversation id (LangGraph
``thread_id``, the proxy's session id) or a fresh id per run (:func:`new_thread_id`);
never a constant, never a hash of content.

Recall reads a namespace prefix chosen by :data:`RecallScope`: the thread, the
agent (all its threads) or the tenant (all its agents). It never reads past the
tenant: the tenant is the first namespace element, and each tenant has its own
vector collection and keyword statistics.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import quote

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.records import check_namespace

__all__ = ["DEFAULT_RECALL_SCOPE", "RECALL_SCOPES", "Identity", "RecallScope", "check_scope", "new_thread_id"]

RecallScope = Literal["thread", "agent", "tenant"]
"""How far recall reads: this thread, every thread of this agent, or every agent of this tenant."""

RECALL_SCOPES: tuple[str, ...] = get_args(RecallScope)
DEFAULT_RECALL_SCOPE: RecallScope = "tenant"


def new_thread_id() -> str:
    """A fresh thread id for a run that has none of its own (``run-`` and 32 hex digits)."""
    return f"run-{uuid.uuid4().hex}"


def check_scope(scope: object) -> RecallScope:
    """Validate a recall scope.

    Raises:
        HiveValidationError: not one of ``thread``, ``agent``, ``tenant``.
    """
    if scope not in RECALL_SCOPES:
        raise HiveValidationError(
            f"recall_scope must be one of {', '.join(RECALL_SCOPES)}; got {scope!r}", field="recall_scope"
        )
    return scope  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Identity:
    """The tenant, agent and thread a memory is written for.

    Attributes:
        tenant: Whose data it is (the isolation boundary).
        agent: Which agent of the tenant wrote it.
        thread: Which conversation or run it belongs to.

    Raises:
        HiveTenantError: a part is empty, too long or has control characters.
    """

    tenant: str
    agent: str
    thread: str

    def __post_init__(self) -> None:
        check_namespace((self.tenant, self.agent, self.thread))

    @property
    def namespace(self) -> tuple[str, str, str]:
        """``(tenant, agent, thread)``: where this identity's memories live."""
        return (self.tenant, self.agent, self.thread)

    def key(self, kind: str, local: str | int) -> str:
        """A memory key naming tenant, agent, thread, the item's kind and its id within the thread.

        Parts are percent-encoded, so a ``/`` inside a name cannot forge another identity's key.
        """
        parts = (self.tenant, self.agent, self.thread, kind, str(local))
        return "/".join(quote(part, safe="") for part in parts)

    def recall_namespace(self, scope: RecallScope) -> tuple[str, ...]:
        """The namespace prefix recall reads for ``scope`` (never wider than the tenant)."""
        scope = check_scope(scope)
        if scope == "thread":
            return self.namespace
        if scope == "agent":
            return (self.tenant, self.agent)
        return (self.tenant,)

    def with_thread(self, thread: str) -> Identity:
        """The same tenant and agent on another thread."""
        return Identity(self.tenant, self.agent, thread)
