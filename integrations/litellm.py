"""Hive as a LiteLLM callback: for the proxy, for async SDK calls, and a wrapper for sync calls.

* **Proxy** (``litellm_settings: callbacks: hive_middleware.integrations.litellm.proxy_handler_instance``):
  ``async_pre_call_hook`` applies the guard (the model's circuit breaker, then
  the rate limiter) and then compresses the messages and injects recalled
  memory. A limit rejects the request with HTTP 429 and ``retry-after``
  (LiteLLM's own ``ProxyRateLimitError``); an open circuit with HTTP 503 and
  ``retry-after``; both say why and when to retry.
* **Async SDK** (``litellm.callbacks = [HiveCallback(stack)]`` then
  ``await litellm.acompletion(...)``): ``async_pre_call_deployment_hook`` does the
  same and raises :class:`~hive_middleware.errors.HiveRateLimited` /
  :class:`~hive_middleware.errors.HiveCircuitOpen`.
* **Sync SDK**: no LiteLLM hook can rewrite a sync ``litellm.completion`` call,
  so :func:`completion` wraps it (prepare, guarded call, remember).

Success and failure events feed the circuit breaker (through the failure
classification of :mod:`hive_middleware.resilience.classify`), correct the token
bucket with the reported usage, and write the exchange to memory (the user turn
and the answer ``caused_by`` it), committed before the hook returns. Memories are
written under ``(tenant, agent, thread)``: the tenant of the key (proxy) or the
guard's, the agent named by ``metadata["hive_agent"]`` or the callback's, and the
conversation's id (``litellm_session_id``, e.g. the ``x-litellm-session-id``
header, or ``metadata["session_id"]``), else a fresh id per request.
Hooks fail open: an internal Hive error is logged, counted in ``stack.stats``
and the request proceeds unmodified; guards fail closed.

Registering :class:`HiveCallback` and then calling plain sync
``litellm.completion`` gets no compression or recall (no LiteLLM hook can rewrite
a sync call): Hive logs a one-time warning naming
``hive_middleware.integrations.litellm.completion``, the wrapper to call instead.

Each proxied response carries ``x-hive-hook-ms``: the time Hive's pre-call hook
took for that request, and ``x-hive-recall``: what memory recall did for it
(``hive bench proxy`` reads both). A proxied request whose metadata has
``hive_drain: true`` gets no Hive work of its own: its hook waits (see
:meth:`HiveCallback.adrain`) until the background work of the requests before it
is done, and its response says so in ``x-hive-drained`` (``ok`` or ``timeout``);
benchmarks send it last so that work is counted in their run.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hive_middleware.errors import HiveCircuitOpen, HiveError, HiveRateLimited
from hive_middleware.pipeline import CallOptions, HiveEvent, Identity, MemoryItem, Pipeline
from hive_middleware.pipeline.identity import RecallScope
from hive_middleware.tokens import load_litellm

load_litellm()  # sets the offline cost map before litellm's first import

from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

__all__ = ["DRAIN_HEADER", "HOOK_MS_HEADER", "RECALL_HEADER", "HiveCallback", "completion", "proxy_handler_instance"]

logger = logging.getLogger("hive_middleware.integrations.litellm")

HOOK_MS_HEADER = "x-hive-hook-ms"
RECALL_HEADER = "x-hive-recall"
"""What recall did for a proxied request: ``fresh:N`` (N memories found for this
request's query), ``earlier:N`` (found for an earlier turn of the conversation,
prefetch mode), ``pending`` (prefetch: none found yet), ``none`` or ``error``."""
DRAIN_HEADER = "x-hive-drained"
"""Reply to a drain request (metadata ``hive_drain: true``): ``ok`` when the background
work of the requests before it was done, ``timeout`` when it was still running."""
DEFAULT_DRAIN_TIMEOUT_S = 300.0
_CHAT_CALL_TYPES = frozenset({"completion", "acompletion", "text_completion", "atext_completion"})
_INFLIGHT_MAX = 50_000
_INFLIGHT_TTL_S = 900.0


@dataclass
class _Inflight:
    permit: Any
    breaker: Any
    reservation: Any
    started: float
    identity: Identity
    messages: Sequence[Mapping[str, Any]]


def _default_stack() -> Any:
    from hive_middleware.stack import HiveStack

    return HiveStack.from_config()


class HiveCallback(CustomLogger):
    """LiteLLM ``CustomLogger`` that compresses, recalls, guards and remembers.

    Args:
        stack: A ``HiveStack`` (default: ``HiveStack.from_config()``, built on
            first use, or at proxy start-up for the proxy instance).
        guard: The guard whose limiter and breakers apply (default: ``stack.guard``).
        compress: Compress messages before the call.
        recall_k: Memories injected per call (0: none).
        recall_scope: Where recall reads: ``thread``, ``agent`` or ``tenant`` (default).
        remember: Write each exchange to memory.
        agent: Agent name of the memories (a request's ``metadata["hive_agent"]`` overrides it).
        stack_factory: Builds the stack when none was given.
        tenant_of: Tenant of a proxy request from its ``UserAPIKeyAuth`` and data
            (default: team, then user, then the key alias, else the guard's tenant).
        recall_prefetch: Keep memory search off the request path: inject the
            hits found in the background for this conversation (this query, or
            an earlier turn's while its search runs) and queue this query's
            search (the proxy instance does; see ``RecallPrefetcher``).
    """

    def __init__(
        self,
        stack: Any = None,
        *,
        guard: Any = None,
        compress: bool = True,
        recall_k: int = 3,
        recall_scope: RecallScope = "tenant",
        remember: bool = True,
        agent: str = "litellm",
        stack_factory: Callable[[], Any] = _default_stack,
        tenant_of: Callable[[Any, Mapping[str, Any]], str | None] | None = None,
        recall_prefetch: bool = False,
    ) -> None:
        super().__init__()
        self._stack = stack
        self._guard = guard
        self._factory = stack_factory
        self._options = CallOptions(compress=compress, recall_k=recall_k, recall_scope=recall_scope,
                                    route=False, remember=remember)
        self._prefetch = recall_prefetch and recall_k > 0
        self.agent = agent
        self._pipeline: Pipeline | None = None
        self._build_lock = threading.Lock()
        self._tenant_of = tenant_of
        self._inflight: OrderedDict[str, _Inflight] = OrderedDict()
        self._hook_ms: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._drained: OrderedDict[str, bool] = OrderedDict()
        self._remembering = 0
        self._warned_sync = False
        self.events: list[HiveEvent] = []
        self.keep_events = 0

    # -- wiring ---------------------------------------------------------------

    def _ready(self) -> Pipeline:
        if self._pipeline is not None:
            return self._pipeline
        with self._build_lock:
            if self._pipeline is None:
                if self._stack is None:
                    self._stack = self._factory()
                if self._guard is None:
                    self._guard = getattr(self._stack, "guard", None)
                    if self._guard is None:
                        from hive_middleware.resilience.guard import Guard

                        self._guard = Guard.from_config()
                if self._options.recall_k > 0:
                    # Recall must not start by loading the embedder on a request: load it now.
                    warm_up = getattr(self._stack, "warm_up", None)
                    if callable(warm_up):
                        warm_up()
                # Compression is GIL-bound CPU work: on the loop it costs its CPU time,
                # in a worker thread also a loop cycle (see Pipeline's compress_inline).
                self._pipeline = Pipeline(self._stack, options=self._options, on_event=self._keep,
                                          recall_prefetch=self._prefetch, compress_inline=True)
        assert self._pipeline is not None
        return self._pipeline

    async def _aready(self) -> Pipeline:
        if self._pipeline is not None:
            return self._pipeline
        # Building the stack opens stores and may load an embedder: keep it off the event loop.
        return await asyncio.to_thread(self._ready)

    def start(self) -> threading.Thread:
        """Build the stack, open memory and load the embedder now, on a background thread.

        The proxy instance calls it when the proxy loads it, so the first request
        does not pay for start-up; a request arriving earlier waits for it.
        """
        def build() -> None:
            try:
                self._ready()
            except Exception as exc:  # the first request retries and reports it
                logger.warning("hive could not start at proxy start-up: %r", exc, exc_info=exc)

        thread = threading.Thread(target=build, name="hive-proxy-start", daemon=True)
        thread.start()
        return thread

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait for memory writes in flight; True when all are done."""
        return True if self._pipeline is None else bool(self._pipeline.writer.flush(timeout))

    async def adrain(self, timeout: float = DEFAULT_DRAIN_TIMEOUT_S) -> bool:
        """Wait until the background work of the calls admitted so far is done; True when done in time.

        That work is: their success hooks (the exchange committed to memory), the
        memory writer's queue, the recall prefetch queue and the embedding outbox
        (every memory has its vector). Calls admitted meanwhile are not waited for.
        """
        deadline = time.monotonic() + timeout
        admitted = set(self._inflight)
        while self._remembering or not admitted.isdisjoint(self._inflight):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        pipeline = self._pipeline
        if pipeline is None:
            return True

        def background() -> bool:
            def left() -> float:
                return max(0.0, deadline - time.monotonic())

            if not pipeline.writer.flush(left()):
                return False
            if pipeline.prefetcher is not None and not pipeline.prefetcher.wait_idle(left()):
                return False
            wait_indexed = getattr(getattr(pipeline.stack, "memory", None), "wait_indexed", None)
            return bool(wait_indexed(left())) if callable(wait_indexed) else True

        return await asyncio.to_thread(background)

    @property
    def pipeline(self) -> Pipeline:
        """The step pipeline (building the stack if needed)."""
        return self._ready()

    @property
    def guard(self) -> Any:
        """The guard in use (building the stack if needed)."""
        self._ready()
        return self._guard

    def _keep(self, event: HiveEvent) -> None:
        if self.keep_events:
            self.events.append(event)
            del self.events[: -self.keep_events]

    # -- identity -----------------------------------------------------------------

    def _tenant(self, user_api_key_dict: Any, data: Mapping[str, Any]) -> str:
        if self._tenant_of is not None:
            chosen = self._tenant_of(user_api_key_dict, data)
            if chosen:
                return chosen
        for name in ("team_id", "user_id", "key_alias"):
            value = getattr(user_api_key_dict, name, None)
            if isinstance(value, str) and value:
                return value
        return self.default_tenant()

    def default_tenant(self) -> str:
        """The tenant of calls that name none: the stack's ``config.tenant``, else the guard's."""
        config = getattr(self._stack, "config", None)
        tenant = getattr(config, "tenant", None) or getattr(self._guard, "tenant", None)
        return str(tenant or "default")

    def identity(self, tenant: str, data: Mapping[str, Any], call_id: str) -> Identity:
        """The ``(tenant, agent, thread)`` a request's memories are written under.

        The thread is the conversation's id when the request names one
        (``litellm_session_id``, ``metadata["session_id"]`` or ``metadata["thread_id"]``),
        else ``call_id`` (a fresh id per request).
        """
        metadata = data.get("metadata")
        meta = metadata if isinstance(metadata, Mapping) else {}
        agent = meta.get("hive_agent")
        thread = data.get("litellm_session_id") or meta.get("session_id") or meta.get("thread_id")
        return Identity(tenant, str(agent) if agent else self.agent, str(thread) if thread else call_id)

    # -- guard (fails closed) ------------------------------------------------------

    async def _admit(self, call_id: str, model: str, identity: Identity, data: Mapping[str, Any]) -> None:
        # The breaker first: a request refused for an open circuit spends no rate budget.
        guard = self._guard
        breaker = guard.breaker(model)
        permit = await breaker.abefore_call()  # a shared (Redis) breaker answers without blocking the loop
        reservation = None
        limiter = getattr(guard, "limiter", None)
        if limiter is not None and limiter.limit_for(model) is not None:
            from hive_middleware.resilience.cost import estimate_call_tokens

            try:
                reservation = await limiter.aacquire(identity.tenant, model, estimate_call_tokens(data, model))
            except BaseException:
                await breaker.arecord(permit, "none")
                raise
        messages = data.get("messages")
        self._track(call_id, _Inflight(permit, breaker, reservation, time.time(), identity,
                                       messages if isinstance(messages, list) else []))

    def _track(self, call_id: str, entry: _Inflight) -> None:
        self._inflight[call_id] = entry
        now = time.time()
        # Calls whose outcome never arrived (cancelled upstream) age out; a
        # lost half-open probe is released so the breaker can probe again.
        while self._inflight:
            oldest_id, oldest = next(iter(self._inflight.items()))
            if len(self._inflight) <= _INFLIGHT_MAX and now - oldest.started < _INFLIGHT_TTL_S:
                break
            del self._inflight[oldest_id]
            oldest.breaker.release(oldest.permit)

    # -- hooks: prepare (fails open) ---------------------------------------------

    async def _prepare(self, data: dict[str, Any], identity: Identity) -> tuple[dict[str, Any], str]:
        """Compress and recall; returns the data and what recall did (see ``RECALL_HEADER``)."""
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            return data, "none"
        try:
            pipeline = await self._aready()
            prepared = await pipeline.aprepare(messages, identity)
        except Exception as exc:
            if self._pipeline is not None:
                self._pipeline.failed([], "prepare", exc)
            else:
                logger.warning("hive pre-call hook failed, the request proceeds unmodified: %r", exc, exc_info=exc)
            return data, "error"
        if prepared.compressed or prepared.recalled:
            data["messages"] = prepared.messages
        return data, _recall_outcome(prepared.events, prepared.recalled)

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any] | str | None:
        """Proxy: guard, then compress and recall. Rejects with 429 (limit) or 503 (open circuit)."""
        if str(call_type) not in _CHAT_CALL_TYPES:
            return data
        started = time.perf_counter()
        call_id = str(data.get("litellm_call_id") or id(data))
        metadata = data.get("metadata")
        if isinstance(metadata, Mapping) and metadata.get("hive_drain"):
            # No Hive work of its own: it only reports when the earlier requests' work is done.
            self._drained[call_id] = await self.adrain()
            while len(self._drained) > _INFLIGHT_MAX:
                self._drained.popitem(last=False)
            return data
        model = str(data.get("model") or "")
        try:
            await self._aready()
        except Exception as exc:
            logger.warning("hive could not start, the request proceeds unguarded: %r", exc, exc_info=exc)
            return data
        identity = self.identity(self._tenant(user_api_key_dict, data), data, call_id)
        try:
            await self._admit(call_id, model, identity, data)
        except HiveRateLimited as exc:
            raise _proxy_rate_limited(exc, model) from exc
        except HiveCircuitOpen as exc:
            raise _proxy_circuit_open(exc) from exc
        data, recall = await self._prepare(data, identity)
        _mark_prepared(data)
        self._note_hook(call_id, (time.perf_counter() - started) * 1000.0, recall)
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        """Async SDK: guard, then compress and recall; raises HiveRateLimited / HiveCircuitOpen."""
        name = getattr(call_type, "value", call_type)
        if name is not None and str(name) not in _CHAT_CALL_TYPES:
            return None
        metadata = kwargs.get("metadata") or (kwargs.get("litellm_params") or {}).get("metadata") or {}
        if isinstance(metadata, Mapping) and metadata.get("hive_prepared"):
            return None  # the proxy hook already did it for this request
        call_id = str(kwargs.get("litellm_call_id") or id(kwargs))
        model = str(kwargs.get("model") or "")
        try:
            await self._aready()
        except Exception as exc:
            logger.warning("hive could not start, the call proceeds unguarded: %r", exc, exc_info=exc)
            return None
        identity = self.identity(self.default_tenant(), kwargs, call_id)
        await self._admit(call_id, model, identity, kwargs)
        prepared, _ = await self._prepare(dict(kwargs), identity)
        return prepared

    def _note_hook(self, call_id: str, ms: float, recall: str) -> None:
        self._hook_ms[call_id] = (ms, recall)
        while len(self._hook_ms) > _INFLIGHT_MAX:
            self._hook_ms.popitem(last=False)

    async def async_post_call_response_headers_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any,
        request_headers: dict[str, str] | None = None, litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """Proxy: report the pre-call hook's time (``x-hive-hook-ms``) and what recall did (``x-hive-recall``)."""
        call_id = str(data.get("litellm_call_id"))
        drained = self._drained.pop(call_id, None)
        if drained is not None:
            return {DRAIN_HEADER: "ok" if drained else "timeout"}
        noted = self._hook_ms.pop(call_id, None)
        if noted is None:
            return None
        return {HOOK_MS_HEADER: f"{noted[0]:.4f}", RECALL_HEADER: noted[1]}

    # -- outcomes: breaker, limiter, memory -------------------------------------------

    async def _finish(
        self, kwargs: Mapping[str, Any], response: Any, exc: BaseException | None
    ) -> _Inflight | None:
        entry = self._inflight.pop(str(kwargs.get("litellm_call_id")), None)
        if entry is None:
            return None
        try:
            if exc is None:
                await entry.breaker.arecord(entry.permit, "success")
            else:
                from hive_middleware.resilience.classify import classify

                verdict = classify(exc).verdict
                await entry.breaker.arecord(
                    entry.permit, verdict if verdict in ("failure", "success") else "none"
                )
        except Exception as err:  # reporting must never break the caller
            if self._pipeline is not None:
                self._pipeline.stats.add("hook_error.breaker")
            logger.warning("hive breaker update failed: %r", err, exc_info=err)
        return entry

    def exchange_items(self, entry: _Inflight, response: Any) -> list[MemoryItem]:
        """The memory items of one exchange: the last user turn, what follows it, and the answer."""
        pipeline = self._ready()
        answer = _answer_message(response)
        if answer is None:
            pipeline.stats.add("litellm.unexpected_response")
            logger.warning("hive could not read an answer from a %s response; the exchange's answer is not "
                           "remembered", type(response).__name__)
        messages = list(entry.messages)
        last_user = max((i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
                        default=None)
        if last_user is None:
            return []
        convo = [*messages, answer] if answer is not None else messages
        # Earlier turns of the conversation were not written by this request: link only what it writes.
        return pipeline.items(convo, entry.identity, start=last_user, link_earlier=False)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """Close the breaker's permit, correct the token bucket, remember the exchange (committed on return)."""
        self._remembering += 1  # before the entry leaves ``_inflight``: adrain() sees one or the other
        try:
            entry = await self._finish(kwargs, response_obj, None)
            if entry is None or self._pipeline is None:
                return
            try:
                if entry.reservation is not None:
                    from hive_middleware.resilience.cost import reported_tokens

                    await self._guard.limiter.asettle(entry.reservation, reported_tokens(response_obj))
                await self._pipeline.aremember(self.exchange_items(entry, response_obj))
            except Exception as exc:
                self._pipeline.failed([], "success_hook", exc, thread=entry.identity.thread)
        finally:
            self._remembering -= 1

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """Report the failure to the breaker (a model failure counts; a bad request does not)."""
        exc = kwargs.get("exception")
        await self._finish(kwargs, response_obj, exc if isinstance(exc, BaseException) else RuntimeError(str(exc)))

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """A sync ``litellm.completion`` finished: Hive could not prepare it; warn once, naming the wrapper."""
        params = kwargs.get("litellm_params") if isinstance(kwargs, Mapping) else None
        metadata = (params or {}).get("metadata") if isinstance(params, Mapping) else None
        if isinstance(metadata, Mapping) and metadata.get("hive_prepared"):
            return
        if not self._warned_sync:
            self._warned_sync = True
            logger.warning(
                "litellm.completion (sync) ran with HiveCallback registered: LiteLLM lets no hook rewrite a "
                "sync call, so Hive neither compressed, recalled nor remembered it. Call "
                "hive_middleware.integrations.litellm.completion(...) (same arguments) instead, or use "
                "await litellm.acompletion(...)."
            )


def _recall_outcome(events: list[HiveEvent], recalled: int) -> str:
    for event in events:
        if event.kind == "recalled":
            return f"{'fresh' if event.detail.get('fresh', True) else 'earlier'}:{recalled}"
        if event.kind == "recall_pending":
            return "pending"
        if event.kind == "hook_error" and event.detail.get("stage") == "recall":
            return "error"
    return "none"


def _mark_prepared(data: dict[str, Any]) -> None:
    """Tell the deployment hook this request was prepared (a caller's non-dict metadata is left alone)."""
    metadata = data.get("metadata")
    if metadata is None:
        data["metadata"] = metadata = {}
    if isinstance(metadata, dict):
        metadata["hive_prepared"] = True


def _answer_message(response: Any) -> dict[str, Any] | None:
    """The assistant message of a completion response, as an OpenAI dict (``None``: unreadable)."""
    try:
        choice = response["choices"][0] if isinstance(response, Mapping) else response.choices[0]
        message = choice["message"] if isinstance(choice, Mapping) else choice.message
        as_dict = dict(message) if isinstance(message, Mapping) else message.model_dump()
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    if not isinstance(as_dict, dict):
        return None
    return {k: v for k, v in as_dict.items() if k in ("role", "content", "tool_calls", "name")} | {
        "role": "assistant"}


def _retry_after(exc: HiveError) -> str:
    return str(max(1, math.ceil(float(getattr(exc, "retry_after", 1.0) or 1.0))))


def _proxy_rate_limited(exc: HiveRateLimited, model: str) -> Exception:
    from litellm.proxy.common_utils.proxy_rate_limit_error import ProxyRateLimitError

    return ProxyRateLimitError(
        detail={"error": f"hive: {exc.message}"},
        headers={"retry-after": _retry_after(exc)},
        model=model,
    )


def _proxy_circuit_open(exc: HiveCircuitOpen) -> Exception:
    from fastapi import HTTPException

    return HTTPException(
        status_code=503,
        detail={"error": f"hive: {exc.message}"},
        headers={"retry-after": _retry_after(exc)},
    )


def completion(*, stack: Any = None, callback: HiveCallback | None = None, **kwargs: Any) -> Any:
    """Sync ``litellm.completion`` with Hive: compress and recall, guarded call, remember.

    Args:
        stack: The Hive stack (default: the callback's, or ``HiveStack.from_config()``).
        callback: Reuse this callback's stack, guard and options.
        **kwargs: ``litellm.completion`` arguments (``model`` and ``messages`` required).

    Returns:
        litellm's response.

    Raises:
        HiveRateLimited, HiveCircuitOpen, HiveModelError: from the guard (fails closed).
    """
    cb = callback or _sync_callback(stack)
    pipeline = cb._ready()
    messages = kwargs.get("messages")
    call_id = f"sync-{time.time_ns()}"
    identity = cb.identity(cb.default_tenant(), kwargs, call_id)
    if isinstance(messages, list) and messages:
        prepared = pipeline.prepare(messages, identity)
        if prepared.compressed or prepared.recalled:
            kwargs = {**kwargs, "messages": prepared.messages}
    metadata = {**(kwargs.get("metadata") or {}), "hive_prepared": True}
    response = cb._guard.completion(**{**kwargs, "metadata": metadata})
    entry = _Inflight(None, None, None, time.time(), identity, messages if isinstance(messages, list) else [])
    pipeline.remember(cb.exchange_items(entry, response))
    return response


_SYNC_CALLBACKS: dict[int, HiveCallback] = {}


def _sync_callback(stack: Any) -> HiveCallback:
    key = id(stack)
    found = _SYNC_CALLBACKS.get(key)
    if found is None:
        found = _SYNC_CALLBACKS[key] = HiveCallback(stack)
    return found


def _proxy_recall_k() -> int:
    raw = os.environ.get("LITELLM_HIVE_RECALL_K", "3")
    try:
        return max(0, int(raw))
    except ValueError:
        logger.warning("LITELLM_HIVE_RECALL_K=%r is not an integer; using 3", raw)
        return 3


proxy_handler_instance = HiveCallback(recall_k=_proxy_recall_k(), recall_prefetch=True)
if "litellm.proxy.proxy_server" in sys.modules:  # loaded by a proxy: start now, not on the first request
    proxy_handler_instance.start()
"""The instance a LiteLLM proxy config names: ``callbacks: hive_middleware.integrations.litellm.proxy_handler_instance``.

Its stack is ``HiveStack.from_config()`` (``HIVE_*`` variables, ``hive.toml``), built with its
embedder when the proxy loads this module (a request arriving before that waits for it);
``LITELLM_HIVE_RECALL_K`` sets the memories injected per request (default 3, 0 turns recall
off). A request never waits on a query embedding (recall is prefetched per conversation);
its exchange is committed to memory in the success hook, after the response."""
