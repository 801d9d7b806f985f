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

The store takes what LangGraph's ``InMemoryStore`` takes, within these rules:

* **Keys and labels Hive memory cannot hold** (an empty or blank key, a key over
  512 characters, control characters, lone surrogates; a blank label, a label
  over 128 characters, a namespace deeper than six labels) are stored under a
  digest: the key becomes ``~lg-key:<blake2b>``, the namespace
  ``(tenant, "store", "~lg-ns", <blake2b>)``, and the original key and namespace
  are kept in the memory's metadata, so get, search and list_namespaces return
  them exactly. Keys starting with ``~lg-key:`` and namespaces whose first label
  is ``~lg-ns`` are always stored under a digest, so they never collide.
* **Values** that are plain JSON (dicts with string keys, lists, strings,
  ints, finite floats, booleans, ``None``) are kept as JSON in the metadata, so
  Hive's history shows them as written. Any other value (datetimes, UUIDs,
  Decimals, sets, bytes, enums, dataclasses, pydantic models, NaN, non-string
  dict keys...) is encoded with the LangGraph serializer (``JsonPlusSerializer``
  by default, the one LangGraph checkpoints use) and decoded on the way out, so
  a get returns an equal value. Tuples come back as lists and lone surrogates in
  encoded values as ``?`` (msgpack has neither). A value that serializer cannot
  encode, or whose stored form is over ``max_value_bytes``, is refused with a
  :class:`~hive_middleware.errors.HiveValidationError` that says why.
* **Long values** are accepted up to ``max_value_bytes``; the memory's content
  (what search reads) is the item's indexed text cut to the memory's
  ``max_content_chars``, so only that much of a very long value is searchable.

The value, its indexed text, ``created_at``, ``updated_at`` and expiry live in
the memory's content and metadata, so a store reopened on the same data
directory sees the same items. Listing and filtering read an in-process index of
current items, refreshed from the memory's change stamp when another process or
store wrote.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
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

from hive_middleware.errors import HiveCorruptionError, HiveValidationError
from hive_middleware.memory.records import MAX_KEY_CHARS, MAX_NAMESPACE_DEPTH, MAX_NAMESPACE_PART
from hive_middleware.types import MemoryRecord

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "STORE_SEGMENT", "HiveStore"]

STORE_SEGMENT = "store"
DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024
"""Largest stored form of one value (its JSON text, or its serialized bytes in base64).

Every version stays in Hive's history and every current value in the store's
in-process index, so a store meant for multi-megabyte blobs should raise it
knowingly (``HiveStore(memory, max_value_bytes=...)``)."""
_TAG_NOINDEX = "lg-noindex"
_MAX_SEARCH_K = 1000
_HASHED_KEY_PREFIX = "~lg-key:"
_HASHED_NAMESPACE = "~lg-ns"
_MAX_DIRECT_DEPTH = MAX_NAMESPACE_DEPTH - 2  # (tenant, "store", *namespace)
_META_KEY = "lg_key"
_META_NAMESPACE = "lg_namespace"
_META_VALUE = "value"
_META_ENCODED = "value_encoded"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Ident = tuple[tuple[str, ...], str]


def _now() -> datetime:
    return datetime.now(UTC)


# -- keys and namespaces Hive memory cannot hold ----------------------------------------


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fits(text: str, max_chars: int) -> bool:
    """Whether Hive memory takes ``text`` as a key or namespace label as it is."""
    return bool(text.strip()) and len(text) <= max_chars and not _CONTROL.search(text) and _is_utf8(text)


def _digest(parts: object) -> str:
    # ensure_ascii keeps lone surrogates hashable; the JSON list keeps label boundaries.
    return hashlib.blake2b(json.dumps(parts).encode("ascii"), digest_size=20).hexdigest()


def _namespace_fits(namespace: tuple[str, ...]) -> bool:
    """Whether ``namespace`` is stored as Hive labels as it is (else under a digest)."""
    return (
        len(namespace) <= _MAX_DIRECT_DEPTH
        and namespace[:1] != (_HASHED_NAMESPACE,)
        and all(_fits(label, MAX_NAMESPACE_PART) for label in namespace)
    )


