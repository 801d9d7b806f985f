"""The exact-match normal form the routing evaluation compares actions by."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.evals.actions import normalize_action


def test_normalize_action_only_touches_whitespace() -> None:
    assert normalize_action("  cd /testbed &&\n\tpython  x.py \n") == "cd /testbed && python x.py"
    assert normalize_action("grep 'A  B' f") == "grep 'A B' f"  # inside quotes too: whitespace only
    assert normalize_action("Grep x") != normalize_action("grep x")
    assert normalize_action("a b") != normalize_action("b a")


@given(st.text(max_size=80))
def test_normalize_action_is_idempotent(command: str) -> None:
    once = normalize_action(command)
    assert normalize_action(once) == once
    assert once == normalize_action(command.replace(" ", " \n "))
