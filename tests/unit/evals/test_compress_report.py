"""The Markdown summary of hive eval compress: which rows the engine does not win."""

from __future__ import annotations

from typing import Any

from hive_middleware.evals.compress_report import beats, compress_markdown, shortfalls


def _entry(ratio: float, ident: float, anchor: float = 0.9) -> dict[str, Any]:
    figures = {"token_ratio": ratio, "identifier_retention": ident, "anchor_retention": anchor,
               "anchor_retention_expandable": anchor, "n_steps": 10, "n_runs": 1}  # fmt: skip
    return {**figures, "anchor_retention_by_kind": {"search": {"n": 2, "anchor_retention": anchor,
            "anchor_retention_expandable": anchor}}}  # fmt: skip


def _method(per: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """A method entry from ``{shape: {group: figures}}`` (the first group is also the total)."""
    top = next(iter(next(iter(per.values())).values()))
    shapes = {
        s: {**next(iter(groups.values())), "per_group": groups, "ms_per_step": {}}
        for s, groups in per.items()
    }
    return {
        **top,
        "per_group": shapes["string"]["per_group"],
        "ms_per_step": {"p50": 1.0},
        "per_shape": shapes,
    }


def test_beats_and_shortfalls() -> None:
    assert beats(_entry(0.3, 0.99), _entry(0.4, 0.98))
    assert not beats(_entry(0.3, 0.97), _entry(0.4, 0.98))
    assert not beats(_entry(0.5, 0.99), _entry(0.4, 0.98))
    baselines = {"last_5_masking": _entry(0.4, 0.98), "keep_3_clearing": _entry(0.25, 0.95)}
    assert shortfalls(_entry(0.3, 0.99), baselines) == ["token_ratio vs keep_3_clearing"]
    assert shortfalls(_entry(0.2, 0.99), baselines) == []


def _both_shapes(string: dict[str, Any], parts: dict[str, Any]) -> dict[str, Any]:
    return _method({"string": {"a": string, "b": string}, "parts": {"a": parts, "b": parts}})


def test_rows_where_hive_does_not_beat_both_are_marked() -> None:
    result: dict[str, Any] = _both_shapes(_entry(0.3, 0.99), _entry(1.0, 1.0))
    result.update(
        engine="hive", shape="string", shapes=["string", "parts"], n_runs=2, n_steps=20, model="gpt-4o"
    )
    result["baselines"] = {
        "last_5_masking": _both_shapes(_entry(0.4, 0.98), _entry(0.4, 0.98)),
        "keep_3_clearing": _both_shapes(_entry(0.35, 0.97), _entry(0.35, 0.97)),
    }
    text = compress_markdown(result)
    rows = [line for line in text.splitlines() if "| string |" in line or "| parts |" in line]
    assert len(rows) == 6  # all, a, b x two shapes
    assert all("| yes |" in r for r in rows if "| string |" in r)
    lost = "**NO**: token_ratio vs last_5_masking, token_ratio vs keep_3_clearing"
    assert all(lost in r for r in rows if "| parts |" in r)
    assert "0.300 / 0.990 / 0.900 / 0.900" in text
    assert "## Anchors by kind" in text
