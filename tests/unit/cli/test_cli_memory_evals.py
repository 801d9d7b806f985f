"""`hive eval locomo` and `hive eval long-horizon`: outputs, keys, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "long_horizon"
runner = CliRunner()


@pytest.fixture
def locomo_slice(shared_data: Path, tmp_path: Path) -> Path:
    raw = json.loads((shared_data / "locomo" / "locomo_dev.json").read_text())
    path = tmp_path / "slice.json"
    path.write_text(json.dumps(raw[:2]))
    return path


def test_locomo_writes_design_keys(locomo_slice: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["eval", "locomo", "--data", str(locomo_slice), "--k", "5,10", "--baselines", "bm25", "--no-engine",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "locomo.json").read_text())
    assert set(payload) == {
        "engine", "recall_at_k", "by_category", "adversarial", "baselines", "ablations", "latency_ms", "n_questions",
        "skipped",
    }  # fmt: skip
    assert all(isinstance(n, int) and n > 0 for n in payload["skipped"].values())
    assert payload["ablations"] == {}
    assert payload["engine"] is None and payload["recall_at_k"] is None
    bm25 = payload["baselines"]["bm25"]
    assert set(bm25["recall_at_k"]) == {"5", "10"}
    assert set(bm25["by_category"]) == {"multi_hop", "temporal", "open_domain", "single_hop"}
    assert bm25["latency_ms"]["p95"] >= bm25["latency_ms"]["p50"] > 0
    assert (out / "locomo.md").read_text().startswith("# LoCoMo")
    assert (out / "locomo.png").stat().st_size > 0


def test_locomo_ablations_search_the_engine_store_with_signals_off(
    locomo_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["eval", "locomo", "--data", str(locomo_slice), "--k", "5,10", "--baselines", "bm25",
         "--ablate", "author, author+date", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "locomo.json").read_text())
    assert list(payload["ablations"]) == ["hive-memory without author", "hive-memory without author+date"]
    for variant in payload["ablations"].values():
        assert set(variant["recall_at_k"]) == {"5", "10"}
    # Switching the author signal off changes the ranking of questions that name a speaker.
    assert payload["ablations"]["hive-memory without author"]["recall_at_k"] != payload["recall_at_k"]
    assert "hive-memory without author+date" in (out / "locomo.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--ablate", "colour"], "unknown search signal 'colour'"), (["--ablate", "author", "--no-engine"], "--ablate")],
)
def test_locomo_bad_ablation_exits_2(
    locomo_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")
    argv = ["eval", "locomo", "--data", str(locomo_slice), "--baselines", "bm25", "--out", str(tmp_path), *args]
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert message in " ".join(proc.stderr.split())
    assert not (tmp_path / "locomo.json").exists()


def test_long_horizon_writes_design_keys(tmp_path: Path) -> None:
    out = tmp_path / "lh"
    result = runner.invoke(
        app,
        ["eval", "long-horizon", "--dialogue", str(EXAMPLE / "dialogue.json"), "--questions",
         str(EXAMPLE / "questions.json"), "--no-engine", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "long_horizon.json").read_text())
    assert set(payload) == {"engine", "hit_rate", "by_category", "current_first", "baselines", "skipped"}
    assert set(payload["baselines"]) == {"bm25"}
    assert 0.0 < payload["baselines"]["bm25"]["hit_rate"] <= 1.0
    assert (out / "long_horizon.png").exists() and (out / "long_horizon.md").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "locomo", "--data", "{missing}", "--baselines", "bm25", "--out", "{out}"], "does not exist"),
        (["eval", "locomo", "--data", "{bad}", "--baselines", "bm25", "--out", "{out}"], "not valid JSON"),
        (["eval", "locomo", "--data", "{bad}", "--k", "5,x", "--out", "{out}"], "--k"),
        (["eval", "locomo", "--data", "{bad}", "--baselines", "dragon", "--out", "{out}"], "--baselines"),
        (["eval", "long-horizon", "--dialogue", "{bad}", "--questions", "{bad}", "--out", "{out}"], "not valid JSON"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    paths = {"missing": str(tmp_path / "missing.json"), "bad": str(bad), "out": str(tmp_path / "o")}
    argv = [a.format(**paths) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert message in " ".join(proc.stderr.split())
    assert not (tmp_path / "o" / "locomo.json").exists()


def test_long_horizon_skips_an_empty_rubric_and_reports_it(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "long_horizon"
    questions = json.loads((examples / "questions.json").read_text())
    questions[0]["rubric"]["required_keywords"] = []
    qpath = tmp_path / "q.json"
    qpath.write_text(json.dumps(questions))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "eval", "long-horizon", "--dialogue",
         str(examples / "dialogue.json"), "--questions", str(qpath), "--baselines", "bm25", "--no-engine",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    payload = json.loads((out / "long_horizon.json").read_text())
    assert payload["skipped"] == {"rubric.required_keywords: is empty: nothing to score the question by": 1}
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: skipped")]
    assert warnings == ["warning: skipped q.json: [0].rubric.required_keywords is empty: nothing to score the question by"]
    # nothing usable: exit 2, one line
    qpath.write_text(json.dumps([{**questions[0]}]))
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "eval", "long-horizon", "--dialogue",
         str(examples / "dialogue.json"), "--questions", str(qpath), "--baselines", "bm25", "--no-engine",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no usable question" in errors[0]
