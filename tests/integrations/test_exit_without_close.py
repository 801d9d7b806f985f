"""A program that never closes its stack exits cleanly and commits the writes it queued."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    from hive_middleware.pipeline import Identity, conversation_items
    from hive_middleware.stack import HiveStack

    stack = HiveStack.from_config()
    for i in range(50):
        stack.remember(f"fact number {i} about the billing service", key=f"fact:{i}")
    print(len(stack.search("billing service")))
    me = Identity("default", "agent", "run-1")
    messages = [{"role": "user", "content": f"queued turn {i}"} for i in range(200)]
    stack.writer.submit(conversation_items(messages, me))  # not waited for
    # no close(), no flush(): the interpreter exits here
    """
)


def _run(tmp_path: Path, embedder: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HIVE_DATA_DIR": str(tmp_path / "hive"), "HIVE_MEMORY__EMBEDDER": embedder,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # fmt: skip
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("embedder", ["hashing", "minilm"])
def test_exit_without_close_is_clean_and_keeps_queued_writes(tmp_path: Path, embedder: str) -> None:
    done = _run(tmp_path, embedder)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
    from hive_middleware.config import HiveConfig
    from hive_middleware.memory.store import MemoryStore

    config = HiveConfig.load(environ={"HIVE_MEMORY__EMBEDDER": "hashing"})
    store = MemoryStore.open(tmp_path / "hive", config=config, namespace=("default",), start_worker=False)
    try:
        assert store.recall("fact:49") is not None
        from hive_middleware.pipeline import Identity

        me = Identity("default", "agent", "run-1")
        assert all(store.recall(me.key("turn", i), namespace=me.namespace) is not None for i in (0, 100, 199))
    finally:
        store.close()
