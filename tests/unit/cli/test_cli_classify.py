"""`hive eval classify`: per-type precision/recall of the content-type rules on labelled observations."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hive_middleware.cli.main import app

runner = CliRunner()
SAMPLE = Path(__file__).parents[2] / "fixtures" / "compression" / "labelled_observations.jsonl"


def test_classify_scores_the_labelled_sample(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["eval", "classify", "--labels", str(SAMPLE), "--out", str(out), "--split", "heldout"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "classify.json").read_text())
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    assert payload["n"] == sum(1 for r in rows if r.get("split") == "heldout")
    assert 0.0 < payload["accuracy"] <= 1.0
    assert sum(v["support"] for v in payload["per_type"].values()) == payload["n"]
    assert (out / "classify.md").is_file() and (out / "classify.png").is_file()


def test_wrong_labels_are_counted_as_errors(tmp_path: Path) -> None:
    labels = tmp_path / "l.jsonl"
    traceback = 'Traceback (most recent call last):\n  File "a.py", line 1, in <module>\nValueError: boom\n'
    labels.write_text(json.dumps({"label": "file_view", "observation": traceback}) + "\n")
    result = runner.invoke(app, ["eval", "classify", "--labels", str(labels), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "o" / "classify.json").read_text())
    assert payload["accuracy"] == 0.0
    assert payload["per_type"]["file_view"]["recall"] == 0.0


def test_bad_label_file_and_empty_split_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": "nonsense", "observation": "x"}\n')
    result = runner.invoke(app, ["eval", "classify", "--labels", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    result = runner.invoke(
        app, ["eval", "classify", "--labels", str(SAMPLE), "--out", str(tmp_path / "o"), "--split", "nope"]
    )
    assert result.exit_code != 0
