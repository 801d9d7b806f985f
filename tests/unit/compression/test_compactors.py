"""COMPACT: terminal noise goes, information stays."""

from __future__ import annotations

from hive_middleware.compression.compactors import compact


def test_ansi_codes_are_stripped() -> None:
    assert compact("\x1b[31mFAILED\x1b[0m test_a") == "FAILED test_a"


def test_carriage_return_redraws_keep_the_final_state() -> None:
    assert compact("downloading 10%\rdownloading 50%\rdownloading done\nnext") == "downloading done\nnext"


def test_windows_line_ends_are_not_redraws() -> None:
    assert compact("a\r\nb\r\n") == "a\nb\n"


def test_progress_bars_collapse_to_their_last_line() -> None:
    text = "start\n 10%|#         | 1/10\n 50%|#####     | 5/10\n100%|##########| 10/10\nend"
    assert compact(text) == "start\n100%|##########| 10/10\nend"


def test_repeated_lines_collapse_with_a_count() -> None:
    out = compact("a\n" + "warn: x\n" * 5 + "b")
    assert out == "a\nwarn: x\n[previous line repeated 4 more times]\nb"


def test_two_repeats_are_kept_verbatim() -> None:
    assert compact("x\nx\ny") == "x\nx\ny"


def test_clean_text_is_returned_unchanged() -> None:
    text = "def f():\n    return 1\n"
    assert compact(text) is text
