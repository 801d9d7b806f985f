"""A channel subscription: a sync and async iterator fed by blocking reads of a channel log.

The subscription remembers the cursor of the last event it handed out. A read
that fails because the back-end is unreachable is retried every ``retry_s`` from
that cursor, so a subscriber that lives through an outage misses nothing and
sees nothing twice; a new subscription given ``after=sub.cursor`` resumes the
same way after a restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from hive_middleware.errors import HiveStorageError
from hive_middleware.hivemind.fallback import is_unavailable
from hive_middleware.hivemind.model import ChannelEvent
from hive_middleware.hivemind.ports import ChannelLog
from hive_middleware.pipeline.counters import Counters

__all__ = ["Subscription"]


class Subscription:
    """Events of one channel as they are published; iterate with ``for`` or ``async for``.

    Use as a context manager (``with``/``async with``) or call :meth:`close`;
    iteration ends after :meth:`close`.

    Args:
        log: The channel log.
        tenant: Owner of the channel.
        channel: Channel name.
        after: Cursor to resume after (events after it are delivered, even those
            published before the subscription).
        wait_s: Longest single blocking read (bounds how long :meth:`close` waits).
        retry_s: Pause between reads while the back-end is unreachable.
        batch: Most events fetched per read.
        stats: Counts ``hivemind.subscriber_retries``.
    """

    def __init__(
        self,
        log: ChannelLog,
        tenant: str,
        channel: str,
        after: str | None,
        *,
        wait_s: float = 1.0,
        retry_s: float = 1.0,
        batch: int = 100,
        stats: Counters | None = None,
    ) -> None:
        self._log = log
        self.tenant = tenant
        self.channel = channel
        self._cursor = after
        self._wait_s = wait_s
        self._retry_s = retry_s
        self._batch = batch
        self._stats = stats
        self._buffer: deque[ChannelEvent] = deque()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def cursor(self) -> str | None:
        """Cursor of the last event handed out (pass it as ``after=`` to resume)."""
        return self._cursor

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    def _fill(self, wait_s: float) -> None:
        """One blocking read into the buffer (a no-op if events are buffered)."""
        if self._buffer:
            return
        try:
            events = self._log.read(self.tenant, self.channel, self._cursor, self._batch, wait_s)
        except HiveStorageError as exc:
            if not is_unavailable(exc):
                raise
            if self._stats is not None:
                self._stats.add("hivemind.subscriber_retries")
            self._closed.wait(min(self._retry_s, wait_s) if wait_s > 0 else 0)
            return
        self._buffer.extend(events)

    def _take(self) -> ChannelEvent:
        event = self._buffer.popleft()
        self._cursor = event.cursor
        return event

    def get(self, timeout: float | None = None) -> ChannelEvent | None:
        """The next event, waiting up to ``timeout`` seconds (``None``: until one comes or :meth:`close`).

        Returns:
            The event, or ``None`` on timeout or after :meth:`close`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._closed.is_set():
                if self._buffer:
                    return self._take()
                left = self._wait_s if deadline is None else min(self._wait_s, deadline - time.monotonic())
                if left <= 0:
                    return None
                self._fill(left)
            return None

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> ChannelEvent:
        event = self.get()
        if event is None:
            raise StopIteration
        return event

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ChannelEvent:
        if self._executor is None:
            # One thread per async subscription: blocking reads never occupy the
            # loop's default executor, which many subscribers would exhaust.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hive-subscription")
        loop = asyncio.get_running_loop()
        event = await loop.run_in_executor(self._executor, self.get)
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """End the iteration (a blocked read returns within ``wait_s``)."""
        self._closed.set()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
