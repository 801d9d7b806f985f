"""Other agents' tools: outputs recognised by what they print, names settling the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hive_middleware.compression import compress
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.content_types import ContentType, classify_message, classify_output
from hive_middleware.compression.tool_vocab import ToolKind, output_tool_names, tool_kind

CODE = ["import os", "", "class Loader:", "    def load(self, path):", "        return open(path).read()", "", "def main():", "    Loader().load('x')"]
CAT_N = "\n".join(f"{n:6d}\t{line}" for n, line in enumerate(CODE, 1))
ARROWS = "\n".join(f"{n:6d}→{line}" for n, line in enumerate(CODE, 1))

# (tool name, what it printed, expected type): small hand-written samples of each agent's tools.
SAMPLES: list[tuple[str, str, ContentType]] = [
    # OpenHands
    ("execute_bash", "total 8\ndrwxr-xr-x 2 root root 4096 .\n-rw-r--r-- 1 root root   12 setup.py\n[The command completed with exit code 0.]", ContentType.COMMAND_OUTPUT),
    ("execute_bash", "Traceback (most recent call last):\n  File \"/workspace/app.py\", line 3, in <module>\n    main()\nNameError: name 'main' is not defined\n[The command completed with exit code 1.]", ContentType.ERROR_TRACEBACK),
    ("str_replace_editor", f"Here's the result of running `cat -n` on /workspace/app.py:\n{CAT_N}", ContentType.FILE_VIEW),
    ("str_replace_editor", "Here's the files and directories up to 2 levels deep in /workspace, excluding hidden items:\n/workspace/\n/workspace/app.py\n/workspace/tests/", ContentType.SEARCH_RESULTS),
    ("browser", "[Current URL: https://example.test/docs]\n[Focused element bid: 12]\n\n============== BEGIN accessibility tree ==============\nRootWebArea 'Docs'\n\tlink 'Install'\n\tStaticText 'Welcome to the docs'", ContentType.OTHER),
    # Claude-Code-style
    ("Read", CAT_N, ContentType.FILE_VIEW),
    ("Read", ARROWS, ContentType.FILE_VIEW),
    ("Edit", f"The file /repo/app.py has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n{CAT_N}", ContentType.FILE_VIEW),
    ("Write", "File created successfully at: /repo/new_module.py", ContentType.COMMAND_OUTPUT),
    ("Grep", "Found 3 files\n/repo/app.py\n/repo/lib/loader.py\n/repo/tests/test_loader.py", ContentType.SEARCH_RESULTS),
    ("Grep", "/repo/app.py:3:class Loader:\n/repo/app.py:4:    def load(self, path):", ContentType.SEARCH_RESULTS),
    ("Glob", "/repo/app.py\n/repo/lib/loader.py\n/repo/tests/test_loader.py", ContentType.SEARCH_RESULTS),
    ("Glob", "No files found", ContentType.SEARCH_RESULTS),
    ("Bash", "============================= test session starts ==============================\ncollected 2 items\n\ntests/test_loader.py .F\n=========================== 1 failed, 1 passed in 0.12s ===========================", ContentType.TEST_OUTPUT),
    # LangChain community tools
    ("terminal", "Cloning into 'repo'...\nremote: Enumerating objects: 42, done.\nReceiving objects: 100% (42/42), done.", ContentType.COMMAND_OUTPUT),
    ("read_file", "\n".join(CODE), ContentType.FILE_VIEW),  # raw content, no line numbers: the name decides
    ("read_file", "Error: no such file or directory: missing.py", ContentType.ERROR_TRACEBACK),
    ("write_file", "File written successfully to notes.txt.", ContentType.COMMAND_OUTPUT),
    ("list_directory", "app.py\nlib\ntests\nREADME", ContentType.SEARCH_RESULTS),  # bare names: the name decides
    ("file_search", "lib/loader.py\ntests/test_loader.py", ContentType.SEARCH_RESULTS),
    ("Python_REPL", "NameError(\"name 'undefined_var' is not defined\")", ContentType.ERROR_TRACEBACK),
    ("python_repl_ast", "42\n[1, 2, 3]", ContentType.COMMAND_OUTPUT),
    # SWE-agent
    ("open", "[File: /testbed/app.py (8 lines total)]\n" + "\n".join(f"{n}:{line}" for n, line in enumerate(CODE, 1)), ContentType.FILE_VIEW),
    ("search_dir", 'Found 2 matches for "Loader" in /testbed:\n/testbed/app.py (1 matches)\n/testbed/lib/loader.py (1 matches)', ContentType.SEARCH_RESULTS),
    # Codex-style shell: bash -lc "..." answered in JSON (unwrapped by compress; the inner text is classified)
    ("shell", "On branch main\nnothing to commit, working tree clean", ContentType.COMMAND_OUTPUT),
    # unknown names: the content alone decides
    ("my_custom_tool", CAT_N, ContentType.FILE_VIEW),
    ("my_custom_tool", "\n".join(CODE), ContentType.COMMAND_OUTPUT),
]


@pytest.mark.parametrize(("tool", "text", "expected"), SAMPLES, ids=[f"{t}-{i}" for i, (t, _x, _e) in enumerate(SAMPLES)])
def test_outputs_of_common_agents(tool: str, text: str, expected: ContentType) -> None:
    assert classify_output(text, tool) is expected
    assert classify_message({"role": "tool", "tool_call_id": "c", "name": tool, "content": text}) is expected


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Read", ToolKind.READ), ("read_file", ToolKind.READ), ("mcp__filesystem__read_file", ToolKind.READ),
        ("Glob", ToolKind.SEARCH), ("list_directory", ToolKind.SEARCH), ("LS", ToolKind.SEARCH),
        ("execute_bash", ToolKind.SHELL), ("functions.bash", ToolKind.SHELL), ("terminal", ToolKind.SHELL),
        ("Python_REPL", ToolKind.PYTHON), ("python-repl", ToolKind.PYTHON), ("execute_ipython_cell", ToolKind.PYTHON),
        ("browser", ToolKind.BROWSER), ("WebFetch", ToolKind.BROWSER), ("Edit", ToolKind.EDIT),
        ("frobnicate", ToolKind.UNKNOWN), ("", ToolKind.UNKNOWN), (None, ToolKind.UNKNOWN),
    ],
)
def test_tool_kinds(name: str | None, kind: ToolKind) -> None:
    assert tool_kind(name) is kind


def test_tool_name_comes_from_the_message_or_the_matching_call() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
        {"role": "tool", "tool_call_id": "c1", "name": "Grep", "content": "y"},
        {"role": "function", "name": "list_directory", "content": "z"},
    ]
    assert output_tool_names(msgs) == ["", "", "Read", "Grep", "list_directory"]


def test_compress_uses_the_name_of_the_call_that_produced_an_output() -> None:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "agent"}, {"role": "user", "content": "Refactor Loader"}]
    body = "\n".join(f"def function_{n}(arg):\n    return compute(arg, {n})" for n in range(40))
    for t in range(6):
        args = json.dumps({"file_path": f"/repo/mod_{t}.py"})
        msgs.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"r{t}", "type": "function", "function": {"name": "read_file", "arguments": args}}]})
        msgs.append({"role": "tool", "tool_call_id": f"r{t}", "content": body.replace("function_", f"f{t}_")})
    result = compress(msgs, artifacts=InMemoryArtifactStore())
    assert all(result.labels[i].content_type is ContentType.FILE_VIEW for i in range(3, len(msgs), 2))
    lab = next(lab for lab in result.labels if lab.label == "DISTILL")
    distilled = result.messages[lab.index]["content"]
    t = (lab.index - 3) // 2
    assert "[file view: lines 1-80]" in distilled and f"1: def f{t}_0(arg):" in distilled


def test_codex_style_json_shell_output_is_unwrapped() -> None:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "agent"}, {"role": "user", "content": "Run the tests"}]
    log = "\n".join(f"INFO step {k} ok" for k in range(80)) + "\nERROR run failed: bad header"
    for t in range(5):
        args = json.dumps({"command": ["bash", "-lc", f"python run_{t}.py"]})
        msgs.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"s{t}", "type": "function", "function": {"name": "shell", "arguments": args}}]})
        output = {"output": log, "metadata": {"exit_code": 1, "duration_seconds": 0.4}}
        msgs.append({"role": "tool", "tool_call_id": f"s{t}", "content": json.dumps(output)})
    result = compress(msgs, artifacts=InMemoryArtifactStore())
    assert result.labels[3].content_type is ContentType.COMMAND_OUTPUT
    obj = json.loads(result.messages[3]["content"])
    assert obj["metadata"] == {"exit_code": 1, "duration_seconds": 0.4}
    assert "hive_expand" in obj["output"]
