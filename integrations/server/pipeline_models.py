"""Request and response bodies of the compress, expand, route and readiness routes."""

from typing import Any

from hive_middleware.compression.compressor import CompressionResult
from hive_middleware.errors import HiveDependencyError
from hive_middleware.types import AgentState, RouteDecision, Step

try:
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = [
    "ActionOut",
    "CompressIn",
    "CompressOut",
    "ExpandOut",
    "LabelOut",
    "NotReadyOut",
    "ReadyOut",
    "RouteIn",
    "RouteOut",
    "StepIn",
    "agent_state",
    "compress_out",
    "route_out",
]


class CompressIn(BaseModel):
    """An OpenAI-format message list to compress reversibly."""

    messages: list[dict[str, Any]] = Field(
        min_length=1,
        description="OpenAI chat messages (role, content, tool_calls, tool_call_id, name), oldest first.",
    )
    budget: int | None = Field(None, ge=1, description="Largest token count wanted (default: no budget).")
    model: str | None = Field(
        None, description="Model whose tokenizer counts tokens (default: the configured one)."
    )


class LabelOut(BaseModel):
    """What compression did to one message."""

    index: int = Field(description="Position of the message in the list.")
    content_type: str = Field(description="What the message holds (search_results, test_output, ...).")
    label: str = Field(description="CORE, DISTILL, COMPACT, DROP, STALE or ESCALATE.")
    handle: str | None = Field(description="Handle of the stored original (GET /v1/handles/{handle}).")
    tokens_before: int = Field(description="Tokens of the original message.")
    tokens_after: int = Field(description="Tokens of the compressed message.")


class CompressOut(BaseModel):
    """The compressed list; every original it replaced is stored in the caller's tenant."""

    messages: list[dict[str, Any]] = Field(
        description="The compressed list (same length and order; valid input)."
    )
    handles: dict[str, int] = Field(description="Handle -> index of the message whose original it holds.")
    labels: list[LabelOut] = Field(description="One label per message.")
    stats: dict[str, Any] = Field(
        description="tokens_before, tokens_after, token_ratio, by_type, by_label, budget, budget_met, model..."
    )


class ExpandOut(BaseModel):
    """The original behind a compression handle, byte for byte."""

    handle: str = Field(description="The handle asked for.")
    content: str = Field(description="The original message content.")


class StepIn(BaseModel):
    """One past step of the agent."""

    action: str = Field(description="What the agent did (a command, or a tool call as text).")
    observation: str = Field(description="What it saw.")
    thought: str | None = Field(None, description="Its reasoning, when known.")


class RouteIn(BaseModel):
    """What the router may see: the goal and the past, never the next action."""

    goal: str = Field(min_length=1, description="The task text (issue, user request).")
    history: list[StepIn] = Field(default_factory=list, description="Past steps, oldest first.")
    step_index: int | None = Field(
        None, ge=0, description="Index of the step about to be taken (default: len(history))."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment facts (open_file, working_dir...)."
    )
    agent: str | None = Field(
        None, description="Who acts (default: the key's agent); habits are learned per agent."
    )


class ActionOut(BaseModel):
    """The action the router answers with."""

    command: str = Field(description="The command line (shell agents) or the tool call as text.")
    name: str | None = Field(description="Tool name (tool-calling agents).")
    arguments: dict[str, Any] | None = Field(description="Tool arguments (tool-calling agents).")


class RouteOut(BaseModel):
    """The router's answer: an action, or ``escalated`` (the LLM must decide)."""

    action: ActionOut | None = Field(description="The action to take; null when escalated.")
    template: str | None = Field(description="The action template that produced it.")
    confidence: float = Field(description="Calibrated confidence of the answer.")
    escalated: bool = Field(description="True when the LLM must decide this step.")
    reason: str = Field(description="Why it answered or escalated.")
    decision_id: str = Field(description="Id of the decision (for feedback), empty when none.")


class ReadyOut(BaseModel):
    """The service can take requests."""

    status: str = Field(description="'ready'.")
    index_pending: int = Field(description="Records whose vectors are not yet in the vector index.")


class NotReadyOut(BaseModel):
    """The service cannot take requests yet (or any more)."""

    status: str = Field(description="'unavailable'.")
    error: str = Field(description="Name of the failure.")
    message: str = Field(description="What failed.")


def compress_out(result: CompressionResult) -> CompressOut:
    """The response body of a compression."""
    return CompressOut(
        messages=[dict(m) for m in result.messages],
        handles=dict(result.handles),
        labels=[
            LabelOut(
                index=label.index,
                content_type=str(label.content_type.value),
                label=str(label.label.value),
                handle=label.handle,
                tokens_before=label.tokens_before,
                tokens_after=label.tokens_after,
            )
            for label in result.labels
        ],
        stats=dict(result.stats),
    )


def agent_state(body: RouteIn, agent_id: str) -> AgentState:
    """The core state of a route request, acted on by ``agent_id``."""
    history = tuple(Step(action=s.action, observation=s.observation, thought=s.thought) for s in body.history)
    step_index = len(history) if body.step_index is None else body.step_index
    return AgentState(
        goal=body.goal, history=history, step_index=step_index, env=dict(body.env), agent_id=agent_id
    )


def route_out(decision: RouteDecision) -> RouteOut:
    """The response body of a routing decision."""
    action = decision.action
    return RouteOut(
        action=None
        if action is None
        else ActionOut(
            command=action.command,
            name=action.name,
            arguments=None if action.arguments is None else dict(action.arguments),
        ),
        template=decision.template,
        confidence=float(decision.confidence),
        escalated=decision.escalated,
        reason=decision.reason,
        decision_id=decision.decision_id,
    )
