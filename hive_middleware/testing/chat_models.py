"""Fake LangChain chat models that can call tools, for tests and offline replays.

The stock ``langchain_core`` fakes have no ``bind_tools``, so
``langchain.agents.create_agent`` refuses them. :class:`ToolCallingFakeChatModel`
adds it, and records every message list it was called with so a test can check
what the model actually saw (the compressed view, the injected memory).
Importing this module imports ``langchain_core``; nothing in the core imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

__all__ = ["ToolCallingFakeChatModel", "tool_call_message"]


def tool_call_message(name: str, args: dict[str, Any], call_id: str, content: str = "") -> AIMessage:
    """An ``AIMessage`` carrying one tool call (what a tool-calling model returns)."""
    return AIMessage(content=content, tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


class ToolCallingFakeChatModel(FakeMessagesListChatModel):
    """A fake chat model with ``bind_tools``.

    It answers with ``respond(messages)`` when given, else cycles through
    ``responses``. Every call's input messages are appended to ``seen``.

    Attributes:
        respond: Decides the reply from the messages (e.g. a replay script).
        bound_tools: Names of the tools last bound with :meth:`bind_tools`.
        seen: The message lists of every call, in order.
    """

    responses: list[BaseMessage] = Field(default_factory=list)
    respond: Callable[[list[BaseMessage]], BaseMessage] | None = None
    bound_tools: list[str] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any | None = None,
        **kwargs: Any,
    ) -> ToolCallingFakeChatModel:
        """Record the tools' names and return this model (calls stay counted on it)."""
        self.bound_tools = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        if self.respond is not None:
            return ChatResult(generations=[ChatGeneration(message=self.respond(list(messages)))])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "hive-tool-calling-fake"
