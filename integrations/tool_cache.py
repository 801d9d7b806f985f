"""Read-only tool-output cache and the ``hive_expand`` tool.

Agents re-run the same read-only tools again and again (42–55 % of file views in
real SWE-agent runs re-open a file already viewed). :class:`ToolOutputCache`
answers such a call from cache when the same tool was called with the same
*normalised* arguments, the files it read did not change (size, mtime and a
content hash), and the entry is younger than its TTL. A write to a file
invalidates every entry that read it. Speculative pre-execution
(:mod:`hive_middleware.pipeline.speculation`) stores its results here under the
same :meth:`ToolOutputCache.key` as the real call, so a matching call is served
from this cache.

:func:`hive_expand_tool` gives any agent the ``hive_expand(handle)`` tool that
returns compressed-away content byte for byte (the compression stubs name it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveValidationError

__all__ = [
    "DEFAULT_TOOL_CACHE_TTL_S",
    "HIVE_EXPAND_TOOL_NAME",
    "CacheStats",
    "FileFingerprint",
    "ToolOutputCache",
    "default_read_paths",
    "hive_expand",
    "hive_expand_tool",
    "normalise_arguments",
]

DEFAULT_TOOL_CACHE_TTL_S = 300.0
DEFAULT_MAX_ENTRIES = 4_096
HIVE_EXPAND_TOOL_NAME = "hive_expand"
# Files larger than this are fingerprinted by size and mtime only: hashing a
# large log on every lookup would cost more than the call it saves.
_HASH_LIMIT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileFingerprint:
    """What a cached output depended on: one file's identity when it was read."""

    path: str
    exists: bool
    size: int
    mtime_ns: int
    sha256: str | None

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileFingerprint:
        """Fingerprint ``path`` now (a missing file is a valid fingerprint too)."""
        p = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(p)
        except OSError:
            return cls(p, False, -1, -1, None)
        digest: str | None = None
        if st.st_size <= _HASH_LIMIT_BYTES and os.path.isfile(p):
            try:
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            except OSError:
                digest = None
        return cls(p, True, st.st_size, st.st_mtime_ns, digest)

    def still_valid(self) -> bool:
        """True when the file is unchanged since this fingerprint was taken.

        Size and mtime equal means unchanged; a changed mtime with the same
        content hash (a ``touch``, a rewrite with the same bytes) is unchanged too.
        """
        try:
            st = os.stat(self.path)
        except OSError:
            return not self.exists
        if not self.exists or st.st_size != self.size:
            return False
        if st.st_mtime_ns == self.mtime_ns:
            return True
        return self.sha256 is not None and FileFingerprint.of(self.path).sha256 == self.sha256


@dataclass
class CacheStats:
    """Counters of a cache's life (read them for reports)."""

    hits: int = 0
    misses: int = 0
    stale: int = 0
    expired: int = 0
    invalidated: int = 0
    stores: int = 0


@dataclass
class _Entry:
    output: Any
    fingerprints: tuple[FileFingerprint, ...]
    stored_at: float
    paths: frozenset[str] = field(default_factory=frozenset)


