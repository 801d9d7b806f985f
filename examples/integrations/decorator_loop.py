"""``@hive_middleware.agent`` around a plain agent loop that calls litellm (offline: ``mock_response``).

    python examples/integrations/decorator_loop.py
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

import hive_middleware
from hive_middleware import HiveStack
from hive_middleware.routing.policy import default_model_dir

OUTPUTS = ["\n".join(f"tests/test_m.py::test_{i} FAILED" for i in range(200)), "edited", "200 passed"]
SCRIPT = ["pytest -q", "sed -i 's/-/+/' m.py", "pytest -q", "submit"]


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        stack = HiveStack.from_config(data_dir=data_dir, routing={"model_dir": str(default_model_dir())})

        @hive_middleware.agent(stack=stack, model="gpt-4o")
        def run(task: str, *, hive: Any) -> list[dict[str, Any]]:
            messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
            for turn, command in enumerate(SCRIPT):
                call = {"id": f"t{turn}", "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps({"command": command})}}
                response = hive.completion(model="gpt-4o", messages=messages, mock_response="",
                                           mock_tool_calls=[call])
                message = response.choices[0].message
                messages.append(message.model_dump())
                if turn < len(OUTPUTS):
                    messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id,
                                     "content": OUTPUTS[turn]})
            print(f"model calls: {hive.llm_calls}, routed: {hive.routed}")
            return messages

        messages = run("Make the tests pass.")
        print("steps:", len([m for m in messages if m["role"] == "assistant"]))
        stack.close()


if __name__ == "__main__":
    main()
