"""The Markdown summary and pictures of ``hive eval compress``.

The summary's folder-by-shape table marks every row where the engine does not
beat both compressing baselines. The engine *beats* a baseline in a row when
its ``token_ratio`` is lower and its ``identifier_retention`` is not lower.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hive_middleware.markdown import markdown_table

__all__ = [
    "COMPARED_BASELINES",
    "beats",
    "compress_markdown",
    "compress_plot",
    "method_entries",
    "shortfalls",
    "tradeoff_plot",
]

COMPARED_BASELINES = ("last_5_masking", "keep_3_clearing")
"""The compressing baselines every row compares the engine with."""

_FIGURES = ("token_ratio", "identifier_retention", "anchor_retention", "anchor_retention_expandable")


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def method_entries(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(name, entry)`` for the engine (when measured) then every baseline."""
    entries: list[tuple[str, Mapping[str, Any]]] = []
    if result.get("engine"):
        entries.append((str(result["engine"]), result))
    entries += list(result["baselines"].items())
    return entries


def beats(engine: Mapping[str, Any], baseline: Mapping[str, Any]) -> bool:
    """Whether ``engine`` has a lower token ratio and an identifier retention at least the baseline's."""
    er, br = engine.get("token_ratio"), baseline.get("token_ratio")
    ei, bi = engine.get("identifier_retention"), baseline.get("identifier_retention")
    if er is None or br is None or er >= br:
        return False
    return ei is None or bi is None or ei >= bi


