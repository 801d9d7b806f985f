"""Per-type precision and recall of the content-type rules on a labelled sample.

The sample is a JSON-lines file, one observation per line:
``{"label": "<ContentType value>", "observation": "<text>", ...}`` (other keys
are kept for provenance and ignored here). The project's own sample lives in
``tests/fixtures/compression/labelled_observations.jsonl``: real SWE-agent
observations, excerpted to their first 600 characters and labelled by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hive_middleware.compression.content_types import ContentType, classify_output
from hive_middleware.errors import HiveDataError

__all__ = ["eval_classifier", "load_labelled"]


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Read a labelled sample (see the module doc).

    Raises:
        HiveDataError: the file is missing, a line is not JSON, or a label is unknown.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HiveDataError(f"{p}: cannot read the labelled sample ({exc})", path=str(p)) from exc
    rows: list[dict[str, Any]] = []
    known = {t.value for t in ContentType}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise HiveDataError(f"{p}:{n}: not JSON ({exc})", path=str(p), field=f"line {n}") from exc
        if not isinstance(row, dict) or row.get("label") not in known or not isinstance(row.get("observation"), str):
            raise HiveDataError(
                f"{p}:{n}: needs a 'label' (one of {sorted(known)}) and an 'observation' string",
                path=str(p),
                field=f"line {n}",
            )
        rows.append(row)
    return rows


def eval_classifier(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Classify each observation and score the rules against the labels.

    Args:
        rows: Items with ``label`` and ``observation``.

    Returns:
        ``{"n", "accuracy", "per_type": {type: {"precision", "recall", "support"}},
        "confusion": {"label->predicted": count}}``; precision is ``None`` for a
        type never predicted, recall ``None`` for a type never labelled.
    """
    pairs = [(str(r["label"]), classify_output(str(r["observation"])).value) for r in rows]
    per_type: dict[str, dict[str, Any]] = {}
    types = sorted({lab for lab, _ in pairs} | {pred for _, pred in pairs})
    for t in types:
        tp = sum(1 for lab, pred in pairs if lab == t and pred == t)
        predicted = sum(1 for _, pred in pairs if pred == t)
        support = sum(1 for lab, _ in pairs if lab == t)
        per_type[t] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / support if support else None,
            "support": support,
        }
    confusion: dict[str, int] = {}
    for lab, pred in pairs:
        if lab != pred:
            confusion[f"{lab}->{pred}"] = confusion.get(f"{lab}->{pred}", 0) + 1
    correct = sum(1 for lab, pred in pairs if lab == pred)
    return {
        "n": len(pairs),
        "accuracy": correct / len(pairs) if pairs else None,
        "per_type": per_type,
        "confusion": dict(sorted(confusion.items(), key=lambda kv: -kv[1])),
    }
