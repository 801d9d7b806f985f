"""`hive eval compress` end to end: shapes, both baselines, anchors and the trade-off picture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hive_middleware.cli.main  # noqa: F401  (registers every command)
from hive_middleware.cli.app import app
from hive_middleware.errors import HiveUsageError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "transcripts"
FIGURES = ("token_ratio", "identifier_retention", "anchor_retention", "anchor_retention_expandable")
runner = CliRunner()


def _invoke(*args: str) -> int:
    result = runner.invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def test_compress_reports_shapes_baselines_and_tradeoff(tmp_path: Path) -> None:
    code = _invoke("eval", "compress", "--data", str(EXAMPLE), "--out", str(tmp_path), "--tradeoff-runs", "2")
    assert code == 0
    payload = json.loads((tmp_path / "compress.json").read_text())
    assert {"token_ratio", "identifier_retention", "baselines", "per_group", "ms_per_step"} <= set(payload)
    assert set(payload["baselines"]) == {"last_5_masking", "keep_3_clearing", "raw"}
    entries = (
        [payload, *payload["baselines"].values()]
        if payload["engine"]
        else list(payload["baselines"].values())
    )
    for entry in entries:
        assert set(FIGURES) <= set(entry)
        assert set(entry["per_shape"]) == {"string", "parts"}
        for shape in entry["per_shape"].values():
            assert set(FIGURES) <= set(shape) and set(shape["per_group"]) == {"transcripts"}
    raw = payload["baselines"]["raw"]
    assert raw["per_shape"]["parts"]["token_ratio"] == raw["per_shape"]["string"]["token_ratio"] == 1.0
    markdown = (tmp_path / "compress.md").read_text()
    assert "## Per folder and shape" in markdown and "keep_3_clearing" in markdown
    assert (tmp_path / "compress.png").stat().st_size > 1000
    if payload["engine"] is None:
        assert "tradeoff" not in payload
        return
    tradeoff = payload["tradeoff"]
    assert len(tradeoff["hive"]) >= 4 and set(tradeoff["baselines"]) == {"last_5_masking", "keep_3_clearing"}
    assert set(tradeoff["targets"]) == {"last_5_masking", "keep_3_clearing"}
    assert "## Trade-off" in markdown
    assert (tmp_path / "compress_tradeoff.png").stat().st_size > 1000


def test_compress_one_shape_and_no_tradeoff(tmp_path: Path) -> None:
    code = _invoke(
        "eval", "compress", "--data", str(EXAMPLE), "--out", str(tmp_path), "--shapes", "parts",
        "--tradeoff-runs", "0",
    )  # fmt: skip
    assert code == 0
    payload = json.loads((tmp_path / "compress.json").read_text())
    assert payload["shape"] == "parts" and payload["shapes"] == ["parts"]
    assert "tradeoff" not in payload and not (tmp_path / "compress_tradeoff.png").exists()


def test_compress_refuses_an_unknown_shape(tmp_path: Path) -> None:
    with pytest.raises(HiveUsageError, match="--shapes"):
        _invoke("eval", "compress", "--data", str(EXAMPLE), "--out", str(tmp_path), "--shapes", "blocks")
    assert not (tmp_path / "compress.json").exists()


def test_compress_counts_skipped_records(tmp_path: Path) -> None:
    data = tmp_path / "runs"
    data.mkdir()
    for run in EXAMPLE.glob("*.traj"):
        (data / run.name).write_bytes(run.read_bytes())
    (data / "broken.traj").write_text("{}")
    code = _invoke(
        "eval", "compress", "--data", str(data), "--out", str(tmp_path / "o"), "--tradeoff-runs", "0",
    )  # fmt: skip
    assert code == 0
    payload = json.loads((tmp_path / "o" / "compress.json").read_text())
    assert sum(payload["skipped"].values()) == 1
    assert "Skipped malformed records" in (tmp_path / "o" / "compress.md").read_text()
