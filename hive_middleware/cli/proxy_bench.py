"""``hive bench proxy``: the real LiteLLM proxy with the Hive plugin, under concurrent load.

Starts ``litellm --config integrations/config.yaml`` on 127.0.0.1 (the offline
``hive-mock`` model), drives it with the official ``openai`` async client
(``--concurrency`` agents, each running conversations of ``--turns`` turns, one
after the other, until ``--requests`` chat requests), and reads the Hive
pre-call hook's own time from each response's ``x-hive-hook-ms`` header and
what recall did from ``x-hive-recall``. Writes ``OUT/bench_proxy.json`` with
``requests``, ``errors``, ``hook_overhead_ms {p50, p95}``, ``recall`` (share of
requests per outcome), plus client latency and throughput.

In the same run, the same load goes to the proxy alone (the same config without
the Hive callback): ``baseline {requests_per_s, latency_ms}``, ``throughput_ratio``
(with Hive / without) and ``cpu_ms_per_request`` (the proxy process's CPU time
with Hive minus without, per request). The Hive run ends only when Hive's
background work is done (a drain request: memory writes committed, recall
prefetch idle, every memory embedded), and that time is part of its duration
and CPU: no work is left for after the bench.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hive_middleware.cli.app import bench_app

HOOK_MS_HEADER = "x-hive-hook-ms"
RECALL_HEADER = "x-hive-recall"
DRAIN_HEADER = "x-hive-drained"
_AREAS = ("billing", "auth", "search", "upload", "export", "session", "invoice", "report", "cache", "queue")


def _tool_output(conversation: int, turn: int) -> str:
    area = _AREAS[conversation % len(_AREAS)]
    return "\n".join(
        f"src/{area}/handler_{i}.py:{10 + i + turn}:    result = {area}_step_{i}(request, retries={turn})"
        for i in range(60)
    )


def _messages(conversation: int, turn: int) -> list[dict[str, Any]]:
    """Turn ``turn`` of agent conversation ``conversation``: the history grows by one tool round per turn."""
    area = _AREAS[conversation % len(_AREAS)]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. Use the bash tool."},
        {"role": "user", "content": f"Task {conversation}: the {area} service times out; find the cause and fix it."},
    ]
    for t in range(turn):
        call_id = f"call_{t}"
        command = f"grep -rn {area}_step_{t} src/{area}"
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]},
            {"role": "tool", "tool_call_id": call_id, "content": _tool_output(conversation, t)},
        ]
    messages.append({"role": "user", "content": f"Step {turn}: which {area} handler should change next, and why?"})
    return messages


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_path() -> Path:
    from importlib.resources import files

    # Package data of the integrations package (read as a file, nothing imported from it).
    return Path(str(files("hive_middleware.integrations").joinpath("config.yaml")))


def _baseline_config(workdir: Path) -> Path:
    """The packaged proxy config without the Hive callback: the same proxy, model and settings."""
    import yaml

    config = yaml.safe_load(_config_path().read_text())
    settings = config.get("litellm_settings") or {}
    settings.pop("callbacks", None)
    config["litellm_settings"] = settings
    path = workdir / "config_without_hive.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, its live descendants and its reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            # Fields after the command name (which may hold spaces), from field 3 (state) on.
            stats[int(entry.name)] = text[text.rindex(")") + 2:].split()
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, fields in stats.items() if int(fields[1]) == parent and p not in tree]
        tree.update(children)
        frontier += children
    total = 0
    for p in tree:
        fields = stats.get(p)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14-17
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / ticks


def _start_proxy(
    workdir: Path, port: int, key: str, env: dict[str, str], config: Path, name: str
) -> subprocess.Popen[bytes]:
    import httpx

    from hive_middleware.errors import HiveDependencyError, HiveRuntimeError

    litellm_bin = Path(sys.executable).with_name("litellm")
    log_path = workdir / f"{name}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(litellm_bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", "1"],
        cwd=workdir, env={**os.environ, **env, "LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log_path.read_text()
            if "Missing dependency" in text or "No module named" in text:
                raise HiveDependencyError(
                    "the LiteLLM proxy's dependencies are not installed; pip install 'litellm[proxy]' "
                    f"({text.strip().splitlines()[-1] if text.strip() else 'import failed'})")
            raise HiveRuntimeError(f"the proxy exited: {text[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise HiveRuntimeError(f"the proxy did not start within 120 s; see {log_path.name}")


async def _drive(
    base_url: str, key: str, requests: int, concurrency: int, turns: int, think_ms: float, offset: int,
    hive: bool = True,
) -> dict[str, Any]:
    """``concurrency`` agents, each running conversations of ``turns`` sequential turns, until ``requests``."""
    import asyncio

    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
    hook_ms: list[float] = []
    latency_ms: list[float] = []
    recall: dict[str, int] = {}
    errors: list[str] = []
    conversations = (requests + turns - 1) // turns
    next_conversation = iter(range(conversations))
    sent = 0

    async def agent() -> None:
        nonlocal sent
        for conversation in next_conversation:
            for turn in range(turns):
                if sent >= requests:
                    return
                sent += 1
                t = time.perf_counter()
                try:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="hive-mock", messages=_messages(offset + conversation, turn))  # type: ignore[arg-type]
                    raw.parse()
                    latency_ms.append((time.perf_counter() - t) * 1000)
                    if hive:
                        header = raw.headers.get(HOOK_MS_HEADER)
                        if header is None:
                            errors.append("response without the hive hook header")
                        else:
                            hook_ms.append(float(header))
                        outcome = str(raw.headers.get(RECALL_HEADER) or "missing").split(":")[0]
                        recall[outcome] = recall.get(outcome, 0) + 1
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                if think_ms:
                    await asyncio.sleep(think_ms / 1000.0)

    start = time.perf_counter()
    await asyncio.gather(*(agent() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    await client.close()
    return {"hook_ms": hook_ms, "latency_ms": latency_ms, "errors": errors, "wall_s": wall, "recall": recall,
            "conversations": conversations}


async def _drain(base_url: str, key: str) -> None:
    """Ask the proxy's Hive callback to finish its background work; returns once it has."""
    import openai

    from hive_middleware.errors import HiveRuntimeError

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=600)
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="hive-mock", messages=[{"role": "user", "content": "drain"}],
            extra_body={"metadata": {"hive_drain": True}})
    finally:
        await client.close()
    answer = raw.headers.get(DRAIN_HEADER)
    if answer != "ok":
        raise HiveRuntimeError(f"the proxy's Hive work did not drain ({DRAIN_HEADER}: {answer})")


