"""Writing evaluation and benchmark reports: JSON (machine-read), Markdown, PNG.

Every ``hive eval``/``hive bench`` command writes ``OUT/<name>.json`` plus a
Markdown summary beside it and, where a picture helps, ``OUT/<name>.png``.
Tables come from :mod:`hive_middleware.markdown`, percentiles from
:mod:`hive_middleware.stats`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError

__all__ = ["write_report"]


def write_report(
    out_dir: str | Path,
    name: str,
    payload: Mapping[str, Any],
    markdown: str,
    plot: Callable[[Any], None] | None = None,
) -> dict[str, Path]:
    """Write ``name.json``, ``name.md`` and (if ``plot``) ``name.png`` under ``out_dir``.

    Args:
        out_dir: Output directory, created if missing.
        name: Base file name (``locomo``, ``bench_memory`` ...).
        payload: JSON-serialisable results; keys follow DESIGN §3.
        markdown: The human summary.
        plot: Called with a matplotlib ``Figure`` to draw on; saved as PNG.

    Returns:
        The paths written, by extension.

    Raises:
        HiveDataError: ``out_dir`` exists and is not a directory.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    json_path = out / f"{name}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_jsonable) + "\n")
    tmp.replace(json_path)
    written["json"] = json_path
    md_path = out / f"{name}.md"
    md_path.write_text(markdown)
    written["md"] = md_path
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8, 4.5), dpi=110)
        try:
            plot(fig)
            fig.tight_layout()
            png = out / f"{name}.png"
            fig.savefig(png)
            written["png"] = png
        finally:
            plt.close(fig)
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
