"""The Markdown summary and the hit-rate-vs-k plot of ``hive eval speculate``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hive_middleware.markdown import markdown_table

__all__ = ["speculate_markdown", "speculate_plot"]

_COLUMNS = ("read_only_steps", "hit_rate", "tool_seconds_saved_ratio", "wasted_executions_per_step")


def _cell(value: Any) -> Any:
    return "n/a" if value is None else value


def _row(name: str, entry: Mapping[str, Any]) -> list[Any]:
    return [name, entry["n_runs"], entry["n_steps"], *(_cell(entry[c]) for c in _COLUMNS)]


def speculate_markdown(result: Mapping[str, Any]) -> str:
    """The human summary: headline figures overall and per folder, the k curve, types and rules."""
    k = result["k"]
    latency = result.get("predict_us") or {}
    groups: Mapping[str, Mapping[str, Any]] = result.get("per_group") or {}
    header = ["folder", "runs", "steps", "read-only steps", f"hit rate (k={k})", "tool seconds saved",
              "wasted executions / step"]
    parts = [
        "# Speculative pre-execution of read-only tool calls\n\n",
        f"At every step the predictor proposes up to k read-only commands from the state before the step; "
        f"a read-only step is a hit when the agent's action equals one of the top {k} after whitespace "
        f"normalisation. Read-only types: {', '.join(result['read_only_types'])}. "
        f"Habit proposals: {'on' if result.get('habits') else 'off'}. "
        f"One prediction: p50 {latency.get('p50')} us, p95 {latency.get('p95')} us.\n\n",
        markdown_table(header, [_row("all", result), *(_row(g, e) for g, e in groups.items())]),
        f"\nTool times: {result['timing_source']}.\n",
        "\n## Hit rate by k\n\n",
    ]
    ks = list(result["hit_rate_by_k"])
    curve_rows = [["all", *(_cell(result["hit_rate_by_k"][x]) for x in ks)]]
    curve_rows += [[g, *(_cell(e["hit_rate_by_k"][x]) for x in ks)] for g, e in groups.items()]
    parts.append(markdown_table(["folder", *(f"k={x}" for x in ks)], curve_rows))
    parts.append("\n## Hits by read-only type (all folders)\n\n")
    parts.append(markdown_table(
        ["type", "steps", f"hit rate (k={k})"],
        [[t, v["steps"], v["hit_rate"]] for t, v in result["by_type"].items()],
    ))
    parts.append("\n## Which rule proposed the hits (all folders)\n\n")
    parts.append(markdown_table(["rule", "hits"], [[r, n] for r, n in result["by_rule"].items()]))
    if result.get("skipped"):
        skipped = ", ".join(f"{reason}: {n}" for reason, n in result["skipped"].items())
        parts.append(f"\nSkipped malformed records: {skipped}.\n")
    return "".join(parts)


def speculate_plot(result: Mapping[str, Any]) -> Callable[[Any], None]:
    """Hit rate against k, one line per folder and one for all folders."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        series = [("all", result), *(result.get("per_group") or {}).items()]
        for i, (name, entry) in enumerate(series):
            curve = entry["hit_rate_by_k"]
            points = [(int(x), y) for x, y in curve.items() if y is not None]
            if not points:
                continue
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=f"C{i}",
                    linewidth=2.5 if name == "all" else 1.2,
                    label=f"{name} ({entry['read_only_steps']} read-only steps)")
        ax.set_xlabel("k (read-only calls pre-executed per step)")
        ax.set_ylabel("hit rate")
        ax.set_xticks(sorted({int(x) for x in result["hit_rate_by_k"]}))
        ax.set_ylim(0, 1.0)
        ax.set_title("speculative pre-execution: next read-only action among the top k")
        ax.legend(fontsize=7)

    return draw
