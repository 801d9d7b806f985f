"""compress(): labels, invariants, budget, reversibility and bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import swe_transcript, tool_transcript

from hive_middleware.compression import CompressionResult, Label, compress, expand
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.content_types import ContentType
from hive_middleware.config import CompressionConfig, HiveConfig
from hive_middleware.errors import HiveNotFoundError, HiveValidationError
from hive_middleware.tokens import count_message_tokens
from hive_middleware.types import validate_messages


def _check_invariants(before: list[dict[str, Any]], result: CompressionResult) -> None:
    after = result.messages
    validate_messages(after)
    assert len(after) == len(before)
    for b, a in zip(before, after, strict=True):
        assert a["role"] == b["role"]
        assert a.get("tool_call_id") == b.get("tool_call_id")
        assert a.get("tool_calls") == b.get("tool_calls")
        if b["role"] == "system":
            assert a == b
    last_user = max(i for i, m in enumerate(before) if m["role"] == "user")
    assert after[last_user] == before[last_user]


def test_swe_transcript_is_compressed_and_valid(artifacts: InMemoryArtifactStore) -> None:
    msgs = swe_transcript()
    original = copy.deepcopy(msgs)
    result = compress(msgs, artifacts=artifacts)
    assert msgs == original  # input untouched
    _check_invariants(msgs, result)
    assert result.stats["tokens_after"] < 0.6 * result.stats["tokens_before"]
    assert result.labels[1].label is Label.CORE  # the task
    assert result.labels[1].content_type is ContentType.USER_INSTRUCTION
    assert {lab.label for lab in result.labels} >= {Label.CORE, Label.STALE}
    assert result.stats["by_type"]["file_view"]["tokens_after"] < result.stats["by_type"]["file_view"]["tokens_before"]


def test_stale_stub_names_the_newer_message_and_the_expand_tool(artifacts: InMemoryArtifactStore) -> None:
    msgs = swe_transcript()
    result = compress(msgs, artifacts=artifacts)
    stale = [lab for lab in result.labels if lab.label is Label.STALE]
    assert stale
    first = stale[0]
    text = result.messages[first.index]["content"]
    assert f"see message {first.superseded_by}" in text
    assert f'hive_expand("{first.handle}")' in text
    assert first.superseded_by is not None and first.superseded_by > first.index


def test_every_handle_expands_to_the_original_byte_for_byte(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript()
    result = compress(msgs, artifacts=artifacts)
    assert result.handles
    for handle, index in result.handles.items():
        assert expand(handle, artifacts=artifacts) == msgs[index]["content"]
        assert handle in result.messages[index]["content"]


def test_tool_calls_stay_paired(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript()
    result = compress(msgs, artifacts=artifacts)
    _check_invariants(msgs, result)
    assert any(lab.label in (Label.DISTILL, Label.DROP, Label.STALE) for lab in result.labels if msgs[lab.index]["role"] == "tool")


def test_recent_outputs_are_kept_more_faithfully(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript()
    result = compress(msgs, artifacts=artifacts, config=CompressionConfig(keep_recent_turns=2, recent_max_chars=100_000))
    tool_idx = [i for i, m in enumerate(msgs) if m["role"] == "tool"]
    for i in tool_idx[-2:]:
        assert result.labels[i].label in (Label.CORE, Label.COMPACT)
    assert result.labels[tool_idx[0]].label not in (Label.CORE, Label.COMPACT)


def test_what_the_latest_action_refers_to_stays_visible(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript(turns=6)
    # The latest call targets a symbol that only an old output mentions.
    msgs.insert(
        len(msgs) - 1,
        {"role": "assistant", "content": "Look at value_42 in file_42 now.", "tool_calls": None},
    )
    msgs[-2].pop("tool_calls")
    result = compress(msgs, artifacts=artifacts)
    joined = "\n".join(str(m.get("content")) for m in result.messages)
    assert "value_42" in joined


def test_deterministic(artifacts: InMemoryArtifactStore) -> None:
    msgs = swe_transcript()
    a = compress(msgs, artifacts=artifacts)
    b = compress(copy.deepcopy(msgs), artifacts=InMemoryArtifactStore())
    assert a.messages == b.messages and a.labels == b.labels and a.handles == b.handles


def test_budget_is_met_lowest_value_oldest_first(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript()
    free = compress(msgs, artifacts=artifacts)
    budget = int(free.stats["tokens_after"] * 0.6)
    result = compress(msgs, budget=budget, artifacts=artifacts)
    _check_invariants(msgs, result)
    assert result.budget_met and result.stats["budget_met"]
    assert result.stats["tokens_after"] <= budget
    assert count_message_tokens(result.messages) <= budget  # litellm agrees


def test_impossible_budget_returns_best_valid_list(artifacts: InMemoryArtifactStore) -> None:
    msgs = tool_transcript()
    result = compress(msgs, budget=10, artifacts=artifacts)
    _check_invariants(msgs, result)
    assert not result.budget_met
    assert result.stats["budget_impossible"] is True
    assert result.stats["tokens_after"] < compress(msgs, artifacts=artifacts).stats["tokens_after"]


def test_stats_report_tokens_by_type_and_caching(artifacts: InMemoryArtifactStore) -> None:
    result = compress(swe_transcript(), artifacts=artifacts, model="gpt-4o")
    stats = result.stats
    assert stats["model"] == "gpt-4o"
    assert stats["tokens_before"] == count_message_tokens(swe_transcript())
    assert stats["tokens_after"] == count_message_tokens(result.messages)
    assert sum(t["tokens_before"] for t in stats["by_type"].values()) + 3 == stats["tokens_before"]
    assert stats["token_counts_cached"] is True


def test_hive_config_is_accepted(artifacts: InMemoryArtifactStore) -> None:
    cfg = HiveConfig(compression=CompressionConfig(keep_recent_turns=100))
    result = compress(swe_transcript(), config=cfg, artifacts=artifacts)
    assert all(lab.label in (Label.CORE, Label.COMPACT, Label.STALE) for lab in result.labels)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("not a list", "list"),
        ([{"role": "wizard", "content": "x"}], "role"),
        ([{"role": "user", "content": 5}], "content"),
        ([{"role": "tool", "tool_call_id": "nope", "content": "x"}], "tool_call_id"),
        ([{"role": "user", "content": "bad \ud800 surrogate"}], "UTF-8"),
        ([{"role": "user", "content": [{"type": "text", "text": "bad \udfff"}]}], "UTF-8"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": "x"}}]}], "id"),
        (["just a string"], "dict"),
    ],
)
def test_bad_input_raises_a_clear_error_and_changes_nothing(bad: Any, match: str) -> None:
    snapshot = copy.deepcopy(bad)
    with pytest.raises(HiveValidationError, match=match):
        compress(bad)
    assert bad == snapshot


def test_oversized_message_is_refused() -> None:
    msgs = [{"role": "user", "content": "x" * 50}]
    with pytest.raises(HiveValidationError, match="maximum"):
        compress(msgs, config=HiveConfig(max_message_chars=10))


@pytest.mark.parametrize("budget", [0, -5, 1.5, True])
def test_bad_budget(budget: Any) -> None:
    with pytest.raises(HiveValidationError, match="budget"):
        compress([{"role": "user", "content": "hi"}], budget=budget)


def test_bad_config_type() -> None:
    with pytest.raises(HiveValidationError, match="config"):
        compress([{"role": "user", "content": "hi"}], config={"keep_recent_turns": 1})  # type: ignore[arg-type]


def test_unknown_handle() -> None:
    with pytest.raises(HiveNotFoundError):
        expand("h-000000000000", artifacts=InMemoryArtifactStore())
    with pytest.raises(HiveValidationError):
        expand("not-a-handle")


def test_empty_list() -> None:
    result = compress([])
    assert result.messages == [] and result.budget_met
