"""Memory recall computed off the request path, for hooks that cannot wait for a search."""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from hive_middleware.pipeline.messages import is_memory_message
from hive_middleware.types import message_text

__all__ = ["RecallPrefetcher", "conversation_key"]

logger = logging.getLogger("hive_middleware.pipeline")


class RecallPrefetcher:
    """Memory recall computed off the request path.

    A hook that cannot wait for a search (the LiteLLM proxy: a query embedding
    costs ~10 ms) asks :meth:`lookup` instead. It answers at once with the hits
    of the latest search finished for that conversation, or ``None``, and queues
    a search for the current query on one background thread. Pending queries are
    coalesced per conversation (only the newest is searched); conversations that
    have no hits yet are searched before others are refreshed, and within each
    group the newest conversation goes first, so the worker never falls behind a
    busy conversation; at most ``max_pending`` conversations wait in each group,
    the least recent are dropped. The
    hits a turn gets were therefore found for the same query (``fresh``) or for
    an earlier turn of the conversation.

    The worker also bounds its own CPU: after a search that took ``t`` seconds it
    rests ``t * (1 / max_busy - 1)``, so background recall never takes more than
    ``max_busy`` of a core from the requests it serves; under load, hits get
    older instead of requests getting slower.

    Args:
        search: ``search(query) -> hits``; called on the worker thread only. A query
            is any hashable value (the session passes ``(text, scope)``).
        max_pending: Conversations whose search may wait at once.
        max_results: Conversations whose latest hits are kept (least recent dropped).
        max_busy: Largest share of wall time the worker spends searching (0 < x <= 1).
    """

    def __init__(
        self,
        search: Callable[[Any], list[Any]],
        *,
        max_pending: int = 1_024,
        max_results: int = 4_096,
        max_busy: float = 0.25,
    ) -> None:
        if not 0 < max_busy <= 1:
            from hive_middleware.errors import HiveConfigError

            raise HiveConfigError(f"max_busy must be in (0, 1], got {max_busy!r}", key="max_busy")
        self._max_busy = max_busy
        self._search = search
        self._max_pending = max_pending
        self._max_results = max_results
        self._cond = threading.Condition()
        self._first: OrderedDict[str, Hashable] = OrderedDict()
        self._pending: OrderedDict[str, Hashable] = OrderedDict()
        self._results: OrderedDict[str, tuple[Hashable, list[Any]]] = OrderedDict()
        self._worker: threading.Thread | None = None
        self._running: tuple[str, Hashable] | None = None
        self._closed = False
        self._stop = threading.Event()
        self.searched = 0
        self.failed = 0
        self.dropped = 0

    def lookup(self, conversation: str, query: Hashable) -> tuple[list[Any] | None, bool]:
        """Hits for ``conversation`` now (or ``None``) and whether they were found for ``query``.

        Unless they were, a search for ``query`` is queued for the next turn.
        """
        with self._cond:
            done = self._results.get(conversation)
            fresh = done is not None and done[0] == query
            if done is not None:
                self._results.move_to_end(conversation)
            if not fresh and not self._closed and self._running != (conversation, query):
                # A conversation with no hits yet gets nothing until its first search:
                # those go first; the others refresh hits they already have.
                waiting = self._first if done is None else self._pending
                waiting[conversation] = query
                waiting.move_to_end(conversation)
                while len(waiting) > self._max_pending:
                    waiting.popitem(last=False)
                    self.dropped += 1
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="hive-recall-prefetch", daemon=True)
                    self._worker.start()
                    # Stop it before the interpreter tears down what a search uses.
                    atexit.register(_close_weakly, weakref.ref(self))
                self._cond.notify()
        return (None if done is None else done[1]), fresh

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._first and not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                # First searches before refreshes; within each, newest first: the
                # conversation that asked last is the most likely to ask again soon.
                waiting = self._first if self._first else self._pending
                conversation, query = waiting.popitem(last=True)
                self._running = (conversation, query)
            started = time.perf_counter()
            try:
                hits = list(self._search(query))
            except Exception as exc:  # recall fails open: the conversation keeps its older hits
                logger.warning("hive background recall failed (ignored): %r", exc, exc_info=exc)
                with self._cond:
                    self.failed += 1
                    self._running = None
                    self._cond.notify_all()
                continue
            with self._cond:
                self._results[conversation] = (query, hits)
                if conversation in self._first:  # a newer turn asked meanwhile: now a refresh
                    self._pending[conversation] = self._first.pop(conversation)
                self._results.move_to_end(conversation)
                while len(self._results) > self._max_results:
                    self._results.popitem(last=False)
                self.searched += 1
                self._running = None
                self._cond.notify_all()
            rest = min(1.0, (time.perf_counter() - started) * (1.0 / self._max_busy - 1.0))
            if rest > 0:
                self._stop.wait(rest)  # woken early only by close()

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until no search is queued or running; True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._first or self._pending or self._running is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Stop the worker; queued searches are dropped."""
        with self._cond:
            self._closed = True
            self._stop.set()
            self._first.clear()
            self._pending.clear()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5)


def _close_weakly(ref: weakref.ReferenceType[RecallPrefetcher]) -> None:
    prefetcher = ref()
    if prefetcher is not None:
        prefetcher.close()


def conversation_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """Which conversation ``messages`` continue, for sharing prefetched hits: its system prompt and first user turn.

    Only a cache key: two conversations that open alike share recall hits (the
    same query in the same namespace finds the same memories); memories are never
    written under it.
    """
    digest = hashlib.blake2b(digest_size=12)
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer") and is_memory_message(msg):
            continue
        digest.update(str(role).encode())
        digest.update(message_text(msg).encode("utf-8", "replace"))
        if role == "user":
            break
    return digest.hexdigest()
