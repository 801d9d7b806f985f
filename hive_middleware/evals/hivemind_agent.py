"""One agent of ``hive bench hivemind``: writes, searches and listens on a channel for a fixed time.

Run as a process (``python -m hive_middleware.evals.hivemind_agent SPEC.json``)
against the shared back-ends, or as a thread beside others in one process on the
embedded default. Each step the agent

1. remembers a finding under its own identity (namespace ``(tenant, agent,
   thread)``) and logs the acknowledgement to its ack file, flushed and fsynced
   (what was acknowledged is checked afterwards: ``memories_lost``);
2. publishes it to the tenant's ``findings`` channel (logged the same way);
3. searches the tenant's memory for another area's findings;

then pauses for ``think_s``, the time its LLM would take. A subscriber thread
receives the channel's events and measures each delivery from another agent
(``received - published_at``). Anything from another tenant that reaches the
agent (a search hit, a channel event, a registry entry) is a leak. Every
tenant's content carries its tenant's marker, so a leak is seen even if a
record's tenant field were wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hive_middleware.errors import HiveError

__all__ = ["AREAS", "CHANNEL", "AgentSpec", "AgentTally", "finding", "marker", "run_agent"]

CHANNEL = "findings"
AREAS = ("billing", "auth", "search", "upload", "export", "session", "invoice", "report", "cache", "queue",
         "payments", "gateway", "scheduler", "storage", "metrics", "webhooks")
_SYMPTOMS = ("times out after 30 s", "returns HTTP 500 on retry", "leaks a file handle per request",
             "drops the last page of results", "double-charges when the client retries",
             "reads a stale config value", "deadlocks under two writers", "logs the API key in clear")
_CAUSES = ("a missing index on created_at", "an unbounded retry loop", "a race between flush and close",
           "an off-by-one in pagination", "a cache key without the tenant", "a default timeout of 0",
           "a shared mutable default argument", "a swallowed exception in the worker")


def marker(tenant: str) -> str:
    """The token every memory of ``tenant`` carries (a leak is seen in the text itself)."""
    return f"[{tenant}]"


def finding(tenant: str, author: str, step: int, rng: random.Random) -> str:
    """A realistic one-line finding of an agent."""
    area = rng.choice(AREAS)
    return (f"{marker(tenant)} {author} step {step}: the {area} service {rng.choice(_SYMPTOMS)}; "
            f"cause: {rng.choice(_CAUSES)} in src/{area}/handler_{rng.randrange(40)}.py:{rng.randrange(10, 400)}")


@dataclass(frozen=True)
class AgentSpec:
    """What one agent does.

    Attributes:
        tenant: Its tenant.
        agent: Its name (the same names are used in every tenant on purpose).
        thread: Its run id.
        duration_s: How long it works.
        think_s: Pause between steps (the time an LLM call would take).
        ack_path: Where acknowledged writes are logged (JSON lines).
        seed: Seed of its random choices.
        search_k: Results per search.
    """

    tenant: str
    agent: str
    thread: str
    duration_s: float
    think_s: float
    ack_path: str
    seed: int
    search_k: int = 10


@dataclass
class AgentTally:
    """What one agent measured."""

    steps: int = 0
    remember_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    received: int = 0
    leaks: dict[str, int] = field(default_factory=lambda: {"search": 0, "channel": 0, "registry": 0})
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, where: str, exc: BaseException) -> None:
        name = f"{where}:{type(exc).__name__}"
        self.errors[name] = self.errors.get(name, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "remember_ms": self.remember_ms, "publish_ms": self.publish_ms,
                "search_ms": self.search_ms, "delivery_ms": self.delivery_ms, "received": self.received,
                "leaks": self.leaks, "errors": self.errors}


class _AckLog:
    """Acknowledged writes, one JSON line each, on disk before the agent goes on."""

    def __init__(self, path: str) -> None:
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, entry: dict[str, Any]) -> None:
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _listen(stack: Any, spec: AgentSpec, tally: AgentTally, stop: threading.Event, ready: threading.Event) -> None:
    own = marker(spec.tenant)
    with stack.channels.subscribe(CHANNEL, wait_s=0.2) as subscription:
        ready.set()
        while not stop.is_set():
            try:
                event = subscription.get(timeout=0.2)
            except HiveError as exc:
                tally.error("subscribe", exc)
                time.sleep(0.2)
                continue
            if event is None:
                continue
            now = time.time()
            tally.received += 1
            if event.tenant != spec.tenant or own not in event.content:
                tally.leaks["channel"] += 1
            if event.agent != spec.agent:
                tally.delivery_ms.append((now - event.published_at.timestamp()) * 1000.0)


def run_agent(stack: Any, spec: AgentSpec, *, stop: threading.Event | None = None,
              on_ready: Callable[[], None] | None = None) -> AgentTally:
    """Run one agent on ``stack`` (a :class:`~hive_middleware.stack.HiveStack` of ``spec.tenant``) until its time is up."""
    tally = AgentTally()
    rng = random.Random(spec.seed)
    stop = stop or threading.Event()
    listening = threading.Event()
    listener = threading.Thread(target=_listen, args=(stack, spec, tally, stop, listening), daemon=True,
                                name=f"listen-{spec.tenant}-{spec.agent}")
    listener.start()
    listening.wait(30)
    acks = _AckLog(spec.ack_path)
    namespace = (spec.tenant, spec.agent, spec.thread)
    own = marker(spec.tenant)
    if on_ready is not None:
        on_ready()
    deadline = time.monotonic() + spec.duration_s
    try:
        with stack.agents.running(spec.agent, meta={"thread": spec.thread, "tenant": spec.tenant}):
            while time.monotonic() < deadline and not stop.is_set():
                tally.steps += 1
                content = finding(spec.tenant, spec.agent, tally.steps, rng)
                try:
                    started = time.perf_counter()
                    record = stack.memory.remember(content, namespace=namespace, metadata={"author": spec.agent})
                    tally.remember_ms.append((time.perf_counter() - started) * 1000.0)
                    acks.write({"op": "remember", "tenant": spec.tenant, "id": record.id})
                    started = time.perf_counter()
                    stack.channels.publish(CHANNEL, record, agent=spec.agent)
                    tally.publish_ms.append((time.perf_counter() - started) * 1000.0)
                    acks.write({"op": "publish", "tenant": spec.tenant, "id": record.id})
                except HiveError as exc:
                    tally.error("write", exc)
                try:
                    query = f"why does the {rng.choice(AREAS)} service fail"
                    started = time.perf_counter()
                    hits = stack.memory.search(query, k=spec.search_k, namespace=(spec.tenant,))
                    tally.search_ms.append((time.perf_counter() - started) * 1000.0)
                    tally.leaks["search"] += sum(
                        1 for hit in hits if hit.record.tenant != spec.tenant or own not in hit.record.content
                    )
                except HiveError as exc:
                    tally.error("search", exc)
                time.sleep(spec.think_s * rng.uniform(0.5, 1.5))
            try:
                agents = stack.agents.list()
                tally.leaks["registry"] += sum(1 for info in agents if info.meta.get("tenant") != spec.tenant)
            except HiveError as exc:
                tally.error("registry", exc)
    finally:
        stop.set()
        listener.join(5)
        acks.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    """Process entry: ``python -m hive_middleware.evals.hivemind_agent SPEC.json``.

    ``SPEC.json`` holds ``agent`` (the :class:`AgentSpec` fields), ``config``
    (:class:`~hive_middleware.config.HiveConfig` overrides), ``ready`` (a file
    created once the agent listens) and ``out`` (where its tally is written).
    """
    args = sys.argv[1:] if argv is None else argv
    spec_file = json.loads(Path(args[0]).read_text())
    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    spec = AgentSpec(**spec_file["agent"])
    config = HiveConfig.load(environ={}, **spec_file["config"])
    stack = HiveStack(config=config)
    try:
        stack.memory.search("warm up", k=1, namespace=(spec.tenant,))  # load the embedder before the clock runs
        tally = run_agent(stack, spec, on_ready=lambda: Path(spec_file["ready"]).touch())
    finally:
        with contextlib.suppress(HiveError):
            stack.close()
    out = Path(spec_file["out"])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(tally.to_dict()))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
