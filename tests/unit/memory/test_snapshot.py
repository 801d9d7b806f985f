"""Snapshot files: round trip, selective reads with byte accounting, refusal of damage."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hive_middleware.errors import HiveCorruptionError, HiveDataError, HiveNotFoundError
from hive_middleware.memory.snapshot import (
    MAGIC,
    read_all,
    read_namespace,
    read_since,
    read_summary,
    write_snapshot,
)
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

NAMESPACES = [("acme", "a1"), ("acme", "a2"), ("globex", "g1")]


def _records() -> list[MemoryRecord]:
    out: list[MemoryRecord] = []
    stamp = 1_000
    for n, ns in enumerate(NAMESPACES):
        for i in range(60):
            stamp += 1
            out.append(MemoryRecord(
                id=f"{ns[1]}-{i:03d}", namespace=ns, kind=MemoryKind.EPISODIC if i % 2 else MemoryKind.SEMANTIC,
                content=f"turn {i} of {ns[1]}: " + "words " * (i % 7) + "é ✓", recorded_at=stamp + 10_000 * n,
                key=f"k{i}" if i % 3 == 0 else None, metadata={"i": i, "nested": {"ok": True}},
                confidence=0.5 + i / 200, trust=0.9, tags=("t1", "t2") if i % 5 == 0 else (),
                valid_from=datetime(2024, 1, 1 + i % 28, 12, tzinfo=UTC) if i % 4 else None,
                valid_to=datetime(2024, 3, 1, tzinfo=UTC) if i % 9 == 0 else None,
                expired_at=stamp + 5 if i % 9 == 0 else None,
            ))
    return out


def _edges(records: list[MemoryRecord]) -> list[Edge]:
    return [
        Edge(records[i].id, records[i + 1].id, EdgeKind.CAUSED_BY, records[i].recorded_at + 1, {"why": "next"})
        for i in range(0, len(records) - 1, 3)
    ]


@pytest.fixture
def snap(tmp_path: Path) -> tuple[Path, list[MemoryRecord], list[Edge]]:
    records = _records()
    edges = _edges(records)
    path = tmp_path / "mem.hsnap"
    summary = write_snapshot(path, records, edges)
    assert summary.bytes_read == path.stat().st_size
    return path, records, edges


def test_round_trip_keeps_every_field(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, records, edges = snap
    content = read_all(path)
    assert sorted(content.records, key=lambda r: r.id) == sorted(records, key=lambda r: r.id)
    assert sorted(content.edges, key=lambda e: (e.src, e.dst)) == sorted(edges, key=lambda e: (e.src, e.dst))
    assert content.bytes_read == path.stat().st_size


def test_summary_reads_the_header_only(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, records, edges = snap
    summary = read_summary(path)
    assert [e.namespace for e in summary.namespaces] == NAMESPACES
    assert summary.total_records == len(records) and summary.total_edges == len(edges)
    first = summary.namespaces[0]
    assert (first.min_recorded_at, first.max_recorded_at) == (1_001, 1_060)
    assert summary.bytes_read < path.stat().st_size
    assert summary.bytes_read < summary.file_size - sum(e.length for e in summary.namespaces) + 1


def test_read_namespace_reads_only_its_block(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, _, _ = snap
    summary = read_summary(path)
    content = read_namespace(path, ("acme", "a2"))
    assert {r.namespace for r in content.records} == {("acme", "a2")}
    assert len(content.records) == 60
    entry = next(e for e in summary.namespaces if e.namespace == ("acme", "a2"))
    assert content.bytes_read == summary.bytes_read + entry.length
    assert content.bytes_read < path.stat().st_size
    with pytest.raises(HiveNotFoundError):
        read_namespace(path, ("nope",))


def test_read_since_skips_blocks_that_end_before(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, records, _ = snap
    since = 21_030  # inside the last block only
    content = read_since(path, since)
    assert content.namespaces == (("globex", "g1"),)
    assert {r.id for r in content.records} == {r.id for r in records if r.recorded_at >= since}
    assert all(e.recorded_at >= since for e in content.edges)
    assert content.bytes_read < path.stat().st_size
    assert read_since(path, 10**12).records == ()


def test_read_all_selects_by_tenant_and_namespace(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, _, _ = snap
    assert {r.tenant for r in read_all(path, tenant="globex").records} == {"globex"}
    assert len(read_all(path, namespaces=[("acme", "a1")]).records) == 60
    with pytest.raises(HiveNotFoundError):
        read_all(path, namespaces=[("acme", "zz")])


def test_empty_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "empty.hsnap"
    write_snapshot(path, [])
    assert read_summary(path).namespaces == ()
    assert read_all(path).records == ()


def test_edge_without_its_source_record_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HiveDataError):
        write_snapshot(tmp_path / "x.hsnap", [], [Edge("a", "b", EdgeKind.RELATED_TO, 1)])
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_and_leaves_no_temp_files(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, records, _ = snap
    write_snapshot(path, records[:5])
    assert read_summary(path).total_records == 5
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_block_is_refused(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, _, _ = snap
    summary = read_summary(path)
    entry = summary.namespaces[1]
    data_start = summary.bytes_read
    _flip(path, data_start + entry.offset + entry.length // 2)
    with pytest.raises(HiveCorruptionError, match="sha256"):
        read_all(path)
    with pytest.raises(HiveCorruptionError):
        read_namespace(path, entry.namespace)
    # The other blocks are still readable on their own.
    assert len(read_namespace(path, summary.namespaces[0].namespace).records) == 60


def test_flipped_byte_in_the_header_is_refused(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, _, _ = snap
    _flip(path, 60)
    with pytest.raises(HiveCorruptionError, match="header"):
        read_summary(path)


@pytest.mark.parametrize("keep", [0, 5, 20, 45, 200, -1])
def test_truncated_file_is_refused(snap: tuple[Path, list[MemoryRecord], list[Edge]], keep: int) -> None:
    path, _, _ = snap
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(HiveCorruptionError):
        read_all(path)


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.hsnap"
    path.write_bytes(b"PK\x03\x04" + os.urandom(100))
    with pytest.raises(HiveCorruptionError, match="not a hive memory snapshot"):
        read_summary(path)


def test_unknown_version_is_refused(snap: tuple[Path, list[MemoryRecord], list[Edge]]) -> None:
    path, _, _ = snap
    data = bytearray(path.read_bytes())
    data[len(MAGIC):len(MAGIC) + 2] = (99).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(HiveCorruptionError, match="version 99"):
        read_summary(path)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(HiveNotFoundError):
        read_summary(tmp_path / "absent.hsnap")
