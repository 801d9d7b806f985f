"""Portable memory snapshots: one file, a header index, one checked block per namespace.

Layout (integers big-endian)::

    offset  size  field
    0       8     magic  b"HIVESNAP"
    8       2     format version (1)
    10      4     header length L
    14      32    sha256 of the header
    46      L     header: UTF-8 JSON index (see below)
    46+L    ...   blocks, one per namespace, in header order

The header lists, per namespace: ``offset`` (from the end of the header),
``length``, ``records``, ``edges``, ``min_recorded_at``/``max_recorded_at`` (HLC)
and ``sha256`` of the block. A block is zlib-compressed JSON lines, one record
(``{"t": "r", ...}``) or edge (``{"t": "e", ...}``) a line; an edge lives in
its source record's namespace block.

Reads are selective and report the bytes they really read from disk:
:func:`read_summary` reads the header only, :func:`read_namespace` one block,
:func:`read_since` only the blocks whose recorded range reaches the given HLC.
Every block read is sha256-checked; anything wrong — bad magic, unknown version,
a checksum mismatch, a truncated file, bytes after the last block, unparsable
content — raises
:class:`~hive_middleware.errors.HiveCorruptionError` naming the file and the
part. :func:`read_all` checks every requested block before returning any, so a
restore applies all or nothing. :func:`write_snapshot` is atomic: temp file,
fsync, rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import struct
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from hive_middleware.errors import HiveCorruptionError, HiveDataError, HiveNotFoundError
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "NamespaceEntry",
    "SnapshotContent",
    "SnapshotSummary",
    "read_all",
    "read_namespace",
    "read_since",
    "read_summary",
    "write_snapshot",
]

MAGIC = b"HIVESNAP"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct(">8sHI32s")
_COMPRESS_LEVEL = 6


@dataclass(frozen=True, slots=True)
class NamespaceEntry:
    """One namespace block as the header index describes it."""

    namespace: tuple[str, ...]
    offset: int
    length: int
    records: int
    edges: int
    min_recorded_at: int | None
    max_recorded_at: int | None
    sha256: str


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    """What the header index says about a snapshot.

    Attributes:
        version: Format version.
        namespaces: The block entries, sorted by namespace.
        bytes_read: Bytes read from disk to learn this (or written, from
            :func:`write_snapshot`).
        file_size: Size of the file in bytes.
    """

    version: int
    namespaces: tuple[NamespaceEntry, ...]
    bytes_read: int
    file_size: int

    @property
    def total_records(self) -> int:
        """Records in every block."""
        return sum(e.records for e in self.namespaces)

    @property
    def total_edges(self) -> int:
        """Edges in every block."""
        return sum(e.edges for e in self.namespaces)


@dataclass(frozen=True, slots=True)
class SnapshotContent:
    """Records and edges read from a snapshot, with the bytes it took."""

    records: tuple[MemoryRecord, ...]
    edges: tuple[Edge, ...]
    bytes_read: int
    namespaces: tuple[tuple[str, ...], ...]


class _CountingReader:
    """Wraps a binary file; counts the bytes actually read; refuses short reads."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        self._fh = fh
        self._path = path
        self.bytes_read = 0

    def read_at_most(self, offset: int, size: int) -> bytes:
        self._fh.seek(offset)
        data = self._fh.read(size)
        self.bytes_read += len(data)
        return data

    def read_exact(self, offset: int, size: int, what: str) -> bytes:
        data = self.read_at_most(offset, size)
        if len(data) != size:
            raise _corrupt(self._path, f"{what} is truncated: expected {size} bytes at offset {offset}, got {len(data)}")
        return data


def _corrupt(path: Path, problem: str) -> HiveCorruptionError:
    return HiveCorruptionError(
        f"snapshot {path} is corrupted: {problem}; restore from another copy or take a new snapshot",
        path=str(path),
    )


# --- encoding ------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _record_row(r: MemoryRecord) -> dict[str, Any]:
    return {
        "t": "r", "id": r.id, "namespace": list(r.namespace), "kind": r.kind.value, "content": r.content,
        "recorded_at": r.recorded_at, "key": r.key, "metadata": dict(r.metadata), "confidence": r.confidence,
        "trust": r.trust, "tags": list(r.tags), "valid_from": _iso(r.valid_from), "valid_to": _iso(r.valid_to),
        "expired_at": r.expired_at,
    }


def _edge_row(e: Edge) -> dict[str, Any]:
    return {"t": "e", "src": e.src, "dst": e.dst, "kind": e.kind.value, "recorded_at": e.recorded_at,
            "metadata": dict(e.metadata)}


def _parse_time(raw: object) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"a time must be an ISO string, got {raw!r}")
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise ValueError(f"time {raw!r} has no timezone")
    return moment