def shortfalls(engine: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the engine loses on, against each compared baseline (empty: it beats both)."""
    lost: list[str] = []
    for name in COMPARED_BASELINES:
        base = baselines.get(name)
        if base is None or beats(engine, base):
            continue
        if (engine.get("token_ratio") or 0.0) >= (base.get("token_ratio") or 0.0):
            lost.append(f"token_ratio vs {name}")
        else:
            lost.append(f"identifier_retention vs {name}")
    return lost


def _cell(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "n/a"
    return " / ".join(_fmt(entry.get(k)) for k in _FIGURES)


def _scoped(entry: Mapping[str, Any], shape: str, group: str | None) -> Mapping[str, Any] | None:
    per_shape = (entry.get("per_shape") or {}).get(shape)
    if per_shape is None:
        return None
    return per_shape if group is None else (per_shape.get("per_group") or {}).get(group)


def _folder_rows(result: Mapping[str, Any]) -> list[list[Any]]:
    engine_name = result.get("engine")
    baselines = result["baselines"]
    shapes: Sequence[str] = result.get("shapes") or [result.get("shape", "string")]
    first = baselines.get(COMPARED_BASELINES[0]) or next(iter(baselines.values()))
    groups = list(((first.get("per_shape") or {}).get(shapes[0]) or {}).get("per_group") or {})
    rows: list[list[Any]] = []
    for group in [None, *groups]:
        for shape in shapes:
            engine = _scoped(result, shape, group) if engine_name else None
            bases = {n: _scoped(baselines[n], shape, group) for n in COMPARED_BASELINES if n in baselines}
            if engine is None:
                verdict = "n/a"
            else:
                lost = shortfalls(engine, {n: b for n, b in bases.items() if b})
                verdict = "yes" if not lost else "**NO**: " + ", ".join(lost)
            n_steps = (engine or next((b for b in bases.values() if b), {}) or {}).get("n_steps")
            rows.append(
                [group or "all", shape, _cell(engine), *(_cell(bases.get(n)) for n in COMPARED_BASELINES),
                 verdict, n_steps]
            )  # fmt: skip
    return rows


def _kind_rows(result: Mapping[str, Any]) -> list[list[Any]]:
    entries = [(n, e) for n, e in method_entries(result) if n != "raw"]
    kinds: dict[str, int] = {}
    for _, entry in entries:
        for kind, figures in (entry.get("anchor_retention_by_kind") or {}).items():
            kinds[kind] = figures["n"]
    rows: list[list[Any]] = []
    for kind, n in kinds.items():
        cells = []
        for _, entry in entries:
            k = (entry.get("anchor_retention_by_kind") or {}).get(kind) or {}
            cells.append(f"{_fmt(k.get('anchor_retention'))} / {_fmt(k.get('anchor_retention_expandable'))}")
        rows.append([kind, n, *cells])
    return rows


def _tradeoff_section(tradeoff: Mapping[str, Any]) -> str:
    rows: list[list[Any]] = [
        [f"Hive {p['label']}", *(_fmt(p.get(k)) for k in _FIGURES)] for p in tradeoff["hive"]
    ]
    rows += [[name, *(_fmt(p.get(k)) for k in _FIGURES)] for name, p in tradeoff["baselines"].items()]
    lines = [
        "\n## Trade-off: token_ratio vs anchor_retention\n\n",
        f"{tradeoff['n_runs']} runs ({tradeoff['runs_per_path'] or 'all'} per --data path), "
        f"{tradeoff['n_steps']} steps, {tradeoff['shape']} shape; picture: `compress_tradeoff.png`.\n\n",
        markdown_table(["setting", *_FIGURES], rows),
        "\nTarget: Hive's curve at or above each baseline point.\n\n",
    ]
    for name, target in tradeoff["targets"].items():
        met = {True: "met", False: "**NOT met**", None: "n/a"}[target["met"]]
        lines.append(
            f"- {name} ({_fmt(target['token_ratio'])}, {_fmt(target['anchor_retention'])}): {met}; "
            f"curve at that token ratio {_fmt(target['curve_at_token_ratio'])}; settings with no more tokens "
            f"and at least its anchor retention: {', '.join(target['dominating_settings']) or 'none'}\n"
        )
    return "".join(lines)


def compress_markdown(result: Mapping[str, Any]) -> str:
    """The Markdown summary of a compression evaluation (with its trade-off, when measured)."""
    rows = [
        [name, *(_fmt(entry.get(k)) for k in _FIGURES), _fmt((entry.get("ms_per_step") or {}).get("p50"))]
        for name, entry in method_entries(result)
    ]
    parts = [
        "# Compression evaluation\n\n",
        f"{result['n_runs']} runs, {result['n_steps']} steps; tokens counted for `{result['model']}`; "
        f"top-level figures: {result.get('shape', 'string')} shape.\n\n",
        markdown_table(["method", *_FIGURES, "ms/step p50"], rows),
    ]
    if not result.get("engine"):
        parts.append(f"\nEngine: not measured ({result.get('note', 'no engine')}).\n")
    if result.get("skipped"):
        skipped = ", ".join(f"{reason}: {n}" for reason, n in result["skipped"].items())
        parts.append(f"\nSkipped malformed records: {skipped}.\n")
    parts += [
        "\n## Per folder and shape\n\n",
        "Each cell: token_ratio / identifier_retention / anchor_retention / anchor_retention_expandable. "
        "Hive beats a baseline when its token_ratio is lower and its identifier_retention not lower; "
        "rows where it does not beat both are marked **NO**.\n\n",
        markdown_table(
            ["folder", "shape", "Hive", *COMPARED_BASELINES, "Hive beats both", "steps"], _folder_rows(result)
        ),
    ]
    kind_rows = _kind_rows(result)
    if kind_rows:
        names = [n for n, _ in method_entries(result) if n != "raw"]
        parts += [
            f"\n## Anchors by kind ({result.get('shape', 'string')} shape)\n\n",
            "Each cell: anchor_retention / anchor_retention_expandable.\n\n",
            markdown_table(["kind", "anchors", *names], kind_rows),
        ]
    if result.get("tradeoff"):
        parts.append(_tradeoff_section(result["tradeoff"]))
    return "".join(parts)


def compress_plot(result: Mapping[str, Any]) -> Callable[[Any], None]:
    """Grouped bars of token_ratio, identifier_retention and anchor_retention per folder and method."""

    def draw(fig: Any) -> None:
        entries = method_entries(result)
        groups = sorted({g for _, e in entries for g in (e.get("per_group") or {})})
        width = 0.8 / max(1, len(entries))
        keys = ("token_ratio", "identifier_retention", "anchor_retention")
        for col, key in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), col + 1)
            for j, (name, entry) in enumerate(entries):
                per = entry.get("per_group") or {}
                values = [(per.get(g) or {}).get(key) or 0.0 for g in groups]
                ax.bar([i + j * width for i in range(len(groups))], values, width, label=name)
            ax.set_xticks([i + width * (len(entries) - 1) / 2 for i in range(len(groups))])
            ax.set_xticklabels(
                [g.replace("msb_java_sweagent_", "java/") for g in groups],
                rotation=30,
                ha="right",
                fontsize=7,
            )
            ax.set_title(key, fontsize=9)
            ax.set_ylim(0, 1.05)
            if col == 0:
                ax.legend(fontsize=6)

    return draw


def _short_label(label: str) -> str:
    for name, short in (
        ("keep_recent_turns=", "keep "),
        ("drop_after_turns=", "drop "),
        ("recent_max_chars=", "rmc "),
    ):
        label = label.replace(name, short)
    return label


def tradeoff_plot(tradeoff: Mapping[str, Any]) -> Callable[[Any], None]:
    """Hive's settings as a line, the baselines as points: token_ratio (x) vs anchor_retention (y)."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        points = sorted(
            (
                p
                for p in tradeoff["hive"]
                if p.get("token_ratio") is not None and p.get("anchor_retention") is not None
            ),
            key=lambda p: p["token_ratio"],
        )
        xs = [p["token_ratio"] for p in points]
        ax.plot(
            xs,
            [p["anchor_retention"] for p in points],
            marker="o",
            color="C0",
            label="Hive (anchor_retention)",
        )
        expandable = [p.get("anchor_retention_expandable") for p in points]
        if all(v is not None for v in expandable):
            ax.plot(xs, expandable, marker=".", linestyle="--", color="C0", alpha=0.5,
                    label="Hive (visible or one hive_expand away)")  # fmt: skip
        labels: dict[tuple[float, float], list[str]] = {}
        for p in points:
            labels.setdefault((p["token_ratio"], p["anchor_retention"]), []).append(_short_label(p["label"]))
        for k, ((x, y), names) in enumerate(labels.items()):
            ax.annotate(" = ".join(names), (x, y), fontsize=6, textcoords="offset points",
                        xytext=(4, -10 if k % 2 else 5))  # fmt: skip
        for i, (name, p) in enumerate(tradeoff["baselines"].items()):
            if p.get("token_ratio") is not None and p.get("anchor_retention") is not None:
                ax.scatter([p["token_ratio"]], [p["anchor_retention"]], marker="s", s=50, color=f"C{i + 1}",
                           label=name, zorder=3)  # fmt: skip
        ax.set_xlabel("token_ratio (compressed / raw input tokens)")
        ax.set_ylabel("anchor_retention")
        ax.set_title(
            f"token ratio vs anchor retention ({tradeoff['n_runs']} runs, {tradeoff['n_steps']} steps)"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")

    return draw
