"""Usage and data errors: one line on stderr, exit status 2, never wrapped at 80 columns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hive_middleware.cli.main import run


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        run(list(argv))
    code = info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("demo", "--limit", "0"), "hive demo: Invalid value for '--limit'"),
        (("eval", "locomo", "--out", "x"), "hive eval locomo: Missing option '--data'"),
        (("eval", "locomo", "--data", "x", "--out", "y", "--bogus"), "No such option: --bogus"),
        (("no-such-command",), "No such command 'no-such-command'"),
        (("eval", "route", "--data", "d", "--out", "o", "--max-runs", "many"), "Invalid value for '--max-runs'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                          expected: str) -> None:
    code, err = _run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err
    assert "--help" in err  # says where to look
    assert "Traceback" not in err


def test_data_errors_are_one_unwrapped_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / ("a-rather-long-directory-name-" * 4) / "locomo.json"
    code, err = _run(capsys, "eval", "locomo", "--data", str(missing), "--out", str(tmp_path / "out"),
                     "--no-engine", "--baselines", "bm25")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) > 80
    assert str(missing) in lines[0]


def test_help_still_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        run(["demo", "--help"])
    except SystemExit as exc:  # returning normally is exit status 0 as well
        assert exc.code in (0, None)
    assert "--limit" in capsys.readouterr().out


def test_the_installed_entry_point_reports_usage_errors_in_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "demo", "--limit", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: hive demo: Invalid value for '--limit'")
    assert "Traceback" not in proc.stderr
