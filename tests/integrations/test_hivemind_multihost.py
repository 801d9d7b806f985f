"""Agents on two hosts share one memory: each host is a network namespace made by this test.

The shared back-ends (PostgreSQL, Redis, a Chroma server) run in the test's own
namespace and listen on the host ends of two veth pairs; one agent process runs
inside each of two namespaces and reaches them only over its veth link, as an
agent on another machine would. Each agent must hear the other's findings pushed
on their channel, and everything either acknowledged must be in the shared memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.evals.hivemind_agent import CHANNEL, AgentSpec, marker
from hive_middleware.stack import HiveStack
from hive_middleware.testing.servers import start_chroma, start_postgres, start_redis

pytestmark = pytest.mark.slow


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def hosts() -> Iterator[list[tuple[str, str, str]]]:
    """Two network namespaces, each linked to this one: ``(namespace, its address, our address)``."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("making network namespaces needs root and iproute2's 'ip'")
    tag = f"{os.getpid() % 100000}"
    made: list[tuple[str, str, str]] = []
    try:
        for i in (1, 2):
            ns, ours, theirs = f"hive{tag}h{i}", f"hv{tag}a{i}", f"hv{tag}b{i}"
            subnet = f"10.{200 + i}.{int(tag) % 250}"
            added = _ip("netns", "add", ns, check=False)
            if added.returncode != 0:
                pytest.skip(f"cannot make a network namespace here: {added.stderr.strip()}")
            made.append((ns, f"{subnet}.2", f"{subnet}.1"))
            _ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
            _ip("link", "set", theirs, "netns", ns)
            _ip("addr", "add", f"{subnet}.1/24", "dev", ours)
            _ip("link", "set", ours, "up")
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{subnet}.2/24", "dev", theirs)
            _ip("netns", "exec", ns, "ip", "link", "set", theirs, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield made
    finally:
        for i, (ns, _, _) in enumerate(made, start=1):
            _ip("netns", "del", ns, check=False)
            _ip("link", "del", f"hv{tag}a{i}", check=False)


@pytest.mark.usefixtures("server_programs")
def test_agents_on_two_hosts_share_memory_and_channels(hosts: list[tuple[str, str, str]], tmp_path: Path) -> None:
    ours = tuple(address for _, _, address in hosts)
    with start_postgres(tmp_path / "pg", listen=("127.0.0.1", *ours)) as pg, \
            start_redis(tmp_path / "redis", listen=("127.0.0.1", *ours)) as redis, \
            start_chroma(tmp_path / "chroma", host="0.0.0.0") as chroma:
        procs = []
        specs = []
        for i, (ns, _, server) in enumerate(hosts, start=1):
            spec = AgentSpec(tenant="acme", agent=f"agent-host{i}", thread=f"run-host{i}", duration_s=8.0,
                             think_s=0.2, ack_path=str(tmp_path / f"host{i}.acks.jsonl"), seed=i)
            config = {
                "data_dir": str(tmp_path / f"host{i}"), "tenant": "acme",
                "memory": {"graph": f"postgresql://hive@{server}:{pg.port}/hive",
                           "vectors": f"http://{server}:{chroma.port}", "embedder": "hashing"},
                "shared": {"redis": f"redis://{server}:{redis.port}/0"},
            }
            spec_file = tmp_path / f"host{i}.json"
            spec_file.write_text(json.dumps({"agent": spec.__dict__, "config": config,
                                             "out": str(tmp_path / f"host{i}.out.json"),
                                             "ready": str(tmp_path / f"host{i}.ready")}))
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "hive_middleware.evals.hivemind_agent",
                 str(spec_file)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
            ))
            specs.append(spec)
        outputs = [proc.communicate(timeout=240)[0].decode(errors="replace") for proc in procs]
        for proc, output in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, output[-3000:]
        tallies = [json.loads((tmp_path / f"host{i}.out.json").read_text()) for i in (1, 2)]
        for tally in tallies:
            assert tally["errors"] == {}
            assert tally["delivery_ms"], "an agent heard nothing from the other host"
            assert sum(tally["leaks"].values()) == 0

        # Seen from here: every acknowledged write of both hosts, and both agents' findings on the channel.
        stack = HiveStack(config=HiveConfig.load(
            environ={}, data_dir=str(tmp_path / "checker"), tenant="acme",
            memory={"graph": pg.url, "vectors": chroma.url, "embedder": "hashing"}, shared={"redis": redis.url}))
        try:
            acked = [json.loads(line) for spec in specs for line in Path(spec.ack_path).read_text().splitlines()]
            ids = [a["id"] for a in acked if a["op"] == "remember"]
            assert ids
            found = stack.memory.graph.get("acme", ids)
            assert set(found) == set(ids)
            assert {found[i].namespace[1] for i in ids} == {"agent-host1", "agent-host2"}
            feed = stack.channels.feed(CHANNEL, limit=1000)
            assert {event.agent for event in feed} == {"agent-host1", "agent-host2"}
            assert all(marker("acme") in event.content for event in feed)
            alive = {info.agent for info in stack.agents.list()}
            assert {"agent-host1", "agent-host2"} <= alive
        finally:
            stack.close()
