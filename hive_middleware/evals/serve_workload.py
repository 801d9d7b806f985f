"""The request mix of ``hive bench serve`` and the async client that runs it over loopback.

A plan is a seeded list of requests from two tenants: writes (``POST
/v1/memories``) carrying a unique marker word of their tenant, searches (``POST
/v1/memories/search``) for marker words of the *other* tenant, and a share of
probes that must be refused: no key, a malformed key, a revoked key, and a
read-only key writing. :func:`run_plan` sends the plan with ``concurrency``
requests in flight and tallies latency per operation, errors, cross-tenant
leaks (a search hit that belongs to, or carries a marker of, another tenant) and
probes that were accepted.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "PROBES",
    "TENANTS",
    "Credentials",
    "LoadTally",
    "PlannedRequest",
    "leaked",
    "marker",
    "plan_requests",
    "run_plan",
    "search_hits",
]

TENANTS: tuple[str, str] = ("acme", "globex")
PROBES: tuple[str, ...] = ("no_key", "malformed_key", "revoked_key", "read_only_write")
MALFORMED_KEY = "not-a-hive-key"
_MARKER = re.compile(r"\bmk([a-z]+)[pw]\d+\b")
_WORDS = ("deploy", "invoice", "garden", "roadmap", "incident", "budget", "printer", "contract", "backlog", "meeting")

Progress = Callable[[int, int], None]


def marker(tenant: str, origin: str, index: int) -> str:
    """The unique marker word of a tenant's memory (``origin``: ``p`` preloaded, ``w`` written under load)."""
    return f"mk{tenant}{origin}{index}"


