"""Hive memory as a LangGraph ``BaseStore``: ``create_agent(..., store=HiveStore(memory))``.

Each LangGraph item ``(namespace, key) -> value`` is one Hive memory in the
namespace ``(tenant, "store", *namespace)`` under the same key:

* ``put`` remembers it (a new value supersedes the old version, so history and
  ``why()`` keep every value the item ever had); ``value=None`` forgets it
  (temporal invalidation: it disappears from get/search, history keeps it);
* ``get`` recalls the current version;
* ``search`` with a ``query`` runs Hive's hybrid search (vector + BM25) over the
  indexed fields, without a query it lists; ``filter`` (``$eq``, ``$ne``,
  ``$gt``, ``$gte``, ``$lt``, ``$lte``, nested dicts) and ``offset``/``limit``
  apply to both;
* ``list_namespaces`` honours prefix/suffix conditions with ``*`` wildcards,
  ``max_depth``, ``offset`` and ``limit``;
* TTL (minutes, as in LangGraph): an expired item is never returned; reads
  refresh the TTL when ``refresh_ttl`` (the refresh is kept in this process and
  written at the next put); :meth:`HiveStore.sweep` forgets expired items.

The value, its indexed text, ``created_at``, ``updated_at`` and expiry live in
the memory's content and metadata, so a store reopened on the same data
directory sees the same items. Listing and filtering read an in-process index of
current items, refreshed from the memory's change stamp when another process or
store wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from hive_middleware.errors import HiveValidationError
from hive_middleware.types import MemoryRecord

__all__ = ["STORE_SEGMENT", "HiveStore"]

STORE_SEGMENT = "store"
_TAG_NOINDEX = "lg-noindex"
_MAX_SEARCH_K = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def _check_labels(namespace: tuple[str, ...], *, allow_empty: bool = False) -> None:
    if not namespace and not allow_empty:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(f"Invalid namespace label {label!r} in {namespace}: labels must be strings")
        if not label or "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels must be non-empty and "
                "contain neither '.' nor NUL"
            )


def _compare(item_value: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        if any(str(k).startswith("$") for k in wanted):
            return all(_operator(item_value, str(op), v) for op, v in wanted.items())
        return isinstance(item_value, Mapping) and all(_compare(item_value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(item_value, list | tuple)
            and len(item_value) == len(wanted)
            and all(_compare(a, b) for a, b in zip(item_value, wanted, strict=True))
        )
    return bool(item_value == wanted)


def _operator(value: Any, op: str, target: Any) -> bool:
    if op == "$eq":
        return bool(value == target)
    if op == "$ne":
        return bool(value != target)
    try:
        a, b = float(value), float(target)
    except (TypeError, ValueError):
        return False
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    if op == "$lte":
        return a <= b
    raise HiveValidationError(f"unsupported filter operator {op!r}; use $eq, $ne, $gt, $gte, $lt or $lte",
                              field="filter")


def _matches(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path, strict=False) if condition.match_type == "prefix" else zip(
        reversed(namespace), reversed(path), strict=False)
    return all(p == "*" or n == p for n, p in pairs)


class HiveStore(BaseStore):
    """A LangGraph ``BaseStore`` backed by a Hive ``MemoryStore``.

    Args:
        memory: The Hive memory (``MemoryStore``; a ``HiveStack``'s ``.memory``).
        tenant: Tenant owning the items (default: the memory's own tenant).
        index: LangGraph index config; only ``fields`` is read (JSON paths whose
            text is searchable; default the whole value). Embeddings come from
            the memory's own embedder.
        ttl: LangGraph TTL config (``default_ttl`` minutes, ``refresh_on_read``,
            ``sweep_interval_minutes`` to start a background sweeper).
        clock: Wall clock returning aware datetimes (tests inject one).

    Raises:
        HiveValidationError: a bad ``index.fields`` path or TTL value.
    """

    supports_ttl = True

    def __init__(
        self,
        memory: Any,
        *,
        tenant: str | None = None,
        index: Mapping[str, Any] | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.memory = memory
        self.tenant = tenant or memory.namespace[0]
        fields = list((index or {}).get("fields") or ["$"])
        try:
            self._fields = [(f, tokenize_path(f)) for f in fields]
        except Exception as exc:
            raise HiveValidationError(f"index fields {fields!r} are not valid JSON paths: {exc}",
                                      field="index") from exc
        self.ttl_config = ttl
        default_ttl = (ttl or {}).get("default_ttl")
        if default_ttl is not None and default_ttl <= 0:
            raise HiveValidationError(f"default_ttl must be > 0 minutes, got {default_ttl}", field="ttl")
        self._clock = clock
        self._lock = threading.RLock()
        self._items: dict[tuple[tuple[str, ...], str], MemoryRecord] = {}
        self._stamp: int | None = None
        self._refreshed: dict[tuple[tuple[str, ...], str], float] = {}
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        interval = (ttl or {}).get("sweep_interval_minutes")
        if interval:
            self.start_ttl_sweeper(interval * 60.0)

    # -- namespace mapping --------------------------------------------------

    def _hive_ns(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        return (self.tenant, STORE_SEGMENT, *namespace)

    # -- the in-process index of current items ----------------------------------

    def _sync(self) -> None:
        graph = self.memory.graph
        stamp = graph.change_stamp()
        if stamp == self._stamp:
            return
        base = (self.tenant, STORE_SEGMENT)
        if self._stamp is None:
            records = list(graph.scan(self.tenant))
            self._items.clear()
        else:
            records = list(graph.scan(self.tenant, since=self._stamp))
            if not records:  # only expirations happened elsewhere: rebuild
                self._stamp = None
                self._sync()
                return
        for record in records:
            if record.namespace[:2] != base or record.key is None:
                continue
            ident = (tuple(record.namespace[2:]), record.key)
            if record.expired_at is None:
                self._items[ident] = record
            elif self._items.get(ident) is not None and self._items[ident].id == record.id:
                del self._items[ident]
        if self._stamp is None:
            # A full scan sees every version; keep only the current ones.
            self._items = {k: r for k, r in self._items.items() if r.expired_at is None}
        self._stamp = stamp

    def _expiry(self, ident: tuple[tuple[str, ...], str], record: MemoryRecord) -> float | None:
        expires = record.metadata.get("expires_at")
        refreshed = self._refreshed.get(ident)
        if expires is None:
            return None
        return max(float(expires), refreshed or 0.0)

    def _alive(self, ident: tuple[tuple[str, ...], str], record: MemoryRecord, now: float) -> bool:
        expiry = self._expiry(ident, record)
        return expiry is None or expiry > now

    def _refresh(self, ident: tuple[tuple[str, ...], str], record: MemoryRecord, now: float, refresh: bool) -> None:
        ttl = record.metadata.get("ttl_minutes")
        if refresh and ttl is not None and self._refresh_on_read():
            self._refreshed[ident] = now + float(ttl) * 60.0

    def _refresh_on_read(self) -> bool:
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    @staticmethod
    def _item(ident: tuple[tuple[str, ...], str], record: MemoryRecord, score: float | None = None,
              search: bool = False) -> Item:
        meta = record.metadata
        value = dict(meta.get("value") or {})
        created = datetime.fromisoformat(meta["created_at"])
        updated = datetime.fromisoformat(meta["updated_at"])
        if search:
            return SearchItem(ident[0], ident[1], value, created, updated, score)
        return Item(value=value, key=ident[1], namespace=ident[0], created_at=created, updated_at=updated)

    # -- operations -----------------------------------------------------------

    def _get(self, op: GetOp, now: float) -> Item | None:
        _check_labels(op.namespace)
        ident = (tuple(op.namespace), op.key)
        record = self._items.get(ident)
        if record is None or not self._alive(ident, record, now):
            return None
        self._refresh(ident, record, now, op.refresh_ttl)
        return self._item(ident, record)

    def _text(self, value: Mapping[str, Any], index: Any) -> str | None:
        if index is False:
            return None
        paths = self._fields if index is None else [(f, tokenize_path(f)) for f in index]
        texts: list[str] = []
        for path, tokens in paths:
            found = [json.dumps(value, sort_keys=True)] if path == "$" else get_text_at_path(value, tokens)
            texts.extend(t for t in found if isinstance(t, str) and t.strip())
        return "\n".join(texts) if texts else None

    def _put(self, op: PutOp, now_dt: datetime) -> None:
        from langgraph.store.base import NOT_PROVIDED, NotProvided

        _check_labels(op.namespace)
        if op.namespace[0] == "langgraph":
            raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph". Got: {op.namespace}')
        ident = (tuple(op.namespace), op.key)
        hive_ns = self._hive_ns(ident[0])
        old = self._items.get(ident)
        if op.value is None:
            if old is not None:
                self.memory.forget(op.key, "deleted through the LangGraph store", namespace=hive_ns)
                self._items.pop(ident, None)
                self._refreshed.pop(ident, None)
            return
        if not isinstance(op.value, Mapping):
            raise HiveValidationError(f"a store value must be a dict, got {type(op.value).__name__}", field="value")
        ttl: Any = op.ttl
        if isinstance(ttl, NotProvided) or ttl is NOT_PROVIDED:
            ttl = (self.ttl_config or {}).get("default_ttl")
        now = now_dt.timestamp()
        created = old.metadata["created_at"] if old is not None and self._alive(ident, old, now) else now_dt.isoformat()
        text = self._text(op.value, op.index)
        metadata = {
            "value": dict(op.value),
            "created_at": created,
            "updated_at": now_dt.isoformat(),
            "ttl_minutes": ttl,
            "expires_at": None if ttl is None else now + float(ttl) * 60.0,
        }
        content = text if text is not None else f"{'/'.join(ident[0])}/{op.key}"
        record = self.memory.remember(
            content,
            key=op.key,
            kind="semantic",
            namespace=hive_ns,
            metadata=metadata,
            tags=(_TAG_NOINDEX,) if text is None else (),
        )
        self._items[ident] = record
        self._refreshed.pop(ident, None)

    def _candidates(self, op: SearchOp, now: float) -> list[tuple[tuple[tuple[str, ...], str], MemoryRecord]]:
        prefix = tuple(op.namespace_prefix)
        out = []
        for ident, record in self._items.items():
            if ident[0][: len(prefix)] != prefix or not self._alive(ident, record, now):
                continue
            value = record.metadata.get("value") or {}
            if op.filter and not all(_compare(value.get(k), v) for k, v in op.filter.items()):
                continue
            out.append((ident, record))
        return out

    def _search(self, op: SearchOp, now: float) -> list[SearchItem]:
        _check_labels(tuple(op.namespace_prefix), allow_empty=True)
        if op.limit < 0 or op.offset < 0:
            raise HiveValidationError("search limit and offset must be >= 0", field="limit")
        candidates = self._candidates(op, now)
        if not op.query or not op.query.strip():
            # Most recently updated first, a stable order for paging.
            candidates.sort(key=lambda c: (c[1].metadata["updated_at"], c[0]), reverse=True)
            page = candidates[op.offset: op.offset + op.limit]
            for ident, record in page:
                self._refresh(ident, record, now, op.refresh_ttl)
            return [self._item(i, r, None, search=True) for i, r in page]  # type: ignore[misc]
        allowed = {r.id: (i, r) for i, r in candidates if _TAG_NOINDEX not in r.tags}
        ranked: list[tuple[tuple[tuple[str, ...], str], MemoryRecord, float | None]] = []
        if allowed:
            k = min(_MAX_SEARCH_K, max(len(allowed), (op.offset + op.limit) * 4, 10))
            hits = self.memory.search(op.query, k=k, namespace=self._hive_ns(tuple(op.namespace_prefix)))
            seen: set[str] = set()
            for hit in hits:
                entry = allowed.get(hit.record.id)
                if entry is not None and hit.record.id not in seen:
                    seen.add(hit.record.id)
                    ranked.append((entry[0], entry[1], float(hit.score)))
            # Items the search did not reach still belong to the result set, unscored, last.
            ranked.extend((i, r, None) for rid, (i, r) in allowed.items() if rid not in seen)
        scored = ranked[op.offset: op.offset + op.limit]
        for ident, record, _ in scored:
            self._refresh(ident, record, now, op.refresh_ttl)
        return [self._item(i, r, s, search=True) for i, r, s in scored]  # type: ignore[misc]

    def _list(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        for condition in op.match_conditions or ():
            _check_labels(tuple(p for p in condition.path if p != "*"), allow_empty=True)
        names = {ident[0] for ident, record in self._items.items() if self._alive(ident, record, now)}
        if op.match_conditions:
            names = {n for n in names if all(_matches(n, c) for c in op.match_conditions)}
        if op.max_depth is not None:
            names = {n[: op.max_depth] for n in names}
        return sorted(names)[op.offset: op.offset + op.limit]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` in order; results line up with them (see ``BaseStore.batch``)."""
        ops = list(ops)
        results: list[Result] = []
        with self._lock:
            self._sync()
            for op in ops:
                now_dt = self._clock()
                now = now_dt.timestamp()
                if isinstance(op, GetOp):
                    results.append(self._get(op, now))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op, now))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list(op, now))
                elif isinstance(op, PutOp):
                    self._put(op, now_dt)
                    results.append(None)
                else:
                    raise HiveValidationError(f"unknown store operation {type(op).__name__}", field="op")
            self._stamp = self.memory.graph.change_stamp() if self._owns_latest() else self._stamp
        return results

    def _owns_latest(self) -> bool:
        # After our own writes the index already holds them; adopt the new stamp
        # only when a scan since the old one finds nothing we do not know.
        if self._stamp is None:
            return False
        base = (self.tenant, STORE_SEGMENT)
        for record in self.memory.graph.scan(self.tenant, since=self._stamp):
            if record.namespace[:2] != base or record.key is None:
                continue
            if record.expired_at is None and self._items.get((tuple(record.namespace[2:]), record.key)) != record:
                return False
        return True

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch` (runs in a worker thread: SQLite and the embedder block)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- TTL --------------------------------------------------------------------

    def sweep(self) -> int:
        """Forget every expired item now; returns how many were forgotten."""
        with self._lock:
            self._sync()
            now = self._clock().timestamp()
            doomed = [i for i, r in self._items.items() if not self._alive(i, r, now)]
            for ident in doomed:
                self.memory.forget(ident[1], "TTL expired", namespace=self._hive_ns(ident[0]))
                self._items.pop(ident, None)
                self._refreshed.pop(ident, None)
            return len(doomed)

    def start_ttl_sweeper(self, interval_s: float = 60.0) -> None:
        """Sweep expired items every ``interval_s`` seconds in a daemon thread."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sweep()
                except Exception:  # a failed sweep is retried at the next interval
                    logging.getLogger(__name__).exception("TTL sweep failed")

        self._sweeper = threading.Thread(target=loop, name="hive-store-ttl", daemon=True)
        self._sweeper.start()

    def stop_ttl_sweeper(self) -> None:
        """Stop the background sweeper (if running)."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop the sweeper; the memory itself stays open (its owner closes it)."""
        self.stop_ttl_sweeper()

    def __repr__(self) -> str:
        return f"HiveStore(tenant={self.tenant!r}, items={len(self._items)})"
