"""Acknowledged means committed: a writer killed mid-burst loses nothing it acknowledged.

A child process writes conversation turns from four threads through the stack's
shared :class:`MemoryWriter` (group commit) and prints each key only after its
write returned. The parent kills it with SIGKILL mid-burst, three times on the
same data directory, then reopens the store and finds every printed key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.pipeline import Identity, MemoryWriter, conversation_items

WRITER = textwrap.dedent(
    """
    import sys, threading
    from hive_middleware.pipeline import Identity, conversation_items
    from hive_middleware.stack import HiveStack

    life = sys.argv[1]
    stack = HiveStack.from_config()
    writer = stack.writer
    lock = threading.Lock()

    def burst(worker):
        me = Identity("acme", f"worker-{worker}", f"life-{life}")
        for i in range(100_000):
            items = conversation_items([{"role": "user", "content": f"life {life} worker {worker} turn {i}"}], me)
            writer.write(items)
            with lock:
                print(items[0].key, flush=True)

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


def _kill_mid_burst(data_dir: Path, life: int, acks_before_kill: int) -> list[str]:
    env = {**os.environ, "HIVE_DATA_DIR": str(data_dir), "HIVE_MEMORY__EMBEDDER": "hashing",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(life)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    acked: list[str] = []
    assert child.stdout is not None
    deadline = time.monotonic() + 240
    while len(acked) < acks_before_kill and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acked.append(line.strip())
    child.send_signal(signal.SIGKILL)
    rest, err = child.communicate(timeout=60)
    # Complete lines printed before the kill were acknowledged too; a cut last line was not.
    lines = rest.split("\n")
    acked += [line for line in lines[:-1] if line]
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= acks_before_kill, err[-2000:]
    return acked


@pytest.mark.slow
def test_kill_minus_nine_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    from hive_middleware.config import HiveConfig
    from hive_middleware.memory.store import MemoryStore

    data_dir = tmp_path / "hive"
    acked: list[str] = []
    for life, count in enumerate((150, 400, 250)):
        acked += _kill_mid_burst(data_dir, life, count)
    config = HiveConfig.load(environ={"HIVE_MEMORY__EMBEDDER": "hashing"})
    store = MemoryStore.open(data_dir, config=config, start_worker=False)
    try:
        missing = []
        for key in acked:
            tenant, agent, thread = key.split("/")[:3]
            if store.recall(key, namespace=(tenant, agent, thread)) is None:
                missing.append(key)
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged turns lost, e.g. {missing[:3]}"
    finally:
        store.close()


class _GatedStore:
    """A store whose commits wait for a gate: lets a test fill the writer's queue."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.graph, self.clock = inner.graph, inner.clock

    def remember_many(self, drafts: Any) -> Any:
        self.gate.wait(10)
        return self.inner.remember_many(drafts)

    def recall(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.recall(*args, **kwargs)


def test_a_full_queue_holds_the_caller_back_and_loses_nothing(make_stack: Any) -> None:
    stack = make_stack()
    store = _GatedStore(stack.memory)
    writer = MemoryWriter(store, max_pending=2)  # type: ignore[arg-type]
    me = Identity("acme", "agent", "t")
    try:
        futures: list[Future[Any]] = []
        for i in range(3):  # one is taken by the (gated) writer thread, two wait in the queue
            futures.append(writer.submit(conversation_items([{"role": "user", "content": f"turn {i}"}], me)))
            time.sleep(0.05)
        blocked = threading.Thread(target=lambda: futures.append(writer.submit(
            conversation_items([{"role": "user", "content": "turn 3"}], me.with_thread("u")))))
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive(), "a submit to a full queue must wait (backpressure)"
        assert not any(f.done() for f in futures), "nothing is acknowledged before it is committed"
        store.gate.set()
        blocked.join(10)
        assert not blocked.is_alive()
        records = [f.result(10) for f in futures]
        assert [r[0].content for r in records] == ["turn 0", "turn 1", "turn 2", "turn 3"]
    finally:
        store.gate.set()
        writer.close()


def test_a_bad_job_fails_alone(make_stack: Any) -> None:
    stack = make_stack()
    writer = MemoryWriter(stack.memory)
    me = Identity("acme", "agent", "t")
    try:
        good = conversation_items([{"role": "user", "content": "fine"}], me)
        bad = [conversation_items([{"role": "user", "content": "x"}], me)[0]]
        object.__setattr__(bad[0], "content", "y" * (stack.memory.config.max_content_chars + 1))
        jobs = [writer.submit(good), writer.submit(bad), writer.submit(conversation_items(
            [{"role": "user", "content": "also fine"}], me.with_thread("t2")))]
        assert jobs[0].result(10)[0].content == "fine"
        assert jobs[2].result(10)[0].content == "also fine"
        with pytest.raises(Exception, match="content"):
            jobs[1].result(10)
        assert writer.stats.get("memory.write_failed") == 1
    finally:
        writer.close()
