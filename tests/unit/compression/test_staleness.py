"""STALE: covered file views and re-run commands."""

from __future__ import annotations

from hive_middleware.compression.content_types import ContentType
from hive_middleware.compression.staleness import ViewRegion, find_stale, view_region


def _view(path: str, start: int, end: int, tag: str = "") -> str:
    lines = "\n".join(f"{n:6d}\tcode {n} {tag}" for n in range(start, end + 1))
    return f"Here's the result of running `cat -n` on {path}:\n{lines}"


def test_view_region_parses_both_formats() -> None:
    assert view_region(_view("/a/x.py", 10, 20)) == ViewRegion("/a/x.py", 10, 20)
    v0 = "[File: /r/Foo.java (300 lines total)]\n(9 more lines above)\n10:class Foo {\n11:}\n"
    assert view_region(v0) == ViewRegion("/r/Foo.java", 10, 11)
    assert view_region("plain output") is None


def test_older_view_covered_by_a_later_one_is_stale() -> None:
    bodies = [_view("/a/x.py", 10, 20), None, _view("/a/x.py", 1, 50), _view("/a/y.py", 1, 50)]
    types = [ContentType.FILE_VIEW, None, ContentType.FILE_VIEW, ContentType.FILE_VIEW]
    stale = find_stale(bodies, types, ["v", None, "v2", "v3"], similarity=90)
    assert stale == {0: 2}


def test_partial_overlap_is_not_stale_unless_near_identical() -> None:
    a = _view("/a/x.py", 1, 40)
    b = _view("/a/x.py", 20, 60, tag="different text here")
    types = [ContentType.FILE_VIEW, ContentType.FILE_VIEW]
    assert find_stale([a, b], types, ["x", "y"], similarity=90) == {}
    near = _view("/a/x.py", 1, 41)
    assert find_stale([a, near], types, ["x", "y"], similarity=90) == {0: 1}


def test_same_command_rerun_makes_older_runs_stale_to_the_newest() -> None:
    bodies = ["fail 1", "x", "fail 2", "ok"]
    types = [ContentType.COMMAND_OUTPUT] * 4
    actions = ["python  repro.py", "ls", "python repro.py", "python repro.py"]
    assert find_stale(bodies, types, actions, similarity=90) == {0: 3, 2: 3}


def test_scrolling_the_same_view_command_is_judged_by_region() -> None:
    bodies = [_view("/a/x.py", 1, 100), _view("/a/x.py", 101, 200)]
    types = [ContentType.FILE_VIEW, ContentType.FILE_VIEW]
    assert find_stale(bodies, types, ["scroll_down", "scroll_down"], similarity=90) == {}
