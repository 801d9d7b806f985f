"""Anchor extraction for anchor_retention, on hand-written SWE-agent 1.x and 0.x action/observation pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.evals.anchor_sources import ObservationLog, same_file, search_calls, shell_segments
from hive_middleware.evals.anchors import Anchor, action_anchors

# ---------------------------------------------------------------------------- 1.x (str_replace_editor, bash)

VIEW_1X = (
    "Here's the result of running `cat -n` on /testbed/pkg/core.py:\r\n"
    "   805\t\r\n"
    "   806\tclass Model:\r\n"
    "   807\t    def _calculate_separability_matrix(self):\r\n"
    '   808\t        """Hook for subclasses."""\r\n'
    "   809\t        return NotImplemented\r\n"
)


def _log(*pairs: tuple[str, str]) -> ObservationLog:
    log = ObservationLog()
    for action, observation in pairs:
        log.add(action, observation)
    return log


def test_str_replace_old_str_is_an_anchor_of_its_lines() -> None:
    log = _log(("str_replace_editor view /testbed/pkg/core.py  --view_range 805 809", VIEW_1X))
    action = (
        "str_replace_editor str_replace /testbed/pkg/core.py   --old_str '    def _calculate_separability_matrix(self):\n"
        '        """Hook for subclasses."""\n'
        "        return NotImplemented' --new_str '    def _calculate_separability_matrix(self):\n"
        "        return None'"
    )
    [anchor] = action_anchors(action, log)
    assert anchor.kind == "old_text"
    assert anchor.alternatives == (
        (
            "    def _calculate_separability_matrix(self):",
            '        """Hook for subclasses."""',
            "        return NotImplemented",
        ),
    )
    # every line must be visible; indentation is part of the text
    assert anchor.visible_in(VIEW_1X)
    assert not anchor.visible_in(VIEW_1X.replace("return NotImplemented", "return None"))
    assert not anchor.visible_in("def _calculate_separability_matrix(self):\nreturn NotImplemented")


def test_str_replace_with_shell_quoted_quotes() -> None:
    view = "Here's the result of running `cat -n` on /testbed/a.py:\r\n    12\t    mode = 'left'\r\n"
    log = _log(("str_replace_editor view /testbed/a.py", view))
    action = (
        "str_replace_editor str_replace /testbed/a.py   --old_str '    mode = '\"'\"'left'\"'\"''"
        " --new_str '    mode = '\"'\"'right'\"'\"''"
    )
    [anchor] = action_anchors(action, log)
    assert anchor.alternatives == (("    mode = 'left'",),)


def test_old_str_not_shown_before_is_no_anchor() -> None:
    log = _log(("str_replace_editor view /testbed/pkg/core.py", VIEW_1X))
    # the agent misremembered the docstring: the text was never in an observation
    action = (
        "str_replace_editor str_replace /testbed/pkg/core.py   --old_str '    def _calculate_separability_matrix(self):\n"
        '        """Hook for subclass."""\' --new_str \'x\''
    )
    assert action_anchors(action, log) == []
    assert (
        action_anchors(
            "str_replace_editor str_replace /testbed/pkg/core.py --old_str '    ' --new_str 'x'", log
        )
        == []
    )


def test_view_range_after_a_single_file_grep() -> None:
    log = _log(
        (
            'grep -n "_calculate_separability_matrix" /testbed/pkg/core.py',
            "807:    def _calculate_separability_matrix(self):",
        )
    )
    [anchor] = action_anchors("str_replace_editor view /testbed/pkg/core.py  --view_range 807 830", log)
    assert anchor.kind == "path_line"
    assert anchor.alternatives == (("807:    def _calculate_separability_matrix(self):",),)
    # a line number nobody showed is not copied
    assert action_anchors("str_replace_editor view /testbed/pkg/core.py  --view_range 800 830", log) == []
    # the grep listing belongs to core.py only
    assert action_anchors("str_replace_editor view /testbed/pkg/other.py  --view_range 807 830", log) == []


def test_view_range_after_a_recursive_grep_and_a_traceback() -> None:
    log = _log(
        (
            'grep -rn "def separability_matrix" /testbed',
            "/testbed/pkg/separable.py:66:def separability_matrix(transform):",
        ),
        (
            "python reproduce.py",
            'Traceback (most recent call last):\n  File "/testbed/pkg/separable.py", line 100, in separability_matrix\n'
            "    separable_matrix = _separable(transform)\nValueError: bad",
        ),
    )
    [grep_hit] = action_anchors("str_replace_editor view /testbed/pkg/separable.py  --view_range 66 80", log)
    assert grep_hit.alternatives == (("/testbed/pkg/separable.py:66",),)
    [traceback] = action_anchors(
        "str_replace_editor view /testbed/pkg/separable.py --view_range 100 110", log
    )
    assert traceback.alternatives == (('File "/testbed/pkg/separable.py", line 100',),)
    # a relative path names the same file
    assert action_anchors("str_replace_editor view pkg/separable.py --view_range 66 80", log)


def test_grep_patterns_are_search_anchors() -> None:
    log = _log(("str_replace_editor view /testbed/pkg/core.py", VIEW_1X))
    [anchor] = action_anchors('grep -n -A 3 "_calculate_separability_matrix" /testbed/pkg/*.py', log)
    assert anchor == Anchor("search", (("_calculate_separability_matrix",),))
    [anchor] = action_anchors('cd /testbed && grep -rn --include="*.py" -e "return NotImplemented" .', log)
    assert anchor.alternatives == (("return NotImplemented",),)
    [anchor] = action_anchors('find /testbed -name "*.py" | xargs grep -l "class Model"', log)
    assert anchor.alternatives == (("class Model",),)
    # too short, or never shown
    assert action_anchors('grep -rn "def" /testbed', log) == []
    assert action_anchors('grep -rn "separable_matrix" /testbed', log) == []


def test_patch_removed_lines() -> None:
    log = _log(("str_replace_editor view /testbed/pkg/core.py", VIEW_1X))
    action = (
        "cd /testbed && git apply <<'EOF'\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -809,1 +809,1 @@\n"
        "-        return NotImplemented\n+        return None\nEOF"
    )
    [anchor] = action_anchors(action, log)
    assert anchor == Anchor("patch", (("        return NotImplemented",),))


# ---------------------------------------------------------------------------- 0.x (open/goto/edit/search_file)

WINDOW_0X = (
    "[File: /repo/src/main/java/Foo.java (120 lines total)]\n"
    "(10 more lines above)\n"
    "11:    public int total() {\n"
    "12:        return a + b;\n"
    "13:    }\n"
    "14:\n"
    "(106 more lines below)"
)
SEARCH_0X = (
    'Found 1 matches for "total" in /repo/src/main/java/Foo.java:\n'
    "Line 11:    public int total() {\n"
    'End of matches for "total" in /repo/src/main/java/Foo.java'
)


def test_edit_range_replaces_lines_shown_in_the_open_window() -> None:
    log = _log(("open src/main/java/Foo.java 11", WINDOW_0X))
    [one] = action_anchors("edit 12:12\n        return a - b;\nend_of_edit\n", log)
    assert one == Anchor("edit_lines", (("        return a + b;",),))
    [three] = action_anchors(
        "edit 11:14\n    public int total() {\n        return a - b;\n    }\nend_of_edit", log
    )
    assert three.alternatives == (("    public int total() {", "        return a + b;", "    }"),)
    # lines never shown, or only blank ones: nothing copied
    assert action_anchors("edit 40:41\nx\nend_of_edit", log) == []
    assert action_anchors("edit 14:14\n// new\nend_of_edit", log) == []


def test_edit_acts_on_the_file_of_the_latest_window() -> None:
    other = "[File: /repo/Bar.java (3 lines total)]\n1:class Bar {\n2:    int size = 0;\n3:}"
    rejected = (
        "Your proposed edit has introduced new syntax error(s).\n"
        "This is how your edit would have looked if applied\n"
        "[File: /repo/Bar.java (3 lines total)]\n1:class Bar {\n2:    int size = ;\n3:}\n"
        "This is the original code before your edit\n"
        "[File: /repo/Bar.java (3 lines total)]\n1:class Bar {\n2:    int size = 0;\n3:}"
    )
    log = _log(
        ("open src/main/java/Foo.java", WINDOW_0X), ("open /repo/Bar.java", other), ("edit 2:2", rejected)
    )
    [anchor] = action_anchors("edit 2:2\n    int size = 1;\nend_of_edit", log)
    assert anchor.alternatives == (("    int size = 0;",),)


def test_open_with_a_line_from_search_file_and_goto_after_a_view() -> None:
    log = _log(('search_file "total" src/main/java/Foo.java', SEARCH_0X))
    [anchor] = action_anchors("open src/main/java/Foo.java 11\n", log)
    assert anchor == Anchor("path_line", (("Line 11:    public int total() {",),))
    log.add("open src/main/java/Foo.java 11", WINDOW_0X)
    [goto] = action_anchors("goto 12", log)
    assert goto == Anchor("goto", (("12:        return a + b;",),))
    [both] = action_anchors("open /repo/src/main/java/Foo.java 11", log)
    assert set(both.alternatives) == {("Line 11:    public int total() {",), ("11:    public int total() {",)}
    assert action_anchors("goto 14", log) == []  # line 14 is blank: a bare number proves nothing
    assert action_anchors("goto 90", log) == []  # never shown


def test_0x_search_tools() -> None:
    log = _log(
        ('search_file "total" src/main/java/Foo.java', SEARCH_0X), ("open src/main/java/Foo.java", WINDOW_0X)
    )
    [anchor] = action_anchors('search_file "return a + b"', log)
    assert anchor == Anchor("search", (("return a + b",),))
    [anchor] = action_anchors('find_file "Foo.java" src', log)
    assert anchor.alternatives == (("Foo.java",),)
    [anchor] = action_anchors('search_dir "public int total"', log)
    assert anchor.kind == "search"


def test_maven_and_java_stack_references() -> None:
    log = _log(
        (
            "mvn -q compile",
            "[ERROR] /repo/src/main/java/Foo.java:[12,20] incompatible types\n"
            "\tat com.x.Foo.total(Foo.java:13)",
        )
    )
    [maven] = action_anchors("open src/main/java/Foo.java 12", log)
    assert maven.alternatives == (("/repo/src/main/java/Foo.java:[12,20]",),)
    [stack] = action_anchors("open src/main/java/Foo.java 13", log)
    assert stack.alternatives == (("Foo.java:13",),)


def test_actions_without_anchors() -> None:
    log = _log(("open src/main/java/Foo.java", WINDOW_0X))
    for action in ("", "submit", "scroll_down", "python reproduce.py", "create Foo.java", "open Foo.java"):
        assert action_anchors(action, log) == []


# ---------------------------------------------------------------------------- helpers


def test_same_file_and_shell_parsing() -> None:
    assert same_file("/testbed/pkg/core.py", "pkg/core.py")
    assert same_file("./pkg/core.py", "/testbed/pkg/core.py")
    assert same_file("core.py", "/testbed/pkg/core.py")
    assert not same_file("/testbed/pkg/core.py", "/testbed/other/core2.py")
    assert not same_file("ore.py", "/testbed/pkg/core.py")
    assert shell_segments('cd /x && grep -n "a | b" f.py | head -5') == [
        ["cd", "/x"], ["grep", "-n", "a | b", "f.py"], ["head", "-5"],
    ]  # fmt: skip
    assert shell_segments("echo 'unbalanced") == []
    [call] = search_calls("git grep -n -C3 -e needle -- src/a.py")
    assert (call.pattern, call.files) == ("needle", ("src/a.py",))
    [call] = search_calls("rg -g '*.py' --type py 'needle here' src")
    assert (call.pattern, call.files) == ("needle here", ("src",))


@given(st.text(max_size=200), st.text(max_size=400))
def test_no_input_breaks_the_extraction(action: str, observation: str) -> None:
    log = ObservationLog()
    log.add(action, observation)
    for anchor in action_anchors(action, log):
        assert anchor.alternatives and all(alt for alt in anchor.alternatives)
        assert anchor.visible_in(observation) or anchor.kind in ("old_text", "edit_lines", "patch")
