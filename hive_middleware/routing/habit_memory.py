"""Durable habits: shadow records as procedural memories, shared by a tenant's agents.

Each habit is one procedural memory (:class:`~hive_middleware.types.MemoryKind`
``procedural``) in namespace ``(tenant, agent, "habits")`` under a stable key
derived from its signature and template, so every save of a changed habit
supersedes the previous version and the store keeps the whole history (when it
graduated, when it was demoted, on what evidence: ``why()`` and ``history()``
answer). ``metadata`` holds the record (``n``, ``hits``, sources, live...), the
rule it was judged by, and ``steps``: the action it answers with.

Any process of the tenant that loads the habits (:meth:`HabitMemory.load`)
gets every agent's records; a habit still answers only for its own agent, and
only if it proves itself under the loading router's rule.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.habits import HabitBook, HabitKey, ShadowRecord
from hive_middleware.types import MemoryKind

if TYPE_CHECKING:
    from hive_middleware.memory.store import MemoryStore

__all__ = ["HABIT_LABEL", "HABIT_TYPE", "HabitMemory", "habit_key"]

HABIT_LABEL = "habits"
"""Third namespace part of habit memories: ``(tenant, agent, "habits")``."""
HABIT_TYPE = "habit"
"""``metadata["type"]`` of a habit memory."""


def habit_key(signature: str, template: str) -> str:
    """The memory key of a habit (a digest: templates may hold long commands)."""
    digest = hashlib.blake2b(f"{signature}\x00{template}".encode(), digest_size=12).hexdigest()
    return f"habit:{digest}"


class HabitMemory:
    """Save and load a :class:`HabitBook` in a memory store.

    Args:
        store: The memory store (its graph store is the durable copy).
        tenant: Whose habits; the namespace's first part.
    """

    def __init__(self, store: MemoryStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant

    def namespace(self, agent: str) -> tuple[str, str, str]:
        """Where ``agent``'s habits live."""
        return (self.tenant, agent, HABIT_LABEL)

    def _draft(self, key: HabitKey, record: ShadowRecord, book: HabitBook) -> dict[str, Any]:
        agent, signature, template = key
        state = "live" if record.live else "shadow"
        rule = book.rule
        return {
            "content": (
                f"habit of agent {agent} ({state}): in state {signature}, answer with {template}"
                f" (e.g. {record.example[:200] or template}); {record.hits} of {record.n} exact in the current"
                f" proof, {record.total_hits} of {record.total_n} overall"
            ),
            "key": habit_key(signature, template),
            "kind": MemoryKind.PROCEDURAL,
            "namespace": self.namespace(agent),
            "tags": ["habit", state],
            "confidence": record.lower_bound(rule.z),
            "metadata": {
                "type": HABIT_TYPE,
                "steps": [record.example or template],
                "agent": agent,
                "signature": signature,
                "template": template,
                "record": record.as_dict(),
                "rule": {"min_observations": rule.min_observations, "min_lower_bound": rule.min_lower_bound,
                         "z": rule.z, "min_sources": rule.min_sources},
                "provenance": "shadow-mode observations of the agent's own steps (exact-match hits)",
            },
        }

    def save(self, book: HabitBook) -> int:
        """Store every habit changed since the last save, in one transaction; returns how many.

        Raises:
            HiveStorageError: the store failed; nothing of this batch was stored (call
                :meth:`save_all` once the store is back).
        """
        changed = book.take_dirty()
        if not changed:
            return 0
        self.store.remember_many([self._draft(key, record, book) for key, record in changed])
        return len(changed)

    def save_all(self, book: HabitBook, *, graduated_only: bool = False) -> int:
        """Store every habit of ``book`` (after a failed :meth:`save`); returns how many.

        Args:
            book: The habits.
            graduated_only: Store only habits that went live at least once.
        """
        entries = [(k, r) for k, r in book.items() if r.graduations or not graduated_only]
        book.take_dirty()
        if entries:
            self.store.remember_many([self._draft(key, record, book) for key, record in entries])
        return len(entries)

    def load(self, book: HabitBook) -> int:
        """Adopt the tenant's stored habits into ``book``; returns how many.

        Only each habit's current version is read. A malformed record is
        skipped (it cannot make anything live).
        """
        latest: dict[tuple[tuple[str, ...], str], Any] = {}
        for record in self.store.graph.scan(self.tenant):
            if record.kind != MemoryKind.PROCEDURAL or record.key is None:
                continue
            if len(record.namespace) != 3 or record.namespace[2] != HABIT_LABEL:
                continue
            latest[(record.namespace, record.key)] = record
        entries: list[tuple[HabitKey, ShadowRecord]] = []
        for record in latest.values():
            meta = record.metadata
            if record.expired_at is not None or record.valid_to is not None or meta.get("type") != HABIT_TYPE:
                continue
            try:
                shadow = ShadowRecord.from_dict(meta["record"])
                key = (str(meta["agent"]), str(meta["signature"]), str(meta["template"]))
            except (KeyError, TypeError, HiveValidationError):
                continue
            if key[0] != record.namespace[1]:
                continue
            entries.append((key, shadow))
        return book.load(entries)
