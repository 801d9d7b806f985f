"""Hive as a LiteLLM callback (async SDK) and the sync wrapper, offline with ``mock_response``.

    python examples/integrations/litellm_callback.py

For the proxy, see ``integrations/config.yaml``:
``litellm --config integrations/config.yaml`` with ``LITELLM_MASTER_KEY`` set.
"""

from __future__ import annotations

import asyncio
import tempfile

from hive_middleware.integrations import litellm as hive_litellm
from hive_middleware.integrations.litellm import HiveCallback

from hive_middleware import HiveStack
from hive_middleware.tokens import load_litellm

MESSAGES = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Why do the tests fail?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "pytest -q"}'}}]},
    {"role": "tool", "tool_call_id": "c1",
     "content": "\n".join(f"tests/test_m.py::test_{i} PASSED" for i in range(300)) + "\n1 failed: test_total"},
    {"role": "user", "content": "What next?"},
]


async def main() -> None:
    litellm = load_litellm()
    with tempfile.TemporaryDirectory() as data_dir:
        stack = HiveStack.from_config(data_dir=data_dir)
        callback = HiveCallback(stack)
        litellm.callbacks = [callback]
        reply = await litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="Fix compute_total.")
        print("async answer:", reply.choices[0].message.content)
        litellm.callbacks = []
        reply = hive_litellm.completion(callback=callback, model="gpt-4o", messages=MESSAGES,
                                        mock_response="Then re-run pytest.")
        print("sync answer:", reply.choices[0].message.content)
        await asyncio.sleep(0.5)  # litellm logs success in the background
        callback.flush()
        hits = stack.search("compute_total", k=3)
        print("remembered:", [h.record.content for h in hits])
        stack.close()


if __name__ == "__main__":
    asyncio.run(main())