def _normalise_value(value: Any) -> Any:
    if isinstance(value, str):
        # Whitespace runs never change what a read-only tool returns for a
        # path or a pattern given on a command line; inner spaces are kept single.
        return " ".join(value.split())
    if isinstance(value, Mapping):
        return {str(k): _normalise_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_normalise_value(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return repr(value)


def normalise_arguments(arguments: Mapping[str, Any] | str | None) -> str:
    """The canonical text of tool arguments used as the cache key.

    Keys are sorted, string values have their whitespace collapsed, and a JSON
    string is parsed first so ``'{"a": 1}'`` and ``{"a": 1}`` are the same call.
    """
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return json.dumps(_normalise_value(arguments))
        arguments = parsed if isinstance(parsed, Mapping) else {"_": parsed}
    return json.dumps(_normalise_value(arguments), sort_keys=True, separators=(",", ":"))


def default_read_paths(arguments: Mapping[str, Any], *, cwd: str | None = None) -> list[str]:
    """Files a read-only call probably read: every argument token naming an existing file.

    String arguments are split like a shell line, so ``{"command": "cat a.py b.py"}``
    depends on ``a.py`` and ``b.py``. Pass your own ``read_paths`` to the cache
    when a tool knows exactly what it reads.
    """
    base = cwd or os.getcwd()
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            try:
                tokens = shlex.split(value)
            except ValueError:
                tokens = value.split()
            for token in tokens:
                if len(token) > 4096 or token.startswith("-"):
                    continue
                candidate = token if os.path.isabs(token) else os.path.join(base, token)
                if os.path.isfile(candidate):
                    found.append(os.path.abspath(candidate))
        elif isinstance(value, Mapping):
            for v in value.values():
                visit(v)
        elif isinstance(value, list | tuple):
            for v in value:
                visit(v)

    visit(dict(arguments))
    return sorted(set(found))


ReadPaths = Callable[[str, Mapping[str, Any]], Iterable[str | os.PathLike[str]]]


class ToolOutputCache:
    """Cache of read-only tool outputs keyed by tool name and normalised arguments.

    Thread-safe. Time is injected (``clock``) so tests never sleep.

    Args:
        ttl_s: Seconds an entry stays valid after it was stored.
        max_entries: Least recently used entries are evicted beyond this.
        read_only_tools: Names of the tools that may be cached; ``None`` means the
            caller decides per call (``lookup``/``store`` accept any name).
        read_paths: ``(tool, arguments) -> files`` the call read; default
            :func:`default_read_paths`.
        clock: Monotonic seconds.

    Raises:
        HiveValidationError: ``ttl_s`` or ``max_entries`` not positive.
    """

    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TOOL_CACHE_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        read_only_tools: Iterable[str] | None = None,
        read_paths: ReadPaths | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise HiveValidationError(f"ttl_s must be > 0 seconds, got {ttl_s}", field="ttl_s")
        if max_entries <= 0:
            raise HiveValidationError(f"max_entries must be > 0, got {max_entries}", field="max_entries")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.read_only_tools = frozenset(read_only_tools) if read_only_tools is not None else None
        self._read_paths = read_paths or (lambda _tool, args: default_read_paths(args))
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def cacheable(self, tool: str) -> bool:
        """Whether calls of ``tool`` may be answered from cache."""
        return self.read_only_tools is None or tool in self.read_only_tools

    def allow(self, tools: Iterable[str]) -> None:
        """Add tools to ``read_only_tools`` (e.g. tools found marked ``metadata["read_only"]``)."""
        if self.read_only_tools is not None:
            self.read_only_tools = self.read_only_tools | frozenset(tools)

    def key(self, tool: str, arguments: Mapping[str, Any] | str | None) -> tuple[str, str]:
        """The key this call is cached under (speculative results are stored under it too)."""
        return tool, normalise_arguments(arguments)

    def discard(self, tool: str, arguments: Mapping[str, Any] | str | None) -> bool:
        """Forget this call's entry (a speculative result made doubtful by a write); True if there was one."""
        with self._lock:
            return self._entries.pop(self.key(tool, arguments), None) is not None

    def lookup(self, tool: str, arguments: Mapping[str, Any] | str | None) -> Any | None:
        """The cached output of this call, or ``None`` (miss, expired, or an input changed)."""
        if not self.cacheable(tool):
            return None
        key = (tool, normalise_arguments(arguments))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            if self._clock() - entry.stored_at > self.ttl_s:
                del self._entries[key]
                self.stats.expired += 1
                self.stats.misses += 1
                return None
        # Stat the files outside the lock: they may be slow (network file systems).
        if not all(fp.still_valid() for fp in entry.fingerprints):
            with self._lock:
                self._entries.pop(key, None)
                self.stats.stale += 1
                self.stats.misses += 1
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
            self.stats.hits += 1
        return entry.output

    def store(
        self,
        tool: str,
        arguments: Mapping[str, Any] | str | None,
        output: Any,
        *,
        reads: Iterable[str | os.PathLike[str]] | None = None,
    ) -> None:
        """Remember ``output`` for this call, with the files it read (default: guessed)."""
        if not self.cacheable(tool):
            return
        canonical = normalise_arguments(arguments)
        if reads is None:
            parsed = json.loads(canonical)
            reads = self._read_paths(tool, parsed if isinstance(parsed, Mapping) else {})
        self._put(tool, canonical, output, tuple(FileFingerprint.of(p) for p in reads))

    def _put(self, tool: str, canonical: str, output: Any, fingerprints: tuple[FileFingerprint, ...]) -> None:
        entry = _Entry(output, fingerprints, self._clock(), frozenset(fp.path for fp in fingerprints))
        with self._lock:
            self._entries[(tool, canonical)] = entry
            self._entries.move_to_end((tool, canonical))
            self.stats.stores += 1
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, paths: Iterable[str | os.PathLike[str]] | None = None) -> int:
        """Drop entries that read any of ``paths`` (all entries when ``None``).

        Call it from write tools (an edit invalidates every cached read of the
        file even when the edit keeps its size and mtime resolution hides it).

        Returns:
            How many entries were dropped.
        """
        with self._lock:
            if paths is None:
                dropped = len(self._entries)
                self._entries.clear()
            else:
                targets = {os.path.abspath(os.fspath(p)) for p in paths}
                doomed = [k for k, e in self._entries.items() if e.paths & targets]
                for k in doomed:
                    del self._entries[k]
                dropped = len(doomed)
            self.stats.invalidated += dropped
            return dropped

    def __len__(self) -> int:
        return len(self._entries)

    def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        run: Callable[[], Any],
        *,
        reads: Iterable[str | os.PathLike[str]] | None = None,
    ) -> tuple[Any, bool]:
        """Answer from cache or run the tool and store its output.

        Returns:
            ``(output, from_cache)``.
        """
        cached = self.lookup(tool, arguments)
        if cached is not None:
            return cached, True
        if not self.cacheable(tool):
            return run(), False
        # Fingerprint before running: a file edited while the tool runs makes
        # the stored entry stale instead of silently fresh.
        if reads is None:
            reads = self._read_paths(tool, arguments)
        fingerprints = tuple(FileFingerprint.of(p) for p in reads)
        output = run()
        self._put(tool, normalise_arguments(arguments), output, fingerprints)
        return output, False


