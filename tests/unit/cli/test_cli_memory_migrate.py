"""`hive memory migrate`: an embedded store copied to other back-ends answers as it did."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app
from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveConfigError, HiveNotFoundError, HiveValidationError
from hive_middleware.memory.migrate import migrate_memory
from hive_middleware.memory.store import MemoryStore
from hive_middleware.stack import HiveStack
from hive_middleware.types import EdgeKind, MemoryKind

runner = CliRunner()
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NS = ("acme", "builder", "run-1")


def _config(data_dir: Path, **memory: Any) -> HiveConfig:
    return HiveConfig.load(data_dir=str(data_dir), tenant="acme", memory={"embedder": "hashing", **memory})


def _build_source(data_dir: Path) -> dict[str, Any]:
    """A store with versions, supersede chains, causes, links, metadata, confidence, artifacts, two tenants."""
    store = MemoryStore.open(config=_config(data_dir), namespace=NS)
    try:
        cause = store.remember("The nightly build failed on the arm64 runner.", valid_from=T0, tags=("ci",))
        first = store.remember(
            "The release branch is frozen until the arm64 build passes.",
            key="release-status",
            valid_from=T0 + timedelta(hours=1),
            caused_by=[cause.id],
            metadata={"author": "dana", "ticket": 42},
            confidence=0.8,
        )
        store.supersede(
            "release-status",
            "The release branch is open again; the arm64 runner image was rebuilt.",
            valid_from=T0 + timedelta(days=1),
            reason="runner fixed",
        )
        store.remember("Use the staging cluster for load tests.", key="load-tests", kind=MemoryKind.PROCEDURAL)
        store.forget("load-tests", "staging cluster retired")
        related = store.remember("Grafana dashboards live in the observability repository.", related_to=[cause.id])
        artifact = store.remember(
            "pytest output: 3 failed, 120 passed in 41.2s", kind=MemoryKind.ARTIFACT, key="artifact-1"
        )
        store.link(related.id, EdgeKind.RELATED_TO, artifact.id)
        store.remember("Globex ships on Thursdays.", namespace=("globex", "ops", "t"), key="ship-day")
        assert store.wait_indexed(30)
        return {"cause": cause.id, "first": first.id, "stamp": first.recorded_at}
    finally:
        store.close()


QUERIES = ("release branch arm64", "load tests staging", "grafana dashboards", "pytest failed")


def _answers(memory: MemoryStore, facts: dict[str, Any]) -> dict[str, Any]:
    """What a user asks of memory: search (now and as of then), why, history, recall, neighbours."""

    def hits(query: str, **kw: Any) -> list[tuple[str, tuple[str, ...]]]:
        return [(h.record.id, h.signals) for h in memory.search(query, k=5, namespace=("acme",), **kw)]

    history = memory.history("release-status", namespace=NS)
    forgotten = memory.history("load-tests", namespace=NS)
    current = memory.recall("release-status", namespace=NS)
    return {
        "search": {q: hits(q) for q in QUERIES},
        "as_of_stamp": {q: hits(q, as_of=facts["stamp"]) for q in QUERIES},
        "as_of_time": hits("release branch", as_of=T0 + timedelta(hours=2)),
        "why": [(s.record, s.edge, s.depth) for s in memory.why("release-status", namespace=NS)],
        "history": [(v.record, v.superseded_by, v.expired_reason) for v in history],
        "forgotten": [v.record for v in forgotten],
        "recall": current,
        "neighbours": [r.id for r in memory.neighbours(facts["cause"], depth=2, namespace=NS)],
        "globex": memory.recall("ship-day", namespace=("globex", "ops", "t")),
    }


def test_migrate_to_another_sqlite_dir_answers_the_same_and_is_idempotent(tmp_path: Path) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    facts = _build_source(source_dir)
    with MemoryStore.open(config=_config(source_dir), namespace=NS) as source:
        before = _answers(source, facts)
    assert before["why"] and len(before["history"]) == 2 and before["search"]["release branch arm64"]

    argv = ["memory", "migrate", "--to", f"sqlite://{target_dir}", "--data-dir", str(source_dir),
            "--embedder", "hashing"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "7 records, 4 edges, 2 tenants" in result.output and "copied 7 records and 4 edges" in result.output
    assert "verified" in result.output

    stack = HiveStack(_config(tmp_path / "other-data-dir", graph=f"sqlite://{target_dir}"))
    try:
        memory = stack.memory
        assert memory.graph.outbox_pending() == 0  # the migration embedded everything itself
        after = _answers(memory, facts)
        for name in before:
            assert after[name] == before[name], name
        # Vector search reaches the copied records: the target index has their vectors.
        assert any("vector" in signals for _, signals in after["search"]["grafana dashboards"])
        # The copied versions keep their record times: a new write sorts after them.
        newer = stack.remember("The arm64 runner has a spare now.", key="runner-spare")
        assert newer.recorded_at > facts["stamp"]
    finally:
        stack.close()

    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert "copied 0 records and 0 edges" in again.output  # (the stack's own write may still need its vector)


def test_migrate_goes_on_after_the_source_grew(tmp_path: Path) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    facts = _build_source(source_dir)
    config = _config(source_dir).memory
    first = migrate_memory(source_dir, to=f"sqlite://{target_dir}", config=config)
    assert first.verified and first.copied_records == first.records == 7 and first.embedded == 6  # no artifact

    with MemoryStore.open(config=_config(source_dir), namespace=NS) as source:
        new = source.remember("The arm64 runner got more memory.", caused_by=[facts["cause"]])
        source.link(facts["cause"], EdgeKind.RELATED_TO, facts["first"])  # both ends were copied already
        source.use_procedure(source.remember("Rotate keys monthly.", key="rotate", kind="procedural").id)
    progress: list[tuple[str, int, int]] = []
    second = migrate_memory(
        source_dir, to=f"sqlite://{target_dir}", config=config, progress=lambda *a: progress.append(a)
    )
    assert second.verified and second.copied_records == 2 and second.copied_edges == 2
    assert [t.tenant for t in second.tenants] == ["acme", "globex"]
    acme = second.tenants[0]
    assert acme.updated == 0 and acme.target_records == acme.records == 8
    assert ("copy acme", 2, 2) in progress and progress[-1][0] == "embed"
    with MemoryStore.open(tmp_path / "elsewhere", config=_config(tmp_path, graph=f"sqlite://{target_dir}"),
                          namespace=NS) as target:  # fmt: skip
        assert target.why(new.id)[0].record.id == facts["cause"]
        edges = target.graph.edges("acme", facts["cause"])
        assert any(e.kind is EdgeKind.RELATED_TO and e.dst == facts["first"] for e in edges)
        assert target.recall("rotate") is not None and target.recall("rotate").metadata["usage_count"] == 1

    # The procedure is used again in the source: its metadata changes in place, and the
    # migration brings it up to date instead of refusing or duplicating it.
    with MemoryStore.open(config=_config(source_dir), namespace=NS) as source:
        source.use_procedure("rotate")
    third = migrate_memory(source_dir, to=f"sqlite://{target_dir}", config=config, tenants=["acme"])
    assert third.verified and third.copied_records == 0 and third.tenants[0].updated == 1


def test_migrate_one_tenant_and_refuse_a_target_that_diverged(tmp_path: Path) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    _build_source(source_dir)
    config = _config(source_dir).memory
    summary = migrate_memory(source_dir, to=f"sqlite://{target_dir}", config=config, tenants=["globex"])
    assert [t.tenant for t in summary.tenants] == ["globex"] and summary.records == 1
    # The target is written to directly: its current ship-day now clashes with the source's.
    with MemoryStore.open(tmp_path / "x", config=_config(tmp_path, graph=f"sqlite://{target_dir}"),
                          namespace=("acme",)) as target:  # fmt: skip
        target.remember("Release notes go to the wiki.", key="release-status", namespace=NS)
    with pytest.raises(HiveValidationError, match="another current version in the target"):
        migrate_memory(source_dir, to=f"sqlite://{target_dir}", config=config)


def test_bad_invocations_are_clear_errors(tmp_path: Path) -> None:
    source_dir = tmp_path / "source"
    _build_source(source_dir)
    config = _config(source_dir).memory
    with pytest.raises(HiveNotFoundError, match="no embedded memory store"):
        migrate_memory(tmp_path / "empty", to=f"sqlite://{tmp_path / 't'}", config=config)
    with pytest.raises(HiveConfigError, match="postgres://"):
        migrate_memory(source_dir, to="mysql://h/db", config=config)
    with pytest.raises(HiveConfigError, match="source directory itself"):
        migrate_memory(source_dir, to=f"sqlite://{source_dir}", config=config)
    with pytest.raises(HiveConfigError, match="source's own"):
        migrate_memory(source_dir, to="sqlite", config=config)
    with pytest.raises(HiveConfigError, match="http://host:port"):
        migrate_memory(source_dir, to=f"sqlite://{tmp_path / 't'}", vectors="ftp://h", config=config)
    with pytest.raises(HiveNotFoundError, match="tenants \\['initech'\\]"):
        migrate_memory(source_dir, to=f"sqlite://{tmp_path / 't'}", config=config, tenants=["initech"])
    assert not (tmp_path / "t").exists()  # nothing was created for a refused migration
    result = runner.invoke(app, ["memory", "migrate", "--to", "redis://h", "--data-dir", str(source_dir)])
    assert result.exit_code != 0


@pytest.mark.skipif(
    importlib.util.find_spec("hive_middleware.adapters.postgres_graph") is None,
    reason="the Postgres graph adapter is not in this tree yet",
)
def test_migrate_to_postgres_and_a_chroma_server(tmp_path: Path, postgres_url: str, chroma_url: str) -> None:
    source_dir = tmp_path / "source"
    facts = _build_source(source_dir)
    with MemoryStore.open(config=_config(source_dir), namespace=NS) as source:
        before = _answers(source, facts)
    argv = ["memory", "migrate", "--to", postgres_url, "--vectors", chroma_url, "--data-dir", str(source_dir),
            "--embedder", "hashing"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "copied 7 records and 4 edges; embedded 6" in result.output
    assert runner.invoke(app, argv).output.count("copied 0 records and 0 edges") == 1

    stacks = [HiveStack(_config(tmp_path / name, graph=postgres_url, vectors=chroma_url)) for name in ("a", "b")]
    try:
        for stack in stacks:
            after = _answers(stack.memory, facts)
            for name in before:
                assert after[name] == before[name], name
            assert any("vector" in signals for _, signals in after["search"]["grafana dashboards"])
        # Two processes, one memory: what one remembers the other finds by vector and keyword.
        written = stacks[0].remember("Postgres now holds the shared memory graph.")
        assert stacks[0].memory.wait_indexed(60)
        hit = stacks[1].search("shared memory graph postgres", k=1)[0]
        assert hit.record.id == written.id and "vector" in hit.signals
    finally:
        for stack in stacks:
            stack.close()


def test_migrate_to_sqlite_and_a_chroma_server(tmp_path: Path, chroma_url: str) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    facts = _build_source(source_dir)
    with MemoryStore.open(config=_config(source_dir), namespace=NS) as source:
        before = _answers(source, facts)
    summary = migrate_memory(
        source_dir, to=f"sqlite://{target_dir}", vectors=chroma_url, config=_config(source_dir).memory
    )
    assert summary.verified and summary.embedded == 6 and summary.vectors == chroma_url
    assert not (target_dir / "chroma").exists()
    stack = HiveStack(_config(tmp_path / "data", graph=f"sqlite://{target_dir}", vectors=chroma_url))
    try:
        after = _answers(stack.memory, facts)
        for name in before:
            assert after[name] == before[name], name
    finally:
        stack.close()


def test_an_unreachable_vector_server_stops_before_the_target_is_touched(tmp_path: Path) -> None:
    from hive_middleware.errors import HiveStorageError
    from hive_middleware.testing.servers import free_port

    source_dir = tmp_path / "source"
    _build_source(source_dir)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HiveStorageError, match=f"cannot reach the Chroma server at {url}"):
        migrate_memory(
            source_dir, to=f"sqlite://{tmp_path / 'target'}", vectors=url, config=_config(source_dir).memory
        )
    assert not (tmp_path / "target").exists()
