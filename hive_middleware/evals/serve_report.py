"""The Markdown summary and the latency picture of ``bench_serve.json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hive_middleware.markdown import markdown_table

__all__ = ["serve_markdown", "serve_plot"]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _backends(payload: dict[str, Any]) -> str:
    b = payload["backends"]
    vectors = b["vector_index"] if b["vectors"] is None else b["vectors"]
    return f"graph {b['graph']}, vectors {vectors}, embedder {b['embedder']}"


def serve_markdown(payload: dict[str, Any]) -> str:
    """The human summary of ``bench_serve.json``."""
    settings = payload["settings"]
    latency = payload["latency_ms"]
    rows = [
        [label, _ms(source["p50"]), _ms(source["p95"]), _ms(source["p99"])]
        for label, source in (("all", latency), ("add", latency["add"]), ("search", latency["search"]))
    ]
    probes = [
        [probe, ", ".join(f"{code}: {n}" for code, n in sorted(outcome.items())) or "-"]
        for probe, outcome in payload["probes"].items()
    ]
    machine = payload["machine"]
    lines = [
        "# hive bench serve",
        "",
        f"{payload['requests']} requests ({payload['probe_requests']} of them probes that must be refused) at "
        f"concurrency {settings['concurrency']} over loopback against `hive serve` ({_backends(payload)}) "
        f"with {payload['memories_preloaded']} memories preloaded; two tenants. "
        f"{payload['requests_per_s']} requests/s over {payload['wall_s']} s. Latency is the client's round trip "
        f"(queueing behind the requests in flight included); client and server share "
        f"{machine['cpu_count']} CPU cores ({machine['platform']}, Python {machine['python']}).",
        "",
        markdown_table(["latency ms", "p50", "p95", "p99"], rows),
        "",
        markdown_table(
            ["figure", "value"],
            [
                ["errors (authenticated non-2xx + transport)", payload["errors"]],
                ["errors by status", ", ".join(f"{c}: {n}" for c, n in payload["errors_by_status"].items()) or "-"],
                ["cross-tenant leaks", payload["cross_tenant_leaks"]],
                ["unauthenticated accepted", payload["unauthenticated_accepted"]],
                ["writes acknowledged", ", ".join(f"{t}: {n}" for t, n in payload["writes_acknowledged"].items())],
                ["preload s (writes + embedding)", payload["preload_s"]],
                ["server ready s", payload["server_ready_s"]],
            ],
        ),
        "",
        "## Probes (status: count)",
        "",
        markdown_table(["probe", "answers"], probes),
        "",
        "## Targets",
        "",
    ]
    lines += [
        f"- {name}: {'met' if ok else ('not met' if ok is False else 'not measured')}"
        for name, ok in payload["targets"].items()
    ]
    return "\n".join(lines) + "\n"


def serve_plot(payload: dict[str, Any], latency_ms: dict[str, list[float]]) -> Callable[[Any], None]:
    """Latency distribution (CDF) of adds and searches, with the targets marked."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for op, values in latency_ms.items():
            if not values:
                continue
            ordered = sorted(values)
            fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
            ax.plot(ordered, fractions, label=f"{op} (n={len(ordered)})")
        ax.axvline(20, color="tab:blue", linestyle=":", linewidth=1, label="add p99 target 20 ms")
        ax.axhline(0.99, color="tab:blue", linestyle=":", linewidth=0.6)
        ax.axvline(50, color="tab:orange", linestyle="--", linewidth=1, label="search p95 target 50 ms")
        ax.axhline(0.95, color="tab:orange", linestyle="--", linewidth=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("round-trip latency, ms (log)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(
            f"hive bench serve: {payload['requests']} requests, concurrency {payload['settings']['concurrency']}, "
            f"{payload['memories_preloaded']} memories"
        )
        ax.legend(fontsize=8, loc="lower right")

    return draw
