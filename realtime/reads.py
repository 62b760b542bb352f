"""Database reads that many sockets ask for at once, done once for all of them."""

import asyncio
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from channels.db import database_sync_to_async

_running: set[asyncio.Task] = set()  # held: the loop keeps only weak references to tasks


class JoinedReads:
    """One read per key for every caller that asks before it starts.

    A caller may only join a read that has not started yet: a socket asks after it has
    subscribed to its room, and must see everything committed before it asked. So a read takes
    joiners until Django's sync thread begins it, and whoever asks later waits for the next
    one. In a reconnect storm hundreds of sockets of a room resume from the same seq while that
    thread is busy: one query now serves all who asked in the meantime (bench.storm).

    A caller that needs only what was committed before it subscribed (`since`, a
    time.monotonic() instant) may also take a read that began after that, for up to
    `keep` seconds after it ended: what the read missed reaches the socket live (and a
    caller that already sent some of it live reads on, as chat's resume does). A resume
    is such a caller; a gap found in the live stream is not (the read must begin after the
    frame that showed the gap). Sockets that come back to a process one after another then
    share reads too, not only those that ask in the same moment.
    """

    keep: float = 2.0

    def __init__(self, read: Callable[..., Any]) -> None:
        self.read = read
        # per event loop (a test has its own): key -> the read not yet started
        self.loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
            weakref.WeakKeyDictionary()
        )
        # per event loop: key -> (when it began, the read) of the latest read begun
        self.begun: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, key: Hashable, *args: Any, since: float | None = None) -> Any:
        """`read(*args)`, begun after this call, or after `since` if given; `args` must be the
        same for the same key."""
        loop = asyncio.get_running_loop()
        reads = self.loops.setdefault(loop, {})
        future = reads.get(key)
        if future is None and since is not None:
            began, latest = self.begun.get(loop, {}).get(key, (None, None))
            if began is not None and began >= since:
                future = latest
        if future is None:
            future = reads[key] = loop.create_future()
            task = loop.create_task(self._run(loop, reads, key, future, args))
            _running.add(task)
            task.add_done_callback(_running.discard)
        # One caller given up (its socket went) must not cancel the others' read.
        return await asyncio.shield(future)

    async def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        reads: dict,
        key: Hashable,
        future: asyncio.Future,
        args: tuple,
    ) -> None:
        begun = self.begun.setdefault(loop, {})

        def start() -> Any:
            # In the sync thread, as the read begins: later callers start another. (Only
            # this future can be under the key: the loop adds one only where none is.)
            _close(reads, key, future)
            begun[key] = (time.monotonic(), future)
            return self.read(*args)

        def forget() -> None:
            if begun.get(key, (None, None))[1] is future:
                del begun[key]

        try:
            await self._read(reads, key, future, start)
        finally:
            if future.done() and not future.cancelled() and future.exception() is None:
                loop.call_later(self.keep, forget)
            else:
                forget()  # a failed read is nobody's answer but its own callers'

    async def _read(
        self, reads: dict, key: Hashable, future: asyncio.Future, start: Callable[[], Any]
    ) -> None:
        try:
            result = await database_sync_to_async(start)()
        except BaseException as error:
            _close(reads, key, future)  # it never started (cancelled) or failed
            if not future.done():
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
        else:
            if not future.done():
                future.set_result(result)


def _close(reads: dict, key: Hashable, future: asyncio.Future) -> None:
    if reads.get(key) is future:
        del reads[key]
