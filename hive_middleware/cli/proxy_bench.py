"""``hive bench proxy``: the real LiteLLM proxy with the Hive plugin, under concurrent load.

Starts ``litellm --config integrations/config.yaml`` on 127.0.0.1 (the offline
``hive-mock`` model), drives it with the official ``openai`` async client
(``--concurrency`` agents, each running conversations of ``--turns`` turns, one
after the other, until ``--requests`` chat requests), and reads the Hive
pre-call hook's own time from each response's ``x-hive-hook-ms`` header and
what recall did from ``x-hive-recall``. Writes ``OUT/bench_proxy.json`` with
``requests``, ``errors``, ``hook_overhead_ms {p50, p95}``, ``recall`` (share of
requests per outcome), plus client latency and throughput.
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


def _start_proxy(workdir: Path, port: int, key: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    import httpx

    from hive_middleware.errors import HiveDependencyError, HiveRuntimeError

    litellm_bin = Path(sys.executable).with_name("litellm")
    log = (workdir / "proxy.log").open("w")
    process = subprocess.Popen(
        [str(litellm_bin), "--config", str(_config_path()), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", "1"],
        cwd=workdir, env={**os.environ, **env, "LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (workdir / "proxy.log").read_text()
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
    raise HiveRuntimeError("the proxy did not start within 120 s; see proxy.log")


async def _drive(
    base_url: str, key: str, requests: int, concurrency: int, turns: int, think_ms: float, offset: int
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
    import asyncio

    from rich.console import Console

    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table
    from hive_middleware.stats import percentile

    console = Console()
    key = "sk-hive-bench-" + os.urandom(8).hex()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="hive-bench-proxy-") as tmp:
        workdir = Path(tmp)
        env = {"HIVE_DATA_DIR": str(workdir / "hive"), "LITELLM_HIVE_RECALL_K": str(recall_k)}
        if embedder:
            env["HIVE_MEMORY__EMBEDDER"] = embedder
        with console.status("starting the LiteLLM proxy with the Hive plugin"):
            process = _start_proxy(workdir, port, key, env)
        try:
            base_url = f"http://127.0.0.1:{port}"
            with console.status(f"warm-up: {warmup} requests"):
                asyncio.run(_drive(base_url, key, warmup, min(concurrency, max(warmup, 1)), 1, 0.0, 10_000_000))
            with console.status(f"{requests} requests at concurrency {concurrency}"):
                run = asyncio.run(_drive(base_url, key, requests, concurrency, turns, think_ms, 0))
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    hook, latency = run["hook_ms"], run["latency_ms"]
    payload = {
        "requests": requests,
        "errors": len(run["errors"]),
        "error_examples": run["errors"][:5],
        "concurrency": concurrency,
        "hook_overhead_ms": {"p50": percentile(hook, 50), "p95": percentile(hook, 95)},
        "latency_ms": {"p50": percentile(latency, 50), "p95": percentile(latency, 95)},
        "requests_per_s": requests / run["wall_s"] if run["wall_s"] else None,
        "conversations": run["conversations"],
        "turns": turns,
        "think_ms": think_ms,
        "recall": {outcome: n / requests for outcome, n in sorted(run["recall"].items())},
        "embedder": embedder or "config default",
        "recall_k": recall_k,
        "model": "hive-mock (litellm mock_response, offline)",
    }
    markdown = "# hive bench proxy\n\n" + markdown_table(
        ["requests", "errors", "hook p50 ms", "hook p95 ms", "latency p50 ms", "latency p95 ms", "req/s"],
        [[requests, payload["errors"], payload["hook_overhead_ms"]["p50"], payload["hook_overhead_ms"]["p95"],
          payload["latency_ms"]["p50"], payload["latency_ms"]["p95"], payload["requests_per_s"]]],
    ) + "\nrecall: " + ", ".join(f"{k} {v:.3f}" for k, v in payload["recall"].items()) + "\n"

    def plot(fig: Any) -> None:
        ax = fig.subplots()
        if hook:
            ax.hist(hook, bins=50, color="#d9a400")
        ax.set_xlabel("Hive pre-call hook time per request (ms)")
        ax.set_ylabel("requests")
        ax.set_title(f"{requests} requests, concurrency {concurrency}")

    written = write_report(out, "bench_proxy", payload, markdown, plot)
    console.print(
        f"requests {requests}, errors {payload['errors']}, hook p50 {payload['hook_overhead_ms']['p50']:.3f} ms, "
        f"p95 {payload['hook_overhead_ms']['p95']:.3f} ms; "
        f"recall {payload['recall']}; wrote {written['json']}"
    )
