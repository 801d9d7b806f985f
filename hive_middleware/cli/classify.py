"""``hive eval classify``: per-type precision and recall of the content-type rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hive_middleware.cli.app import eval_app


@eval_app.command("classify")
def classify_command(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="Labelled observations, JSON lines with 'label' and 'observation' "
            "(the project's sample: tests/fixtures/compression/labelled_observations.jsonl).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for classify.json, .md and .png.")],
    split: Annotated[
        str | None,
        typer.Option("--split", help="Score only rows whose 'split' field has this value (e.g. 'heldout')."),
    ] = None,
) -> None:
    """Score the content-type rules against hand labels: accuracy, per-type precision/recall, confusions.

    Writes OUT/classify.json {n, accuracy, per_type {type: {precision, recall, support}}, confusion},
    classify.md and classify.png. Exits with status 2 on a missing or malformed label file, or a
    split that selects no rows.
    """
    from rich.console import Console

    from hive_middleware.cli.evals_traj import print_table
    from hive_middleware.compression.eval_classifier import eval_classifier, load_labelled
    from hive_middleware.errors import HiveUsageError
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table

    rows = load_labelled(labels)
    if split is not None:
        rows = [r for r in rows if r.get("split") == split]
        if not rows:
            raise HiveUsageError(
                f"--split {split!r}: no row of {labels} has that split; check the 'split' field"
            )
    result: dict[str, Any] = {"labels": str(labels), "split": split, **eval_classifier(rows)}
    per_type = result["per_type"]
    table = [[t, v["precision"], v["recall"], v["support"]] for t, v in per_type.items()]
    markdown = (
        f"# hive eval classify\n\n{result['n']} observations, accuracy {result['accuracy']:.4f}\n\n"
        + markdown_table(["type", "precision", "recall", "support"], table)
    )

    def plot(fig: Any) -> None:
        ax = fig.subplots()
        names = list(per_type)
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [per_type[n]["precision"] or 0 for n in names], 0.4, label="precision")
        ax.bar([x + 0.2 for x in xs], [per_type[n]["recall"] or 0 for n in names], 0.4, label="recall")
        ax.set_xticks(list(xs), names, rotation=45, ha="right")
        ax.set_ylim(0, 1.05)
        ax.legend()
        ax.set_title(f"content-type rules on {result['n']} labelled observations")
        fig.tight_layout()

    paths = write_report(out, "classify", result, markdown, plot)
    print_table(
        f"classification: {result['n']} observations, accuracy {result['accuracy']:.4f}",
        ["type", "precision", "recall", "support"],
        table,
    )
    Console(stderr=True).print(f"wrote {', '.join(str(p) for p in paths.values())}")