def hive_expand(handle: str, *, expand: Callable[[str], str] | None = None) -> str:
    """Return the original content behind a compression handle, byte for byte.

    Args:
        handle: The handle printed in a compression stub.
        expand: The expander (default ``hive_middleware.compression.expand``).

    Raises:
        HiveNotFoundError: the handle is unknown (raised by the expander).
    """
    if expand is None:
        from hive_middleware import compression

        expand = compression.expand
    return expand(handle.strip())


def hive_expand_tool(expand: Callable[[str], str] | None = None) -> Any:
    """A LangChain tool ``hive_expand(handle)`` any agent can be given.

    An unknown handle comes back as a tool error message (the agent can recover),
    never as a crash of the graph.

    Args:
        expand: The expander (e.g. ``stack.expand``); default the compression module's.
    """
    from langchain_core.tools import StructuredTool

    from hive_middleware.compression.artifacts import HANDLE_PREFIX, make_handle
    from hive_middleware.errors import HiveError

    example = make_handle("an example original")  # the real format, never a made-up one
    width = len(example) - len(HANDLE_PREFIX)

    def _run(handle: str) -> str:
        try:
            return hive_expand(handle, expand=expand)
        except HiveError as exc:
            return f"hive_expand error: {exc.message}"

    return StructuredTool.from_function(
        func=_run,
        name=HIVE_EXPAND_TOOL_NAME,
        description=(
            "Get back the full original text of content that Hive compressed away. "
            f"Pass the handle shown in the stub: '{HANDLE_PREFIX}' followed by {width} hex digits, "
            f"e.g. hive_expand(handle='{example}')."
        ),
    )