def _measure(
    workdir: Path, name: str, config: Path, env: dict[str, str], *, hive: bool, requests: int, concurrency: int,
    warmup: int, turns: int, think_ms: float, status: Any,
) -> dict[str, Any]:
    """Start a proxy, warm it up, then time ``requests`` (and, with Hive, the drain) and its CPU time."""
    import asyncio

    key = "sk-hive-bench-" + os.urandom(8).hex()
    port = _free_port()
    with status(f"{name}: starting the LiteLLM proxy"):
        process = _start_proxy(workdir, port, key, env, config, name)
    try:
        base_url = f"http://127.0.0.1:{port}"
        with status(f"{name}: warm-up, {warmup} requests"):
            asyncio.run(_drive(base_url, key, warmup, min(concurrency, max(warmup, 1)), 1, 0.0, 10_000_000, hive))
            if hive:
                asyncio.run(_drain(base_url, key))
        cpu_before = _cpu_s(process.pid)
        with status(f"{name}: {requests} requests at concurrency {concurrency}"):
            start = time.perf_counter()
            run = asyncio.run(_drive(base_url, key, requests, concurrency, turns, think_ms, 0, hive))
            drain_start = time.perf_counter()
            if hive:
                asyncio.run(_drain(base_url, key))
            end = time.perf_counter()
        run["cpu_s"] = _cpu_s(process.pid) - cpu_before
        run["wall_s"] = end - start
        run["drain_s"] = end - drain_start
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return run