def _optional_int(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"expected an integer, got {raw!r}")
    return raw


def _record_from(row: Mapping[str, Any]) -> MemoryRecord:
    recorded_at = row["recorded_at"]
    if isinstance(recorded_at, bool) or not isinstance(recorded_at, int):
        raise ValueError(f"recorded_at must be an integer, got {recorded_at!r}")
    return MemoryRecord(
        id=str(row["id"]),
        namespace=tuple(str(p) for p in row["namespace"]),
        kind=MemoryKind(row["kind"]),
        content=str(row["content"]),
        recorded_at=recorded_at,
        key=None if row["key"] is None else str(row["key"]),
        metadata=dict(row["metadata"]),
        confidence=float(row["confidence"]),
        trust=float(row["trust"]),
        tags=tuple(str(t) for t in row["tags"]),
        valid_from=_parse_time(row["valid_from"]),
        valid_to=_parse_time(row["valid_to"]),
        expired_at=_optional_int(row["expired_at"]),
    )


def _edge_from(row: Mapping[str, Any]) -> Edge:
    recorded_at = row["recorded_at"]
    if isinstance(recorded_at, bool) or not isinstance(recorded_at, int):
        raise ValueError(f"recorded_at must be an integer, got {recorded_at!r}")
    return Edge(str(row["src"]), str(row["dst"]), EdgeKind(row["kind"]), recorded_at, dict(row["metadata"]))


def _encode_block(records: Sequence[MemoryRecord], edges: Sequence[Edge]) -> bytes:
    lines = [json.dumps(_record_row(r), ensure_ascii=False, sort_keys=True) for r in records]
    lines += [json.dumps(_edge_row(e), ensure_ascii=False, sort_keys=True) for e in edges]
    return zlib.compress("\n".join(lines).encode("utf-8"), _COMPRESS_LEVEL)


# --- writing -------------------------------------------------------------------------


def write_snapshot(
    path: str | os.PathLike[str], records: Iterable[MemoryRecord], edges: Iterable[Edge] = ()
) -> SnapshotSummary:
    """Write ``records`` and ``edges`` to one snapshot file, atomically.

    The file is written to a temporary sibling, fsynced, then renamed over
    ``path`` (and the directory fsynced), so a crash leaves either the old file
    or the new one, never a partial one.

    Args:
        path: Destination file.
        records: Every record to keep (any namespaces; all versions).
        edges: Edges; each is stored in its source record's namespace block
            (edges whose source is not among ``records`` are refused).

    Returns:
        The summary of the written file; ``bytes_read`` holds the bytes written.

    Raises:
        HiveDataError: ``path`` is a directory, or an edge whose source record is not in ``records``.
    """
    target = Path(path)
    if target.is_dir():
        raise HiveDataError(
            f"snapshot path {target} is a directory; pass a file name such as {target / 'memory.hivesnap'}",
            path=str(target), field="path",
        )
    by_ns: dict[tuple[str, ...], list[MemoryRecord]] = defaultdict(list)
    ns_of: dict[str, tuple[str, ...]] = {}
    for record in records:
        by_ns[record.namespace].append(record)
        ns_of[record.id] = record.namespace
    edges_by_ns: dict[tuple[str, ...], list[Edge]] = defaultdict(list)
    for edge in edges:
        if edge.src not in ns_of:
            raise HiveDataError(
                f"edge {edge.src} --{edge.kind.value}--> {edge.dst}: its source record is not in the snapshot; "
                "pass the records of every edge",
                path=str(target),
            )
        edges_by_ns[ns_of[edge.src]].append(edge)

    blocks: list[bytes] = []
    index: list[dict[str, Any]] = []
    offset = 0
    for namespace in sorted(by_ns):
        recs = sorted(by_ns[namespace], key=lambda r: (r.recorded_at, r.id))
        eds = sorted(edges_by_ns[namespace], key=lambda e: (e.recorded_at, e.src, e.dst, e.kind.value))
        block = _encode_block(recs, eds)
        index.append({
            "namespace": list(namespace), "offset": offset, "length": len(block), "records": len(recs),
            "edges": len(eds), "min_recorded_at": recs[0].recorded_at, "max_recorded_at": recs[-1].recorded_at,
            "sha256": hashlib.sha256(block).hexdigest(),
        })
        blocks.append(block)
        offset += len(block)
    header = json.dumps(
        {"format": "hive-memory-snapshot", "version": FORMAT_VERSION, "namespaces": index},
        ensure_ascii=False, sort_keys=True,
    ).encode("utf-8")
    preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), hashlib.sha256(header).digest())

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(preamble)
            fh.write(header)
            for block in blocks:
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)
    size = len(preamble) + len(header) + offset
    return SnapshotSummary(FORMAT_VERSION, _entries(index, target), size, size)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- reading -------------------------------------------------------------------------