def _key_fits(key: str) -> bool:
    """Whether ``key`` is stored as a Hive key as it is (else under a digest)."""
    return _fits(key, MAX_KEY_CHARS) and not key.startswith(_HASHED_KEY_PREFIX)


def _check_key_type(key: object) -> str:
    if not isinstance(key, str):
        raise HiveValidationError(
            f"a store key must be a string, got {type(key).__name__} {key!r}; "
            "BaseStore.put/get/delete convert keys with str(key), pass ops with string keys to batch()",
            field="key",
        )
    return key


def _short(key: str) -> str:
    return repr(key) if len(key) <= 80 else f"{key[:60]!r}... ({len(key)} characters)"


# -- values ---------------------------------------------------------------------------------


def _is_plain_json(value: object) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (exact types, so no tuples or subclasses).

    Iterative, and each container is visited once, so a cyclic value ends here
    and is refused by ``json.dumps``.
    """
    stack: list[object] = [value]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        kind = type(obj)
        if obj is None or kind is str or kind is int or kind is bool:
            continue
        if isinstance(obj, float) and kind is float:
            if not math.isfinite(obj):
                return False
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict) and kind is dict:
            if not all(type(k) is str for k in obj):
                return False
            stack.extend(obj.values())
        elif isinstance(obj, list) and kind is list:
            stack.extend(obj)
        else:
            return False
    return True


def _searchable(obj: Any) -> Any:
    """A JSON view of a value the serializer encodes, for its indexed text only."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _searchable(v) for k, v in obj.items()}
    if isinstance(obj, Enum):
        return _searchable(obj.value)
    if isinstance(obj, bytes | bytearray | memoryview):
        return None  # binary: nothing to search
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):
        return _searchable(dump())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _searchable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, set | frozenset):
        return sorted((_searchable(x) for x in obj), key=repr)
    if isinstance(obj, Iterable):
        return [_searchable(x) for x in obj]
    return str(obj)