@bench_app.command("proxy")
def bench_proxy(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_proxy.json, .md and .png.")],
    requests: Annotated[int, typer.Option("--requests", min=1, help="Measured chat requests.")] = 2000,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight at once.")] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Unmeasured requests sent first.")] = 50,
    recall_k: Annotated[
        int, typer.Option("--recall-k", min=0, help="Memories the proxy injects per request (0: recall off).")
    ] = 3,
    turns: Annotated[
        int, typer.Option("--turns", min=1, help="Turns per agent conversation (each resends the grown history).")
    ] = 10,
    think_ms: Annotated[
        float,
        typer.Option("--think-ms", min=0, help="Pause between an agent's turns (its tool run), in milliseconds."),
    ] = 100.0,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", help="Memory embedder of the proxy's Hive stack ('minilm' default, 'hashing')."),
    ] = None,
) -> None:
    """Load the real LiteLLM proxy (loopback only) with the Hive plugin; writes OUT/bench_proxy.json.

    Keys: requests, errors, hook_overhead_ms {p50, p95} (Hive's pre-call hook: breaker, limiter,
    compression and memory recall, wall time inside the proxy), recall {fresh, earlier, pending, none}
    (share of requests: memories found for this request's query, found for an earlier turn of its
    conversation, none found yet, recall off), latency_ms {p50, p95} (client side), requests_per_s.
    """
    from rich.console import Console

    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table
    from hive_middleware.stats import percentile

    console = Console()
    load: dict[str, Any] = {
        "requests": requests, "concurrency": concurrency, "warmup": warmup, "turns": turns, "think_ms": think_ms}
    with tempfile.TemporaryDirectory(prefix="hive-bench-proxy-") as tmp:
        workdir = Path(tmp)
        env = {"HIVE_DATA_DIR": str(workdir / "hive"), "LITELLM_HIVE_RECALL_K": str(recall_k)}
        if embedder:
            env["HIVE_MEMORY__EMBEDDER"] = embedder
        alone = _measure(workdir, "proxy alone", _baseline_config(workdir), {}, hive=False, status=console.status,
                         **load)
        run = _measure(workdir, "proxy with Hive", _config_path(), env, hive=True, status=console.status, **load)
    hook, latency = run["hook_ms"], run["latency_ms"]
    rate = requests / run["wall_s"] if run["wall_s"] else None
    base_rate = requests / alone["wall_s"] if alone["wall_s"] else None
    payload = {
        "requests": requests,
        "errors": len(run["errors"]) + len(alone["errors"]),
        "error_examples": (run["errors"] + alone["errors"])[:5],
        "concurrency": concurrency,
        "hook_overhead_ms": {"p50": percentile(hook, 50), "p95": percentile(hook, 95)},
        "latency_ms": {"p50": percentile(latency, 50), "p95": percentile(latency, 95)},
        "requests_per_s": rate,
        "baseline": {
            "requests_per_s": base_rate,
            "latency_ms": {"p50": percentile(alone["latency_ms"], 50), "p95": percentile(alone["latency_ms"], 95)},
        },
        "throughput_ratio": rate / base_rate if rate and base_rate else None,
        "cpu_ms_per_request": (run["cpu_s"] - alone["cpu_s"]) * 1000.0 / requests,
        "proxy_cpu_ms_per_request": {"with_hive": run["cpu_s"] * 1000.0 / requests,
                                     "without": alone["cpu_s"] * 1000.0 / requests},
        "drain_s": run["drain_s"],
        "conversations": run["conversations"],
        "turns": turns,
        "think_ms": think_ms,
        "recall": {outcome: n / requests for outcome, n in sorted(run["recall"].items())},
        "embedder": embedder or "config default",
        "recall_k": recall_k,
        "model": "hive-mock (litellm mock_response, offline)",
    }
    base = payload["baseline"]
    markdown = "# hive bench proxy\n\n" + markdown_table(
        ["proxy", "requests", "errors", "hook p50 ms", "hook p95 ms", "latency p50 ms", "latency p95 ms", "req/s",
         "CPU ms/req"],
        [["with Hive", requests, len(run["errors"]), payload["hook_overhead_ms"]["p50"],
          payload["hook_overhead_ms"]["p95"], payload["latency_ms"]["p50"], payload["latency_ms"]["p95"], rate,
          payload["proxy_cpu_ms_per_request"]["with_hive"]],
         ["alone (baseline)", requests, len(alone["errors"]), "", "", base["latency_ms"]["p50"],
          base["latency_ms"]["p95"], base_rate, payload["proxy_cpu_ms_per_request"]["without"]]],
    ) + (
        f"\nthroughput ratio (with Hive / alone): {_fmt(payload['throughput_ratio'])}; "
        f"Hive's CPU per request: {payload['cpu_ms_per_request']:.3f} ms; "
        f"the Hive run includes {payload['drain_s']:.2f} s waiting for its background work to finish\n"
        "\nrecall: " + ", ".join(f"{k} {v:.3f}" for k, v in payload["recall"].items()) + "\n"
    )

    def plot(fig: Any) -> None:
        hook_ax, latency_ax, rate_ax = fig.subplots(1, 3)
        fig.set_size_inches(15, 4.5)
        if hook:
            hook_ax.hist(hook, bins=50, color="#d9a400")
        hook_ax.set_xlabel("Hive pre-call hook time per request (ms)")
        hook_ax.set_ylabel("requests")
        hook_ax.set_title(f"{requests} requests, concurrency {concurrency}")
        for values, label, color in ((alone["latency_ms"], "proxy alone", "#7f7f7f"),
                                     (latency, "proxy with Hive", "#d9a400")):
            if values:
                latency_ax.hist(values, bins=50, alpha=0.6, label=label, color=color)
        latency_ax.set_xlabel("client latency (ms)")
        latency_ax.legend()
        rate_ax.bar(["alone", "with Hive"], [base_rate or 0.0, rate or 0.0], color=["#7f7f7f", "#d9a400"])
        rate_ax.set_ylabel("requests per second")
        rate_ax.set_title(f"throughput ratio {_fmt(payload['throughput_ratio'])}")

    written = write_report(out, "bench_proxy", payload, markdown, plot)
    console.print(
        f"requests {requests}, errors {payload['errors']}, hook p50 {payload['hook_overhead_ms']['p50']:.3f} ms, "
        f"p95 {payload['hook_overhead_ms']['p95']:.3f} ms; req/s {_fmt(rate)} with Hive, {_fmt(base_rate)} alone "
        f"(ratio {_fmt(payload['throughput_ratio'])}); Hive CPU {payload['cpu_ms_per_request']:.3f} ms/request; "
        f"recall {payload['recall']}; wrote {written['json']}"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