def _entries(raw: object, path: Path) -> tuple[NamespaceEntry, ...]:
    if not isinstance(raw, list):
        raise _corrupt(path, "the header index has no namespace list")
    out: list[NamespaceEntry] = []
    try:
        for item in raw:
            out.append(NamespaceEntry(
                namespace=tuple(str(p) for p in item["namespace"]),
                offset=int(item["offset"]), length=int(item["length"]), records=int(item["records"]),
                edges=int(item["edges"]), min_recorded_at=_optional_int(item["min_recorded_at"]),
                max_recorded_at=_optional_int(item["max_recorded_at"]), sha256=str(item["sha256"]),
            ))
    except (KeyError, TypeError, ValueError) as exc:
        raise _corrupt(path, f"the header index is malformed ({exc!r})") from exc
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Opened:
    summary: SnapshotSummary
    data_start: int


def _read_header(reader: _CountingReader, path: Path, file_size: int) -> _Opened:
    head = reader.read_at_most(0, _PREAMBLE.size)
    if head[: len(MAGIC)] != MAGIC:
        raise HiveCorruptionError(
            f"{path} is not a hive memory snapshot (magic {head[: len(MAGIC)]!r}, expected {MAGIC!r})",
            path=str(path),
        )
    if len(head) < _PREAMBLE.size:
        raise _corrupt(path, f"the preamble is truncated ({len(head)} of {_PREAMBLE.size} bytes)")
    _, version, header_len, digest = _PREAMBLE.unpack(head)
    if version != FORMAT_VERSION:
        raise HiveCorruptionError(
            f"snapshot {path} has format version {version}; this version of hive-middleware reads "
            f"version {FORMAT_VERSION}",
            path=str(path), version=version,
        )
    header = reader.read_exact(_PREAMBLE.size, header_len, "the header index")
    if hashlib.sha256(header).digest() != digest:
        raise _corrupt(path, "the header index fails its sha256 check")
    try:
        parsed = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, f"the header index is not JSON ({exc})") from exc
    entries = _entries(parsed.get("namespaces") if isinstance(parsed, dict) else None, path)
    data_start = _PREAMBLE.size + header_len
    data_end = data_start
    for entry in entries:
        end = data_start + entry.offset + entry.length
        if entry.offset < 0 or entry.length < 0 or end > file_size:
            raise _corrupt(
                path, f"the block of namespace {entry.namespace} ends at byte {end}, past the file's {file_size} bytes "
                "(truncated)",
            )
        data_end = max(data_end, end)
    if file_size > data_end:
        # Blocks are written back to back and the index covers all of them, so bytes
        # after the last block mean the file was appended to or spliced: not ours.
        raise _corrupt(
            path, f"{file_size - data_end} unexpected bytes follow the last block (the file ends at byte "
            f"{file_size}, its index at byte {data_end}); it was appended to or overwritten",
        )
    return _Opened(SnapshotSummary(version, entries, reader.bytes_read, file_size), data_start)


def _open(path: str | os.PathLike[str]) -> tuple[BinaryIO, Path, int]:
    source = Path(path)
    try:
        fh = source.open("rb")
    except FileNotFoundError as exc:
        raise HiveNotFoundError(f"snapshot {source} does not exist", path=str(source)) from exc
    except IsADirectoryError as exc:
        raise HiveDataError(
            f"snapshot path {source} is a directory; pass the snapshot file that snapshot() wrote",
            path=str(source), field="path",
        ) from exc
    except OSError as exc:
        raise HiveDataError(
            f"snapshot {source} cannot be read ({exc.strerror}); check the path and its permissions",
            path=str(source), field="path",
        ) from exc
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise HiveDataError(
            f"snapshot path {source} is not a regular file; pass the snapshot file that snapshot() wrote",
            path=str(source), field="path",
        )
    return fh, source, os.fstat(fh.fileno()).st_size


