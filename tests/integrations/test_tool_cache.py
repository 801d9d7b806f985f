"""Read-only tool-output cache: hits, TTL, file changes, edits, normalisation, hive_expand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hive_middleware.integrations.tool_cache import (
    HIVE_EXPAND_TOOL_NAME,
    ToolOutputCache,
    default_read_paths,
    hive_expand,
    hive_expand_tool,
    normalise_arguments,
)

from hive_middleware.errors import HiveNotFoundError, HiveValidationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _viewer(calls: list[str]):  # type: ignore[no-untyped-def]
    def run(path: Path) -> str:
        calls.append(str(path))
        return path.read_text()

    return run


def test_same_call_same_file_hits_and_a_different_call_misses(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    cache = ToolOutputCache(clock=FakeClock())
    calls: list[str] = []
    run = _viewer(calls)
    out1, hit1 = cache.call("view", {"path": str(f)}, lambda: run(f))
    out2, hit2 = cache.call("view", {"path": f"  {f} "}, lambda: run(f))
    assert (out1, hit1, out2, hit2) == ("x = 1\n", False, "x = 1\n", True)
    assert len(calls) == 1
    _, hit3 = cache.call("view", {"path": str(f), "line": 3}, lambda: run(f))
    assert hit3 is False
    assert cache.stats.hits == 1


def test_edit_changes_size_or_content_and_invalidates(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    cache = ToolOutputCache(clock=FakeClock())
    cache.store("view", {"path": str(f)}, "x = 1\n")
    assert cache.lookup("view", {"path": str(f)}) == "x = 1\n"
    f.write_text("x = 22\n")
    assert cache.lookup("view", {"path": str(f)}) is None
    assert cache.stats.stale == 1


def test_same_size_edit_with_new_mtime_is_caught_by_the_hash(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    cache = ToolOutputCache(clock=FakeClock())
    cache.store("view", {"path": str(f)}, "old")
    st = f.stat()
    f.write_text("y = 2\n")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    assert cache.lookup("view", {"path": str(f)}) is None


def test_touch_without_change_keeps_the_entry(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    cache = ToolOutputCache(clock=FakeClock())
    cache.store("view", {"path": str(f)}, "x = 1\n")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000))
    assert cache.lookup("view", {"path": str(f)}) == "x = 1\n"


def test_ttl_expires_entries() -> None:
    clock = FakeClock()
    cache = ToolOutputCache(ttl_s=10, clock=clock)
    cache.store("search", {"q": "foo"}, "hits", reads=[])
    clock.now += 9.9
    assert cache.lookup("search", {"q": "foo"}) == "hits"
    clock.now += 0.2
    assert cache.lookup("search", {"q": "foo"}) is None
    assert cache.stats.expired == 1


def test_explicit_invalidation_by_path_drops_only_dependent_entries(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("a")
    b.write_text("b")
    cache = ToolOutputCache(clock=FakeClock())
    cache.store("view", {"path": str(a)}, "A")
    cache.store("view", {"path": str(b)}, "B")
    assert cache.invalidate([a]) == 1
    assert cache.lookup("view", {"path": str(a)}) is None
    assert cache.lookup("view", {"path": str(b)}) == "B"


def test_only_read_only_tools_are_cached(tmp_path: Path) -> None:
    cache = ToolOutputCache(read_only_tools={"view"}, clock=FakeClock())
    runs: list[int] = []
    for _ in range(2):
        cache.call("edit", {"path": "x"}, lambda: runs.append(1))
    assert len(runs) == 2 and len(cache) == 0


def test_lru_bound() -> None:
    cache = ToolOutputCache(max_entries=2, clock=FakeClock())
    for i in range(3):
        cache.store("t", {"i": i}, i, reads=[])
    assert cache.lookup("t", {"i": 0}) is None
    assert cache.lookup("t", {"i": 2}) == 2


def test_normalisation_and_read_path_guessing(tmp_path: Path) -> None:
    assert normalise_arguments({"b": "x  y", "a": 1}) == normalise_arguments('{"a": 1, "b": "x y"}')
    f = tmp_path / "m.py"
    f.write_text("")
    assert default_read_paths({"command": f"cat {f} --number missing.py"}) == [str(f)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(HiveValidationError, match="ttl_s"):
        ToolOutputCache(ttl_s=0)
    with pytest.raises(HiveValidationError, match="max_entries"):
        ToolOutputCache(max_entries=0)


def test_hive_expand_tool_returns_originals_and_reports_unknown_handles() -> None:
    store = {"h1": "original\r\n bytes"}

    def expand(handle: str) -> str:
        if handle not in store:
            raise HiveNotFoundError(f"no compressed content under handle {handle!r}", key=handle)
        return store[handle]

    assert hive_expand(" h1 ", expand=expand) == "original\r\n bytes"
    tool = hive_expand_tool(expand)
    assert tool.name == HIVE_EXPAND_TOOL_NAME
    assert tool.invoke({"handle": "h1"}) == "original\r\n bytes"
    assert "no compressed content" in tool.invoke({"handle": "nope"})


def test_hive_expand_description_shows_the_real_handle_format() -> None:
    import re

    from hive_middleware.compression.artifacts import make_handle

    description = hive_expand_tool(lambda handle: handle).description
    shown = re.search(r"hive_expand\(handle='([^']+)'\)", description)
    assert shown is not None
    real = make_handle("any original text")
    assert re.fullmatch(r"h-[0-9a-f]{12}", real)
    assert len(shown.group(1)) == len(real) and shown.group(1).startswith("h-")
    assert re.fullmatch(r"h-[0-9a-f]{12}", shown.group(1))
    assert "'h-' followed by 12 hex digits" in description
