"""Action types on real SWE-agent commands (0.x and 1.x excerpts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.routing.action_types import ACTION_TYPES, action_type
from hive_middleware.trajectories import iter_trajectories

# Commands copied from ../shared/data/trajectories (0.x msb_java_* and 1.x sweagent_lm32b_swebv).
REAL_SAMPLES = [
    # 0.x special commands
    ("open dubbo-common/src/main/java/org/apache/dubbo/common/utils/PojoUtils.java", "view"),
    ("goto 579", "navigate"),
    ("scroll_down", "navigate"),
    ('search_file "LocalDateTime"', "search"),
    ('search_dir "bounded pool" src', "search"),
    ('find_file "RecyclerPool.java" src', "find"),
    ("create reproduce.java\n", "create"),
    ("edit 124:124\n        if (pojo instanceof LocalDateTime) {\n && x; y | z\nend_of_edit\n", "edit"),
    ("submit", "submit"),
    ("exit_cost", "exit"),
    # 0.x plain shell
    ("javac -cp .:junit-jupiter-api-5.7.0.jar TestJava8Time.java", "build"),
    ("java -cp .:junit-jupiter-api-5.7.0.jar org.junit.runner.JUnitCore TestJava8Time", "run_test"),
    ("javac TestValueToTree.java && java TestValueToTree", "run_script"),
    ("java -version", "shell_other"),
    ("mvn test -Dtest=com.fasterxml.jackson.databind.introspect.TestAnnotationIntrospectorPair", "run_test"),
    ("mvn compile jib:build", "build"),
    ("./gradlew test", "run_test"),
    ("chmod +x run_tests.sh && ./run_tests.sh", "run_test"),
    ("./run.sh", "run_script"),
    ('find src -type f -name "*deserializer*"', "find"),
    ("ls -l | grep java", "list"),
    ('grep -i "deserializer" pom.xml', "search"),
    ("which javac", "find"),
    ("echo $PATH", "shell_other"),
    ('cd /fasterxml__jackson-databind/..\nfind_file "installation_instructions*"', "find"),
    ("rm replicate_bug.java\ncreate replicate_bug.java", "create"),
    ("sudo apt-get update\nsudo apt-get install default-jdk", "build"),
    ("DISCUSSION\nIt seems that the javac command is not found in the current environment.", "shell_other"),
    ("", "empty"),
    # 1.x
    ("str_replace_editor view /testbed/astropy/modeling/separable.py", "view"),
    ("str_replace_editor view /testbed/sympy/polys/polyutils.py  --view_range 375 391", "view"),
    (
        "str_replace_editor str_replace /testbed/astropy/modeling/separable.py   --old_str 'def _cstack(left, right):\n"
        "    \"\"\"' --new_str 'x && y'",
        "edit",
    ),
    (
        "str_replace_editor create /testbed/reproduce_issue.py --file_text 'import a\nprint(1); exit()\n'",
        "create",
    ),
    ("str_replace_editor insert /testbed/a.py --insert_line 3 --new_str 'x'", "edit"),
    ("str_replace_editor undo_edit /testbed/a.py", "edit"),
    ('grep -n "class CompoundModel" /testbed/astropy/modeling/core.py', "search"),
    (
        'find /testbed -type f -name "*.py" | grep -v "__pycache__" | grep -E "separable|modeling" | sort',
        "find",
    ),
    ("cd /testbed && python reproduce_issue.py", "run_script"),
    ("python /testbed/reproduce.py", "run_script"),
    ("cd /testbed && python test_fix.py", "run_script"),
    ("python -c \"import datetime; print(datetime.datetime(123, 4, 5).strftime('%y'))\"", "run_script"),
    ("cd /testbed && python -m pytest --pdb test_repro_skip_class.py", "run_test"),
    ("cd /testbed && python3 -bb -m pytest --setup-show test_bytes.py", "run_test"),
    ("cd /testbed && python -m django test tests.utils_tests.test_dateformat", "run_test"),
    ("cd /testbed && python -m unittest tests.utils_tests.test_autoreload.TestChildArguments", "run_test"),
    ("cd /testbed && python tests/runtests.py admin_views -v 2", "run_test"),
    ("cd /testbed && pip install pytest && pytest reproduce.py -v", "run_test"),
    ("pip install psycopg2", "build"),
    ("cd /testbed && pip install -e .", "build"),
    ('cd /testbed && git log --oneline | grep -i "maxlength"', "vcs"),
    (
        'cd /testbed && git grep -E "re\\.compile.*format" -- "django/**/*.py" | grep -v "re\\.escape"',
        "search",
    ),
    ("head -n 20 /testbed/tests/queries/test_qs_combinators.py", "view"),
    ("sed -n '10,20p' /testbed/a.py", "view"),
    ("sed -i 's/a/b/' /testbed/a.py", "edit"),
    ("cat > /testbed/t.py << 'EOF'\nimport os\nprint(1) && 2\nEOF", "create"),
    ("ls -la /testbed", "list"),
    ("mkdir -p /testbed/docs", "shell_other"),
    ("cd /testbed/docs && sphinx-build -n -W . _build", "shell_other"),
    ("cd /testbed", "navigate"),
    ("submit", "submit"),
]


@pytest.mark.parametrize(("command", "expected"), REAL_SAMPLES)
def test_real_commands_get_their_type(command: str, expected: str) -> None:
    assert action_type(command) == expected


@given(st.text(max_size=200))
def test_every_command_gets_one_type_from_the_closed_set(command: str) -> None:
    assert action_type(command) in ACTION_TYPES


def test_every_step_of_a_real_slice_is_typed(shared_data: Path) -> None:
    folder = shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"
    types = {action_type(s.action) for t in iter_trajectories([folder]) for s in t.steps}
    assert types <= set(ACTION_TYPES)
    assert {"view", "edit", "search", "submit"} <= types