def _valid_text(text: str) -> str:
    # Memory content must be UTF-8: a lone surrogate becomes "?".
    return text.encode("utf-8", "replace").decode("utf-8")


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
        serde: Encodes values that are not plain JSON (default LangGraph's
            ``JsonPlusSerializer()``; pass one with ``allowed_msgpack_modules``
            to restrict which types are rebuilt on the way out).
        max_value_bytes: Largest stored form of one value (see
            :data:`DEFAULT_MAX_VALUE_BYTES`); a larger put is refused.

    Raises:
        HiveValidationError: a bad ``index.fields`` path, TTL value or ``max_value_bytes``.
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
        serde: SerializerProtocol | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
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
        if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int) or max_value_bytes <= 0:
            raise HiveValidationError(f"max_value_bytes must be an int > 0, got {max_value_bytes!r}",
                                      field="max_value_bytes")
        self.max_value_bytes = max_value_bytes
        self._serde: SerializerProtocol = serde if serde is not None else JsonPlusSerializer()
        self._clock = clock
        self._lock = threading.RLock()
        self._items: dict[Ident, MemoryRecord] = {}
        self._decoded: dict[str, dict[str, Any]] = {}  # record id -> decoded value, for filters
        self._stamp: int | None = None
        self._refreshed: dict[Ident, float] = {}
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        interval = (ttl or {}).get("sweep_interval_minutes")
        if interval:
            self.start_ttl_sweeper(interval * 60.0)

    # -- where an item lives in Hive memory ------------------------------------------------

    def _hive_ns(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        if _namespace_fits(namespace):
            return (self.tenant, STORE_SEGMENT, *namespace)
        return (self.tenant, STORE_SEGMENT, _HASHED_NAMESPACE, _digest(list(namespace)))

    @staticmethod
    def _hive_key(key: str) -> str:
        return key if _key_fits(key) else _HASHED_KEY_PREFIX + _digest(key)

    def _ident_of(self, record: MemoryRecord) -> Ident | None:
        """The LangGraph ``(namespace, key)`` a memory holds, or ``None`` if it is no store item."""
        if record.namespace[:2] != (self.tenant, STORE_SEGMENT) or record.key is None:
            return None
        namespace: tuple[str, ...] = tuple(record.namespace[2:])
        if namespace[:1] == (_HASHED_NAMESPACE,):
            stored = record.metadata.get(_META_NAMESPACE)
            if not isinstance(stored, list) or not all(isinstance(label, str) for label in stored):
                return None
            namespace = tuple(stored)
        key = record.key
        if key.startswith(_HASHED_KEY_PREFIX):
            stored_key = record.metadata.get(_META_KEY)
            if not isinstance(stored_key, str):
                return None
            key = stored_key
        return namespace, key

    # -- the in-process index of current items ----------------------------------

    def _sync(self) -> None:
        graph = self.memory.graph
        stamp = graph.change_stamp()
        if stamp == self._stamp:
            return
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
            ident = self._ident_of(record)
            if ident is None:
                continue
            if record.expired_at is None:
                self._items[ident] = record
            elif self._items.get(ident) is not None and self._items[ident].id == record.id:
                del self._items[ident]
        if self._stamp is None:
            # A full scan sees every version; keep only the current ones.
            self._items = {k: r for k, r in self._items.items() if r.expired_at is None}
        self._stamp = stamp

    def _expiry(self, ident: Ident, record: MemoryRecord) -> float | None:
        expires = record.metadata.get("expires_at")
        refreshed = self._refreshed.get(ident)
        if expires is None:
            return None
        return max(float(expires), refreshed or 0.0)

    def _alive(self, ident: Ident, record: MemoryRecord, now: float) -> bool:
        expiry = self._expiry(ident, record)
        return expiry is None or expiry > now

    def _refresh(self, ident: Ident, record: MemoryRecord, now: float, refresh: bool) -> None:
        ttl = record.metadata.get("ttl_minutes")
        if refresh and ttl is not None and self._refresh_on_read():
            self._refreshed[ident] = now + float(ttl) * 60.0

    def _refresh_on_read(self) -> bool:
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    # -- values in and out -----------------------------------------------------------------

    def _encode(self, value: dict[str, Any], ident: Ident) -> tuple[dict[str, Any], Any]:
        """The metadata fields holding ``value``, and a JSON view of it for the indexed text.

        Raises:
            HiveValidationError: the serializer cannot encode it, it is cyclic or
                nests too deeply, or its stored form is over ``max_value_bytes``.
        """
        where = f"the value of key {_short(ident[1])} in namespace {ident[0]!r}"
        if _is_plain_json(value):
            try:
                text = json.dumps(value, allow_nan=False)
            except (ValueError, RecursionError) as exc:  # a cycle, or nesting past the recursion limit
                raise HiveValidationError(
                    f"{where} cannot be stored as JSON ({exc}); store a value without cycles and "
                    "with fewer nesting levels",
                    field="value",
                ) from exc
            self._check_size(len(text), where)
            plain = json.loads(text)  # a copy, so later changes to the caller's dict do not leak in
            return {_META_VALUE: plain}, plain
        try:
            kind, data = self._serde.dumps_typed(value)
        except Exception as exc:  # ormsgpack raises TypeError for an unknown type, a cycle or too much nesting
            raise HiveValidationError(
                f"{where} cannot be stored: {type(self._serde).__name__} failed with {exc}. "
                "HiveStore keeps plain JSON as it is and encodes datetimes, UUIDs, Decimals, sets, "
                "bytes, enums, dataclasses, namedtuples and pydantic models; convert the offending "
                "field to one of those (ints must fit in 64 bits outside plain JSON)",
                field="value",
            ) from exc
        encoded = base64.b64encode(data).decode("ascii")
        self._check_size(len(encoded), where)
        try:
            view = _searchable(value)
        except RecursionError as exc:
            raise HiveValidationError(f"{where} nests too deeply to index; flatten it", field="value") from exc
        return {_META_ENCODED: {"serde": kind, "data": encoded}}, view

    def _check_size(self, size: int, where: str) -> None:
        if size > self.max_value_bytes:
            raise HiveValidationError(
                f"{where} takes {size} bytes stored, over max_value_bytes={self.max_value_bytes}; keep "
                "large payloads outside the store (a file or blob store) and put a reference, or raise "
                "the limit with HiveStore(memory, max_value_bytes=...)",
                field="value",
                size=size,
                limit=self.max_value_bytes,
            )

    def _decode(self, record: MemoryRecord) -> dict[str, Any]:
        """A fresh copy of the value ``record`` holds (callers may change it freely)."""
        encoded = record.metadata.get(_META_ENCODED)
        if not isinstance(encoded, Mapping):
            return copy.deepcopy(dict(record.metadata.get(_META_VALUE) or {}))
        try:
            value = self._serde.loads_typed((str(encoded["serde"]), base64.b64decode(encoded["data"])))
        except Exception as exc:
            raise HiveCorruptionError(
                f"the stored value of memory {record.id} ({record.key!r}) cannot be decoded: {exc}; "
                "it was written by another serializer or changed outside the store",
                record_id=record.id,
                key=record.key,
            ) from exc
        if not isinstance(value, dict):
            raise HiveCorruptionError(
                f"the stored value of memory {record.id} ({record.key!r}) decodes to "
                f"{type(value).__name__}, not a dict",
                record_id=record.id,
                key=record.key,
            )
        return value

    def _filter_view(self, record: MemoryRecord) -> Mapping[str, Any]:
        """The value filters compare against (decoded once per version, not copied)."""
        if not isinstance(record.metadata.get(_META_ENCODED), Mapping):
            return record.metadata.get(_META_VALUE) or {}
        value = self._decoded.get(record.id)
        if value is None:
            value = self._decoded[record.id] = self._decode(record)
        return value

    def _item(self, ident: Ident, record: MemoryRecord, score: float | None = None,
              search: bool = False) -> Item:
        meta = record.metadata
        value = self._decode(record)
        created = datetime.fromisoformat(meta["created_at"])
        updated = datetime.fromisoformat(meta["updated_at"])
        if search:
            return SearchItem(ident[0], ident[1], value, created, updated, score)
        return Item(value=value, key=ident[1], namespace=ident[0], created_at=created, updated_at=updated)

    # -- operations -----------------------------------------------------------

    def _get(self, op: GetOp, now: float) -> Item | None:
        _check_labels(op.namespace, allow_empty=True)  # nothing lives in (), so it reads None
        ident = (tuple(op.namespace), _check_key_type(op.key))
        record = self._items.get(ident)
        if record is None or not self._alive(ident, record, now):
            return None
        self._refresh(ident, record, now, op.refresh_ttl)
        return self._item(ident, record)

    def _text(self, view: Any, index: Any) -> str | None:
        if index is False:
            return None
        paths = self._fields if index is None else [(f, tokenize_path(f)) for f in index]
        texts: list[str] = []
        for path, tokens in paths:
            found = [json.dumps(view, sort_keys=True, ensure_ascii=False)] if path == "$" else get_text_at_path(
                view, tokens)
            texts.extend(t for t in found if isinstance(t, str) and t.strip())
        return "\n".join(texts) if texts else None

    def _content(self, ident: Ident, text: str | None) -> str:
        """The memory's content: the indexed text, cut to what Hive memory takes."""
        max_chars = int(self.memory.config.max_content_chars)
        content = _valid_text(text)[:max_chars] if text is not None else ""
        if not content.strip():
            content = _valid_text(f"{'/'.join(ident[0])}/{ident[1]}")[:max_chars]
        return content

    def _put(self, op: PutOp, now_dt: datetime) -> None:
        from langgraph.store.base import NOT_PROVIDED, NotProvided

        key = _check_key_type(op.key)
        if op.value is None:
            # Deleting from () or a "langgraph" root finds nothing, as in InMemoryStore.
            _check_labels(op.namespace, allow_empty=True)
        else:
            _check_labels(op.namespace)
            if op.namespace[0] == "langgraph":
                raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph". Got: {op.namespace}')
        ident = (tuple(op.namespace), key)
        hive_ns, hive_key = self._hive_ns(ident[0]), self._hive_key(key)
        old = self._items.get(ident)
        if op.value is None:
            if old is not None:
                self.memory.forget(hive_key, "deleted through the LangGraph store", namespace=hive_ns)
                self._items.pop(ident, None)
                self._refreshed.pop(ident, None)
            return
        if not isinstance(op.value, Mapping):
            raise HiveValidationError(
                f"a store value must be a dict, got {type(op.value).__name__}; wrap it, e.g. {{'value': ...}}",
                field="value",
            )
        stored, view = self._encode(dict(op.value), ident)
        ttl: Any = op.ttl
        if isinstance(ttl, NotProvided) or ttl is NOT_PROVIDED:
            ttl = (self.ttl_config or {}).get("default_ttl")
        now = now_dt.timestamp()
        created = old.metadata["created_at"] if old is not None and self._alive(ident, old, now) else now_dt.isoformat()
        text = self._text(view, op.index)
        metadata: dict[str, Any] = {
            **stored,
            "created_at": created,
            "updated_at": now_dt.isoformat(),
            "ttl_minutes": ttl,
            "expires_at": None if ttl is None else now + float(ttl) * 60.0,
        }
        if hive_ns[2:3] == (_HASHED_NAMESPACE,):
            metadata[_META_NAMESPACE] = list(ident[0])
        if hive_key != key:
            metadata[_META_KEY] = key
        record = self.memory.remember(
            self._content(ident, text),
            key=hive_key,
            kind="semantic",
            namespace=hive_ns,
            metadata=metadata,
            tags=(_TAG_NOINDEX,) if text is None else (),
        )
        self._items[ident] = record
        self._refreshed.pop(ident, None)

    def _candidates(self, op: SearchOp, now: float) -> list[tuple[Ident, MemoryRecord]]:
        prefix = tuple(op.namespace_prefix)
        if len(self._decoded) > 2 * len(self._items) + 64:  # drop values of replaced versions
            live = {r.id for r in self._items.values()}
            self._decoded = {rid: v for rid, v in self._decoded.items() if rid in live}
        out = []
        for ident, record in self._items.items():
            if ident[0][: len(prefix)] != prefix or not self._alive(ident, record, now):
                continue
            if op.filter:
                value = self._filter_view(record)
                if not all(_compare(value.get(k), v) for k, v in op.filter.items()):
                    continue
            out.append((ident, record))
        return out

    def _search_scope(self, prefix: tuple[str, ...], allowed: Iterable[Ident]) -> tuple[tuple[str, ...], int]:
        """The Hive namespace one search reads, and how many store items live under it."""
        if _namespace_fits(prefix) and all(_namespace_fits(ident[0]) for ident in allowed):
            under = sum(1 for ident in self._items if ident[0][: len(prefix)] == prefix)
            return (self.tenant, STORE_SEGMENT, *prefix), under
        # Digest-named namespaces do not nest under their prefix: read the whole store.
        return (self.tenant, STORE_SEGMENT), len(self._items)

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
        ranked: list[tuple[Ident, MemoryRecord, float | None]] = []
        if allowed:
            scope, pool = self._search_scope(tuple(op.namespace_prefix), (i for i, _ in allowed.values()))
            k = min(_MAX_SEARCH_K, max(pool, (op.offset + op.limit) * 4, 10))
            hits = self.memory.search(op.query, k=k, namespace=scope)
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
        for record in self.memory.graph.scan(self.tenant, since=self._stamp):
            ident = self._ident_of(record)
            if ident is not None and record.expired_at is None and self._items.get(ident) != record:
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
                self.memory.forget(self._hive_key(ident[1]), "TTL expired", namespace=self._hive_ns(ident[0]))
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
