"""Conformance checks for :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""

from __future__ import annotations

from collections.abc import Callable

from hive_middleware.hivemind.model import AgentBeat
from hive_middleware.hivemind.ports import AgentRegistry

__all__ = ["AGENT_REGISTRY_CHECKS"]

AgentRegistryFactory = Callable[[], AgentRegistry]


def check_beat_then_list(make: AgentRegistryFactory) -> None:
    """A registered agent is listed with its status, meta and times."""
    reg = make()
    reg.beat("t", AgentBeat("a1", "idle", 100.0, {"host": "m1"}))
    (agent,) = reg.agents("t")
    assert (agent.agent, agent.status, dict(agent.meta)) == ("a1", "idle", {"host": "m1"})
    assert agent.last_seen == 100.0 and agent.first_seen == 100.0


def check_newer_beat_wins_and_keeps_meta(make: AgentRegistryFactory) -> None:
    """A newer beat without meta updates status and last_seen and keeps the meta."""
    reg = make()
    reg.beat("t", AgentBeat("a1", "idle", 100.0, {"host": "m1"}))
    reg.beat("t", AgentBeat("a1", "busy", 105.5))
    (agent,) = reg.agents("t")
    assert (agent.status, agent.last_seen, agent.first_seen, dict(agent.meta)) == ("busy", 105.5, 100.0, {"host": "m1"})
    reg.beat("t", AgentBeat("a1", "busy", 106.0, {"host": "m2"}))
    assert dict(reg.agents("t")[0].meta) == {"host": "m2"}


def check_older_beat_changes_nothing_but_first_seen(make: AgentRegistryFactory) -> None:
    """A late, older beat (a replayed queue) never rolls status or last_seen back."""
    reg = make()
    reg.beat("t", AgentBeat("a1", "busy", 200.0, {"v": 2}))
    reg.beat("t", AgentBeat("a1", "idle", 150.0, {"v": 1}))
    (agent,) = reg.agents("t")
    assert (agent.status, agent.last_seen, dict(agent.meta)) == ("busy", 200.0, {"v": 2})
    assert agent.first_seen == 150.0


def check_agents_most_recent_first(make: AgentRegistryFactory) -> None:
    """``agents`` lists the most recently seen first."""
    reg = make()
    reg.beat("t", AgentBeat("old", "idle", 10.0, {}))
    reg.beat("t", AgentBeat("new", "idle", 30.0, {}))
    reg.beat("t", AgentBeat("mid", "idle", 20.0, {}))
    assert [a.agent for a in reg.agents("t")] == ["new", "mid", "old"]


def check_tenants_are_isolated(make: AgentRegistryFactory) -> None:
    """A tenant never sees another tenant's agents, even with the same name."""
    reg = make()
    reg.beat("a", AgentBeat("same", "idle", 1.0, {"owner": "a"}))
    assert reg.agents("b") == []
    reg.beat("b", AgentBeat("same", "busy", 2.0, {"owner": "b"}))
    assert dict(reg.agents("a")[0].meta) == {"owner": "a"} and reg.agents("a")[0].status == "idle"


def check_meta_none_on_first_beat_is_empty(make: AgentRegistryFactory) -> None:
    """An agent first seen through a bare heartbeat has empty meta."""
    reg = make()
    reg.beat("t", AgentBeat("a1", "active", 5.0))
    assert dict(reg.agents("t")[0].meta) == {}


AGENT_REGISTRY_CHECKS = [
    check_beat_then_list,
    check_newer_beat_wins_and_keeps_meta,
    check_older_beat_changes_nothing_but_first_seen,
    check_agents_most_recent_first,
    check_tenants_are_isolated,
    check_meta_none_on_first_beat_is_empty,
]
