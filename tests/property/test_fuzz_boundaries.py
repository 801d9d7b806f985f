"""Fuzzing every public boundary: arbitrary input raises nothing outside the HiveError tree, and never hangs.

Boundaries: message validation and compression, routing (the router on arbitrary
agent states, and on message lists read with ``state_from_messages``),
``remember``, ``search``, the LiteLLM proxy hook with arbitrary request data, and
the LangGraph store's ``batch``. Back-ends are in memory (hashing embedder), the
runs are derandomized so CI sees the same inputs every time, and each test has
a pytest-timeout so a hang fails instead of stalling the suite.

``EXAMPLES`` sums the ``max_examples`` of the tests (at least 10 000 inputs).
Raw exceptions the fuzzing found were fixed; their reproducers are kept as tests
at the end of the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveError
from hive_middleware.memory.store import MemoryStore
from hive_middleware.resilience.guard import Guard
from hive_middleware.stack import HiveStack
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import ROLES, AgentState, Step, validate_messages

N_VALIDATE = 2500
N_COMPRESS = 1200
N_ROUTE_STATE = 1500
N_ROUTE_MESSAGES = 1000
N_REMEMBER = 1400
N_SEARCH = 1400
N_HOOK = 600
N_STORE = 700
EXAMPLES = (
    N_VALIDATE + N_COMPRESS + N_ROUTE_STATE + N_ROUTE_MESSAGES + N_REMEMBER + N_SEARCH + N_HOOK + N_STORE
)


def fuzz(n: int) -> Callable[[Any], Any]:
    """Deterministic hypothesis settings for ``n`` examples (no example database, no deadline flakes)."""
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# -- strategies ---------------------------------------------------------------------------

text = st.text(max_size=40)
odd_text = st.one_of(
    text,
    st.sampled_from(["", " ", "\x00", "\ud800", "ls -la", "python -m pytest tests/", "h-0123456789ab", "[bold]x"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), odd_text,
    st.datetimes(), st.binary(max_size=8),
)
json_like = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8
)
hashable = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_text)
role = st.one_of(st.sampled_from(sorted(ROLES)), hashable)
part_type = st.one_of(st.sampled_from(["text", "image_url", "weird", ""]), hashable)
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": odd_text}),
    st.fixed_dictionaries({"type": part_type}, optional={"text": scalars, "image_url": json_like}),
    scalars,
)
content = st.one_of(st.none(), odd_text, st.lists(part, max_size=3), scalars)
call_id = st.one_of(st.sampled_from(["c1", "c2"]), hashable)
tool_call = st.one_of(
    st.fixed_dictionaries({
        "id": call_id, "type": st.just("function"),
        "function": st.one_of(
            st.fixed_dictionaries({"name": st.sampled_from(["bash", "edit"]),
                                   "arguments": st.one_of(st.just('{"command": "ls"}'), odd_text, json_like)}),
            json_like,
        ),
    }),
    json_like,
)
message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": odd_text}),
    st.fixed_dictionaries(
        {"role": role},
        optional={"content": content, "tool_calls": st.one_of(st.lists(tool_call, max_size=2), scalars),
                  "tool_call_id": call_id, "name": scalars},
    ),
    scalars,
)
messages = st.one_of(st.lists(message, max_size=6), scalars, st.dictionaries(text, scalars, max_size=2))


def _raises_only_hive_errors(call: Callable[[], Any]) -> None:
    with contextlib.suppress(HiveError):
        call()


# -- fixtures -------------------------------------------------------------------------------


def _stack(policy: Any = None) -> HiveStack:
    memory = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme",))
    return HiveStack(HiveConfig.load(tenant="acme"), memory=memory, guard=Guard(), policy=policy)


@pytest.fixture(scope="module")
def stack() -> Iterator[HiveStack]:
    made = _stack()
    made.remember("the deploy of billing failed on friday", key="deploy", tags=["ops"])
    made.remember("Ana prefers tea", key="ana")
    yield made
    made.close()


@pytest.fixture(scope="module")
def router() -> Any:
    from hive_middleware.routing.policy import default_model_dir, load_policy

    return load_policy(default_model_dir())


# -- messages and compression -------------------------------------------------------------


@pytest.mark.timeout(120)
@fuzz(N_VALIDATE)
@given(msgs=messages, max_chars=st.one_of(st.none(), st.integers(min_value=0, max_value=50)))
def test_validate_messages_raises_only_validation_errors(msgs: Any, max_chars: int | None) -> None:
    _raises_only_hive_errors(lambda: validate_messages(msgs, max_chars=max_chars))


@pytest.mark.timeout(180)
@fuzz(N_COMPRESS)
@given(msgs=messages, budget=st.one_of(st.none(), st.integers(min_value=-2, max_value=400), scalars))
def test_compress_raises_only_hive_errors(stack: HiveStack, msgs: Any, budget: Any) -> None:
    _raises_only_hive_errors(lambda: stack.compress(msgs, budget=budget))


# -- routing -------------------------------------------------------------------------------

step = st.one_of(
    st.builds(Step, action=odd_text, observation=odd_text, thought=st.one_of(st.none(), odd_text)),
    st.builds(Step, action=scalars, observation=scalars, thought=scalars),
    scalars,
)
agent_state = st.builds(
    AgentState,
    goal=st.one_of(odd_text, scalars),
    history=st.one_of(st.lists(step, max_size=5).map(tuple), scalars),
    step_index=st.one_of(st.integers(min_value=-2, max_value=10), scalars),
    env=st.one_of(
        st.dictionaries(st.sampled_from(["open_file", "working_dir"]), st.one_of(odd_text, scalars), max_size=2),
        scalars,
    ),
    agent_id=st.one_of(odd_text, scalars),
)


@pytest.mark.timeout(120)
@fuzz(N_ROUTE_STATE)
@given(state=agent_state)
def test_router_decides_or_refuses_any_agent_state(router: Any, state: AgentState) -> None:
    def route() -> None:
        decision = _stack(router).route(state) if state.step_index == 3 else router.decide(state)
        assert 0.0 <= decision.confidence <= 1.0 or math.isnan(decision.confidence)

    _raises_only_hive_errors(route)


@pytest.mark.timeout(120)
@fuzz(N_ROUTE_MESSAGES)
@given(msgs=messages)
def test_route_on_message_lists_read_with_state_from_messages(router: Any, msgs: Any) -> None:
    """The integration path: validate the list, read the agent state from it, route it."""
    from hive_middleware.pipeline import state_from_messages

    def route() -> None:
        checked = validate_messages(msgs)
        router.decide(state_from_messages(checked))

    _raises_only_hive_errors(route)


# -- memory ----------------------------------------------------------------------------------

aware = st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1))
moment = st.one_of(st.none(), aware, st.datetimes(), st.integers(min_value=-5, max_value=2**70), scalars)
names = st.one_of(st.lists(st.one_of(odd_text, scalars), max_size=3), scalars)


@pytest.mark.timeout(180)
@fuzz(N_REMEMBER)
@given(
    content=st.one_of(odd_text, scalars, st.text(min_size=1, max_size=3).map(lambda t: t * 40_000)),
    key=st.one_of(st.none(), odd_text, scalars, st.text(min_size=1, max_size=2).map(lambda t: t * 600)),
    kind=st.one_of(st.sampled_from(["episodic", "semantic", "working", "procedural", "nope"]), scalars),
    tags=names,
    metadata=st.one_of(st.dictionaries(text, json_like, max_size=3), scalars),
    confidence=st.one_of(st.floats(allow_nan=True), scalars),
    namespace=st.one_of(st.none(), st.just(("acme", "agent")), names),
    valid_from=moment,
)
def test_remember_raises_only_hive_errors(
    stack: HiveStack, content: Any, key: Any, kind: Any, tags: Any, metadata: Any, confidence: Any,
    namespace: Any, valid_from: Any,
) -> None:
    _raises_only_hive_errors(lambda: stack.remember(
        content, key=key, kind=kind, tags=tags, metadata=metadata, confidence=confidence,
        namespace=namespace, valid_from=valid_from,
    ))


@pytest.mark.timeout(180)
@fuzz(N_SEARCH)
@given(
    query=st.one_of(odd_text, scalars),
    k=st.one_of(st.integers(min_value=-1, max_value=2000), scalars),
    kinds=st.one_of(st.none(), names, st.just(["episodic", "semantic"])),
    tags=st.one_of(st.none(), names, st.just(["ops"])),
    min_confidence=st.one_of(st.none(), st.floats(allow_nan=True), scalars),
    namespace=st.one_of(st.none(), st.just(("acme",)), names),
    weights=st.one_of(st.none(), st.dictionaries(st.sampled_from(["vector", "bm25", "graph", "x"]), scalars,
                                                 max_size=2), scalars),
    as_of=moment,
)
def test_search_raises_only_hive_errors(
    stack: HiveStack, query: Any, k: Any, kinds: Any, tags: Any, min_confidence: Any, namespace: Any,
    weights: Any, as_of: Any,
) -> None:
    _raises_only_hive_errors(lambda: stack.search(
        query, k=k, kinds=kinds, tags=tags, min_confidence=min_confidence, namespace=namespace,
        weights=weights, as_of=as_of,
    ))


# -- the LiteLLM proxy hook -------------------------------------------------------------------


@pytest.fixture(scope="module")
def callback(stack: HiveStack) -> Any:
    from hive_middleware.integrations.litellm import HiveCallback

    return HiveCallback(stack, remember=False, recall_k=2)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


hook_data = st.one_of(
    st.fixed_dictionaries(
        {"model": st.one_of(st.just("gpt-4o"), scalars), "messages": messages},
        optional={"metadata": st.one_of(st.none(), scalars, st.dictionaries(
                      st.sampled_from(["hive_agent", "hive_thread", "session_id", "x"]), scalars, max_size=2)),
                  "litellm_call_id": scalars, "user": scalars},
    ),
    st.dictionaries(text, json_like, max_size=4),
)


@pytest.mark.timeout(180)
@fuzz(N_HOOK)
@given(data=hook_data, call_type=st.sampled_from(["completion", "acompletion", "embeddings", "text_completion"]))
def test_litellm_pre_call_hook_raises_only_hive_errors(
    callback: Any, loop: asyncio.AbstractEventLoop, data: dict[str, Any], call_type: str
) -> None:
    async def call() -> None:
        await asyncio.wait_for(callback.async_pre_call_hook(None, None, data, call_type), timeout=30)

    _raises_only_hive_errors(lambda: loop.run_until_complete(call()))


# -- the LangGraph store ----------------------------------------------------------------------

label = st.one_of(st.sampled_from(["users", "prefs", "a.b", "", "langgraph"]), odd_text)
namespace_t = st.lists(label, max_size=4).map(tuple)
store_value = st.one_of(st.none(), st.dictionaries(text, json_like, max_size=3), scalars)


def _ops() -> st.SearchStrategy[Any]:
    from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

    return st.one_of(
        st.builds(PutOp, namespace=namespace_t, key=st.one_of(odd_text, st.just("k")), value=store_value),
        st.builds(GetOp, namespace=namespace_t, key=odd_text),
        st.builds(SearchOp, namespace_prefix=namespace_t, query=st.one_of(st.none(), odd_text),
                  limit=st.integers(min_value=-1, max_value=20), offset=st.integers(min_value=-1, max_value=5),
                  filter=st.one_of(st.none(), st.dictionaries(text, json_like, max_size=2))),
        st.builds(ListNamespacesOp, max_depth=st.one_of(st.none(), st.integers(min_value=-1, max_value=5)),
                  limit=st.integers(min_value=0, max_value=20), offset=st.integers(min_value=0, max_value=5)),
    )


@pytest.fixture(scope="module")
def hive_store(stack: HiveStack) -> Any:
    from hive_middleware.integrations.langgraph_store import HiveStore

    return HiveStore(stack.memory)


@pytest.mark.timeout(180)
@fuzz(N_STORE)
@given(data=st.data())
def test_hive_store_batch_raises_only_hive_or_namespace_errors(hive_store: Any, data: st.DataObject) -> None:
    """LangGraph's own ``InvalidNamespaceError`` is the store API's documented namespace error; anything
    else must be a HiveError."""
    from langgraph.store.base import InvalidNamespaceError

    ops = data.draw(st.lists(_ops(), min_size=1, max_size=4))
    with contextlib.suppress(HiveError, InvalidNamespaceError):
        hive_store.batch(ops)


def test_the_suite_generates_at_least_ten_thousand_inputs() -> None:
    assert EXAMPLES >= 10_000


# -- raw exceptions the fuzzing found, kept as tests ---------------------------------------------


def test_compress_with_an_unhashable_role_is_a_validation_error(stack: HiveStack) -> None:
    bad: Any = [{"role": ["user"], "content": "hi"}]
    _raises_only_hive_errors(lambda: stack.compress(bad))


def test_state_from_messages_on_unvalidated_lists(router: Any) -> None:
    from hive_middleware.pipeline import state_from_messages

    _raises_only_hive_errors(lambda: state_from_messages([{"role": "assistant", "tool_calls": 5}]))
    _raises_only_hive_errors(lambda: state_from_messages(
        [{"role": "assistant", "tool_calls": [{"id": "a", "function": "ls"}]}]))





def test_litellm_hook_with_null_metadata(callback: Any, loop: asyncio.AbstractEventLoop) -> None:
    data = {"model": "gpt-4o", "messages": None, "metadata": None}
    _raises_only_hive_errors(lambda: loop.run_until_complete(
        callback.async_pre_call_hook(None, None, data, "completion")))
