"""Exact-match normalisation: every rule, and what must not be merged."""

from __future__ import annotations

import pytest

from hive_middleware.routing.normalize import NORMALIZATION_RULES, normalize_command, same_action


def test_every_rule_is_listed() -> None:
    assert [r.split()[0] for r in NORMALIZATION_RULES] == ["N1", "N2", "N3", "N4"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("python  reproduce.py\n", "python reproduce.py"),
        ("  ls -la\t/testbed ", "ls -la /testbed"),
        ("str_replace_editor view /a.py  --view_range 1 50", "str_replace_editor view /a.py --view_range 1 50"),
    ],
)
def test_n1_whitespace_outside_quotes_is_collapsed(a: str, b: str) -> None:
    assert same_action(a, b)


def test_n1_whitespace_inside_quotes_is_kept() -> None:
    assert not same_action('grep -n "a  b" f.py', 'grep -n "a b" f.py')


def test_n1_multiline_keeps_lines_and_strips_trailing_space() -> None:
    assert normalize_command("edit 1:1\nfoo  \nend_of_edit\n") == "edit 1:1\nfoo\nend_of_edit"
    assert not same_action("edit 1:1\nfoo\nend_of_edit", "edit 1:1 foo end_of_edit")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ('grep -rn "foo bar" /x', "grep -rn 'foo bar' /x"),
        ('find . -name "*.py"', "find . -name '*.py'"),
        ("ls 'src'", "ls src"),
        ("echo a\"b c\"d", "echo 'ab cd'"),
    ],
)
def test_n2_literal_quoting_is_canonical(a: str, b: str) -> None:
    assert same_action(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ('echo "$HOME"', "echo '$HOME'"),  # expansion vs literal
        ("ls *.py", "ls '*.py'"),  # glob vs literal
        ("a|b", "'a|b'"),  # pipe vs literal text
        ("echo `id`", "echo 'id'"),
    ],
)
def test_n2_expansions_are_never_merged(a: str, b: str) -> None:
    assert not same_action(a, b)


def test_n3_cd_into_working_directory_is_dropped() -> None:
    assert same_action("cd /testbed && python r.py", "python r.py", cwd="/testbed")
    assert same_action("cd /testbed/ && python r.py", "python r.py", cwd="/testbed")
    # Another directory, or an unknown cwd, is a different run.
    assert not same_action("cd /other && python r.py", "python r.py", cwd="/testbed")
    assert not same_action("cd /testbed && python r.py", "python r.py")


def test_n4_script_path_relative_to_working_directory() -> None:
    assert same_action("python /testbed/reproduce.py", "python reproduce.py", cwd="/testbed")
    assert same_action("cd /testbed && python reproduce.py", "python /testbed/reproduce.py", cwd="/testbed")
    assert not same_action("python /tmp/reproduce.py", "python reproduce.py", cwd="/testbed")
    # Only the script path of python: other programs' arguments are not rewritten.
    assert not same_action("cat /testbed/a.py", "cat a.py", cwd="/testbed")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("python -m pytest tests", "pytest tests"),
        ("grep -rn x .", "grep -nr x ."),
        ("python3 r.py", "python r.py"),
    ],
)
def test_different_executions_stay_different(a: str, b: str) -> None:
    assert not same_action(a, b, cwd="/testbed")


def test_unbalanced_quotes_fall_back_to_whitespace_rule() -> None:
    assert normalize_command('echo   "unclosed') == 'echo "unclosed'