@dataclass(frozen=True)
class Credentials:
    """The keys the plan uses.

    Attributes:
        tenant_keys: A read-write key per tenant.
        revoked: A key of the first tenant that was revoked before the run.
        read_only: A key of the first tenant with the ``read`` scope only.
    """

    tenant_keys: dict[str, str]
    revoked: str
    read_only: str


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the plan.

    Attributes:
        op: ``add`` or ``search``.
        tenant: The tenant whose key signs it (the first tenant for probes).
        body: The JSON body.
        probe: For a request that must be refused, which kind (one of :data:`PROBES`).
    """

    op: str
    tenant: str
    body: dict[str, Any]
    probe: str | None = None


def plan_requests(
    total: int, *, preloaded: int, probe_share: float = 0.1, add_share: float = 0.5, seed: int = 7
) -> list[PlannedRequest]:
    """A seeded mix of ``total`` requests.

    Args:
        total: Requests in the plan.
        preloaded: Memories preloaded before the run, alternating tenants, the
            ``i``-th carrying ``marker(TENANTS[i % 2], "p", i)``.
        probe_share: Fraction of requests that are probes which must be refused.
        add_share: Fraction of the other requests that are writes (the rest search).
        seed: Seed of every random choice.
    """
    rng = random.Random(seed)
    written: dict[str, list[int]] = {t: [] for t in TENANTS}
    plan: list[PlannedRequest] = []
    probes = 0
    for i in range(total):
        tenant = TENANTS[i % len(TENANTS)]
        other = TENANTS[(i + 1) % len(TENANTS)]
        topic = " ".join(rng.sample(_WORDS, 2))
        if rng.random() < probe_share:
            probe = PROBES[probes % len(PROBES)]
            probes += 1
            op = "add" if probe == "read_only_write" or rng.random() < 0.5 else "search"
            body = {"content": f"probe {topic}"} if op == "add" else {"query": topic, "k": 5}
            plan.append(PlannedRequest(op, TENANTS[0], body, probe))
        elif rng.random() < add_share:
            written[tenant].append(i)
            content = f"{tenant} note on the {topic} {marker(tenant, 'w', i)}"
            plan.append(PlannedRequest("add", tenant, {"content": content, "metadata": {"bench": "serve"}}))
        else:
            query = f"{topic} {_other_marker(rng, other, preloaded, written)}"
            plan.append(PlannedRequest("search", tenant, {"query": query, "k": 10}))
    return plan


def _other_marker(rng: random.Random, other: str, preloaded: int, written: dict[str, list[int]]) -> str:
    """A marker word of ``other``: a preloaded one when there are any, else one planned earlier."""
    offset = TENANTS.index(other)
    if preloaded > offset:
        return marker(other, "p", offset + 2 * rng.randrange((preloaded - offset + 1) // 2))
    if written[other]:
        return marker(other, "w", rng.choice(written[other]))
    return marker(other, "w", 0)


@dataclass
class LoadTally:
    """What a run measured.

    Attributes:
        latency_ms: Round-trip latency of authenticated requests, by operation.
        errors_by_status: Authenticated requests that failed, by status code
            (``transport`` for connection failures and timeouts, ``bad_body`` for a
            2xx search whose body is not a result list).
        leaks: Search hits that belong to, or carry a marker of, another tenant.
        leak_examples: A few of those hits (tenant, query, hit).
        probes: Probe outcomes, by probe and status code.
        acknowledged: Ids the server acknowledged (201), by tenant.
        sent: Requests sent (answered or not).
        wall_s: Wall time of the run.
    """

    latency_ms: dict[str, list[float]] = field(default_factory=lambda: {"add": [], "search": []})
    errors_by_status: dict[str, int] = field(default_factory=dict)
    leaks: int = 0
    leak_examples: list[dict[str, Any]] = field(default_factory=list)
    probes: dict[str, dict[str, int]] = field(default_factory=lambda: {p: {} for p in PROBES})
    acknowledged: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TENANTS})
    sent: int = 0
    wall_s: float = 0.0

    @property
    def errors(self) -> int:
        """Authenticated requests that failed plus transport errors."""
        return sum(self.errors_by_status.values())

    @property
    def unauthenticated_accepted(self) -> int:
        """Probes that were answered 2xx."""
        return sum(n for outcome in self.probes.values() for code, n in outcome.items() if code.startswith("2"))


def search_hits(body: Any) -> list[dict[str, Any]] | None:
    """The memories of a search answer: ``{"results": [{"score", "memory"}]}`` (or a bare list of memories).

    Returns:
        The memories, or ``None`` when the body is neither shape.
    """
    items = body.get("results") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return None
    hits: list[dict[str, Any]] = []
    for item in items:
        hit = item.get("memory", item) if isinstance(item, dict) else None
        if not isinstance(hit, dict):
            return None
        hits.append(hit)
    return hits


def leaked(tenant: str, hit: dict[str, Any]) -> bool:
    """Whether a search hit of ``tenant`` belongs to, or carries a marker word of, another tenant."""
    namespace = hit.get("namespace") or []
    if not namespace or namespace[0] != tenant:
        return True
    return any(owner != tenant for owner in _MARKER.findall(str(hit.get("content", ""))))


def _bump(table: dict[str, int], code: str) -> None:
    table[code] = table.get(code, 0) + 1


def _headers(request: PlannedRequest, creds: Credentials) -> dict[str, str]:
    key = {
        None: creds.tenant_keys[request.tenant],
        "no_key": None,
        "malformed_key": MALFORMED_KEY,
        "revoked_key": creds.revoked,
        "read_only_write": creds.read_only,
    }[request.probe]
    return {} if key is None else {"Authorization": f"Bearer {key}"}


async def _send(client: httpx.AsyncClient, request: PlannedRequest, creds: Credentials, tally: LoadTally) -> None:
    path = "/v1/memories" if request.op == "add" else "/v1/memories/search"
    started = time.perf_counter()
    try:
        response = await client.post(path, json=request.body, headers=_headers(request, creds))
    except httpx.TransportError as exc:
        if request.probe:
            _bump(tally.probes[request.probe], "transport")
        # Any request lost in transport, a probe's too, is an error of the run.
        _bump(tally.errors_by_status, f"transport ({type(exc).__name__})")
        return
    elapsed = (time.perf_counter() - started) * 1000
    code = str(response.status_code)
    if request.probe:
        _bump(tally.probes[request.probe], code)
        return
    tally.latency_ms[request.op].append(elapsed)
    if not 200 <= response.status_code < 300:
        _bump(tally.errors_by_status, code)
        return
    if request.op == "add":
        tally.acknowledged[request.tenant].append(str(response.json().get("id")))
        return
    hits = search_hits(response.json())
    if hits is None:
        _bump(tally.errors_by_status, "bad_body")
        return
    for hit in hits:
        if leaked(request.tenant, hit):
            tally.leaks += 1
            if len(tally.leak_examples) < 5:
                tally.leak_examples.append({"tenant": request.tenant, "query": request.body["query"],
                                            "hit": {k: hit.get(k) for k in ("id", "namespace", "content")}})


async def run_plan(
    base_url: str,
    plan: Sequence[PlannedRequest],
    creds: Credentials,
    *,
    concurrency: int = 50,
    timeout_s: float = 60.0,
    progress: Progress | None = None,
) -> LoadTally:
    """Send ``plan`` to ``base_url`` with ``concurrency`` requests in flight; return the tally.

    Args:
        base_url: ``http://host:port`` of the service.
        plan: The requests, sent in order as workers free up.
        creds: The keys the plan uses.
        concurrency: Requests in flight (one connection each).
        timeout_s: Per-request timeout; a request past it counts as a transport error.
        progress: Called with (requests done, total) as the run goes.
    """
    tally = LoadTally()
    pending: Iterator[PlannedRequest] = iter(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for request in pending:  # a shared iterator: each request goes to exactly one worker
            await _send(client, request, creds, tally)
            tally.sent += 1
            if progress is not None and tally.sent % 50 == 0:
                progress(tally.sent, len(plan))

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    tally.wall_s = time.perf_counter() - started
    if progress is not None:
        progress(tally.sent, len(plan))
    return tally
