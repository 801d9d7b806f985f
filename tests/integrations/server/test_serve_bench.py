"""``hive bench serve`` at a tiny size: a real ``hive serve`` child, real keys, real requests over loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hive_middleware.cli.main import run
from hive_middleware.errors import HiveDataError
from hive_middleware.evals.serve_bench import ServeBenchSettings, run_serve_bench
from hive_middleware.evals.serve_workload import PROBES, TENANTS, leaked, marker, plan_requests, search_hits


def test_bench_serve_command_writes_its_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")
    out = tmp_path / "out"
    run(["bench", "serve", "--out", str(out), "--requests", "200", "--memories", "200",
         "--concurrency", "10", "--data-dir", str(tmp_path / "data")])  # fmt: skip
    payload = json.loads((out / "bench_serve.json").read_text())
    for key in ("requests", "errors", "latency_ms", "cross_tenant_leaks", "unauthenticated_accepted",
                "settings", "machine", "targets", "probes", "writes_acknowledged"):  # fmt: skip
        assert key in payload, key
    assert payload["requests"] == 200
    assert payload["errors"] == 0, payload["errors_by_status"]
    assert payload["cross_tenant_leaks"] == 0, payload["leak_examples"]
    assert payload["unauthenticated_accepted"] == 0
    assert set(payload["latency_ms"]) >= {"p50", "p95", "p99", "add", "search"}
    assert payload["latency_ms"]["add"]["p99"] > 0 and payload["latency_ms"]["search"]["p95"] > 0
    # Every probe was sent and refused with 401 (bad keys) or 403 (read-only key writing).
    assert payload["probe_requests"] > 0
    for probe in PROBES:
        answers = payload["probes"][probe]
        assert answers and set(answers) <= {"401", "403"}, (probe, answers)
    assert set(payload["probes"]["read_only_write"]) == {"403"}
    assert sum(payload["writes_acknowledged"].values()) > 0
    assert payload["settings"]["memories"] == 200 and payload["settings"]["concurrency"] == 10
    assert (out / "bench_serve.md").read_text().startswith("# hive bench serve")
    assert (out / "bench_serve.png").stat().st_size > 0
    # --data-dir keeps the data: the preloaded memories and the server's keys.
    assert (tmp_path / "data" / "server" / "keys.sqlite").exists()


def test_bench_serve_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(HiveDataError, match="not an empty directory"):
        run_serve_bench(ServeBenchSettings(requests=10, memories=0), data_dir=tmp_path)
    with pytest.raises(HiveDataError, match="--concurrency"):
        run_serve_bench(ServeBenchSettings(concurrency=0), data_dir=tmp_path / "new")


def test_plan_mixes_tenants_probes_and_other_tenant_markers() -> None:
    plan = plan_requests(1000, preloaded=50, seed=3)
    assert len(plan) == 1000
    probes = [p for p in plan if p.probe]
    assert 50 < len(probes) < 150 and {p.probe for p in probes} == set(PROBES)
    assert all(p.op == "add" for p in probes if p.probe == "read_only_write")
    searches = [p for p in plan if p.op == "search" and not p.probe]
    assert searches and {p.tenant for p in searches} == set(TENANTS)
    for s in searches:
        other = next(t for t in TENANTS if t != s.tenant)
        assert f"mk{other}p" in s.body["query"]
    # The preloaded marker a search names belongs to the other tenant (the i-th preload is TENANTS[i % 2]).
    for s in searches[:50]:
        index = int(s.body["query"].rsplit("p", 1)[1])
        assert TENANTS[index % 2] != s.tenant
    assert plan == plan_requests(1000, preloaded=50, seed=3)


def test_leak_rules() -> None:
    own = {"id": "1", "namespace": ["acme"], "content": f"note {marker('acme', 'w', 4)}"}
    assert not leaked("acme", own)
    assert leaked("acme", {**own, "namespace": ["globex"]})
    assert leaked("acme", {**own, "namespace": []})
    assert leaked("acme", {**own, "content": f"copied {marker('globex', 'p', 9)}"})
    assert search_hits({"results": [{"score": 1.0, "memory": own}]}) == [own]
    assert search_hits([own]) == [own]
    assert search_hits({"detail": "x"}) is None
    assert search_hits({"results": [1]}) is None
