"""Random remember/supersede/forget sequences against a reference model, with as_of checks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.store import MemoryStore

KEYS = st.sampled_from(["a", "b", "c"])
TEXT = st.text(alphabet="abcdefgh ", min_size=1, max_size=12).filter(lambda t: t.strip() != "")


class MemoryModel(RuleBasedStateMachine):
    """Reference model: key -> list of contents; ``current`` is the live one or None."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.graph = SQLiteGraphStore(self.dir)
        # A wall clock frozen in the past: ordering must come from the HLC alone.
        self.store = MemoryStore(self.graph, clock=HybridClock(wall_ms=lambda: 1_000), namespace=("t",))
        self.current: dict[str, str | None] = {}
        self.versions: dict[str, list[str]] = {}
        self.snapshots: list[tuple[int, dict[str, str | None]]] = []
        self.counter = 0

    def _unique(self, text: str) -> str:
        # A distinct number per write: conflict resolution would (rightly) turn a
        # repeated statement into a confirmation instead of a new version.
        self.counter += 1
        return f"{text} {self.counter}"

    def _snap(self) -> None:
        self.snapshots.append((self.store.clock.last, dict(self.current)))

    @rule(key=KEYS, text=TEXT)
    def remember(self, key: str, text: str) -> None:
        text = self._unique(text)
        self.store.remember(text, key=key)
        self.current[key] = text
        self.versions.setdefault(key, []).append(text)
        self._snap()

    @rule(key=KEYS, text=TEXT)
    def supersede(self, key: str, text: str) -> None:
        text = self._unique(text)
        if self.current.get(key) is None:
            with pytest.raises(HiveNotFoundError):
                self.store.supersede(key, text)
            return
        self.store.supersede(key, text)
        self.current[key] = text
        self.versions[key].append(text)
        self._snap()

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        if self.current.get(key) is None:
            with pytest.raises(HiveNotFoundError):
                self.store.forget(key, "test")
            return
        self.store.forget(key, "test")
        self.current[key] = None
        self._snap()

    @precondition(lambda self: bool(self.snapshots))
    @rule(index=st.integers(min_value=0, max_value=10_000))
    def as_of_matches_the_past(self, index: int) -> None:
        stamp, then = self.snapshots[index % len(self.snapshots)]
        for key in ("a", "b", "c"):
            got = self.store.recall(key, as_of=stamp)
            assert (got.content if got else None) == then.get(key)

    @invariant()
    def recall_matches_current(self) -> None:
        for key in ("a", "b", "c"):
            got = self.store.recall(key)
            assert (got.content if got else None) == self.current.get(key)

    @invariant()
    def history_keeps_every_version(self) -> None:
        for key, contents in self.versions.items():
            history = self.store.history(key)
            assert [v.record.content for v in history] == contents
            live = [v for v in history if v.record.expired_at is None]
            assert len(live) == (1 if self.current.get(key) is not None else 0)
            stamps = [v.record.recorded_at for v in history]
            assert stamps == sorted(stamps)

    def teardown(self) -> None:
        self.store.close()
        self.graph.close()
        shutil.rmtree(self.dir, ignore_errors=True)


MemoryModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_memory_matches_reference_model = MemoryModel.TestCase