def _read_block(
    reader: _CountingReader, path: Path, opened: _Opened, entry: NamespaceEntry
) -> tuple[list[MemoryRecord], list[Edge]]:
    what = f"the block of namespace {entry.namespace}"
    block = reader.read_exact(opened.data_start + entry.offset, entry.length, what)
    if hashlib.sha256(block).hexdigest() != entry.sha256:
        raise _corrupt(path, f"{what} fails its sha256 check")
    records: list[MemoryRecord] = []
    edges: list[Edge] = []
    try:
        text = zlib.decompress(block).decode("utf-8")
        for line in text.split("\n") if text else []:
            row = json.loads(line)
            if row.get("t") == "r":
                records.append(_record_from(row))
            elif row.get("t") == "e":
                edges.append(_edge_from(row))
            else:
                raise ValueError(f"unknown row type {row.get('t')!r}")
    except (zlib.error, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(path, f"{what} cannot be decoded ({exc})") from exc
    if len(records) != entry.records or len(edges) != entry.edges:
        raise _corrupt(
            path, f"{what} holds {len(records)} records and {len(edges)} edges; the index says "
            f"{entry.records} and {entry.edges}",
        )
    if any(r.namespace != entry.namespace for r in records):
        raise _corrupt(path, f"{what} holds a record of another namespace")
    return records, edges


def read_summary(path: str | os.PathLike[str]) -> SnapshotSummary:
    """Read the header index only: namespaces, counts, time ranges, checksums.

    Raises:
        HiveNotFoundError: no such file.
        HiveDataError: the path is a directory or cannot be read.
        HiveCorruptionError: bad magic, unknown version, corrupted or truncated header.
    """
    fh, source, size = _open(path)
    with fh:
        reader = _CountingReader(fh, source)
        return _read_header(reader, source, size).summary


_Selector = Callable[[tuple[NamespaceEntry, ...]], list[NamespaceEntry]]


def _read_selected(path: str | os.PathLike[str], select: _Selector, since: int | None = None) -> SnapshotContent:
    fh, source, size = _open(path)
    with fh:
        reader = _CountingReader(fh, source)
        opened = _read_header(reader, source, size)
        chosen = select(opened.summary.namespaces)
        records: list[MemoryRecord] = []
        edges: list[Edge] = []
        for entry in chosen:
            block_records, block_edges = _read_block(reader, source, opened, entry)
            records.extend(block_records)
            edges.extend(block_edges)
    if since is not None:
        records = [r for r in records if r.recorded_at >= since]
        edges = [e for e in edges if e.recorded_at >= since]
    return SnapshotContent(tuple(records), tuple(edges), reader.bytes_read, tuple(e.namespace for e in chosen))


def read_namespace(path: str | os.PathLike[str], namespace: Sequence[str]) -> SnapshotContent:
    """Read one namespace's block (and the header), nothing else.

    Raises:
        HiveNotFoundError: no such file, or the snapshot has no such namespace.
        HiveDataError: the path is a directory or cannot be read.
        HiveCorruptionError: the header or that block is corrupted or truncated.
    """
    wanted = tuple(namespace)

    def select(entries: tuple[NamespaceEntry, ...]) -> list[NamespaceEntry]:
        chosen = [e for e in entries if e.namespace == wanted]
        if not chosen:
            raise HiveNotFoundError(
                f"snapshot {path} has no namespace {wanted}; read_summary() lists the ones it has",
                path=str(path), namespace=wanted,
            )
        return chosen

    return _read_selected(path, select)


def read_since(path: str | os.PathLike[str], since: int) -> SnapshotContent:
    """Records and edges recorded at or after HLC ``since``, reading only blocks that reach it.

    Raises:
        HiveNotFoundError: no such file.
        HiveDataError: the path is a directory or cannot be read.
        HiveCorruptionError: the header or a block read is corrupted or truncated.
    """

    def select(entries: tuple[NamespaceEntry, ...]) -> list[NamespaceEntry]:
        return [e for e in entries if e.max_recorded_at is not None and e.max_recorded_at >= since]

    return _read_selected(path, select, since)


def read_all(
    path: str | os.PathLike[str], *, tenant: str | None = None, namespaces: Sequence[Sequence[str]] | None = None
) -> SnapshotContent:
    """Read and check every block needed for a restore before returning any of it.

    Args:
        path: The snapshot.
        tenant: Only the namespaces of this tenant.
        namespaces: Only these namespaces (each must exist in the snapshot).

    Raises:
        HiveNotFoundError: no such file, or a requested namespace is absent.
        HiveDataError: the path is a directory or cannot be read.
        HiveCorruptionError: any needed part is corrupted or truncated; nothing
            is returned, so nothing is half-restored.
    """
    wanted = None if namespaces is None else {tuple(n) for n in namespaces}

    def select(entries: tuple[NamespaceEntry, ...]) -> list[NamespaceEntry]:
        chosen = [e for e in entries if tenant is None or (e.namespace and e.namespace[0] == tenant)]
        if wanted is not None:
            missing = wanted - {e.namespace for e in chosen}
            if missing:
                raise HiveNotFoundError(
                    f"snapshot {path} has no namespaces {sorted(missing)}", path=str(path), namespace=sorted(missing)
                )
            chosen = [e for e in chosen if e.namespace in wanted]
        return chosen

    return _read_selected(path, select)
