"""realtime.reads.JoinedReads: callers that ask for the same read before it begins share it;
whoever asks once it has begun gets a read of its own, so nobody is answered from before it
asked."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from realtime.reads import JoinedReads

# The reads run through database_sync_to_async, which looks after the thread's connection.
pytestmark = pytest.mark.django_db(transaction=True)


class Reads:
    """A read that counts its calls and returns the state as it was when it began."""

    def __init__(self) -> None:
        self.calls = 0
        self.state = "before"
        self.started = threading.Event()
        self.go_on = threading.Event()
        self.go_on.set()

    def __call__(self, name: str) -> str:
        self.calls += 1
        seen = self.state
        self.started.set()
        assert self.go_on.wait(10)
        return f"{name}: {seen}"


async def busy_sync_thread() -> tuple[threading.Event, asyncio.Future]:
    """Occupy Django's sync thread until the event is set, as a storm of queries would."""
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait)())
    await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, so the wait is queued first
    return release, busy


async def test_callers_that_ask_before_the_read_begins_share_it():
    read = Reads()
    joined = JoinedReads(read)
    release, busy = await busy_sync_thread()
    callers = [asyncio.ensure_future(joined("room-1", "room 1")) for _ in range(5)]
    other_key = asyncio.ensure_future(joined("room-2", "room 2"))
    await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, so every caller has asked
    read.state = "after every caller asked"
    release.set()
    await busy
    assert await asyncio.gather(*callers) == ["room 1: after every caller asked"] * 5
    assert await other_key == "room 2: after every caller asked"
    assert read.calls == 2  # one per key


async def test_a_caller_that_asks_once_the_read_began_gets_a_read_of_its_own():
    read = Reads()
    joined = JoinedReads(read)
    read.go_on.clear()
    first = asyncio.ensure_future(joined("room-1", "room 1"))
    await asyncio.to_thread(read.started.wait, 10)  # the read has begun in the sync thread
    read.state = "changed after the first read began"
    second = asyncio.ensure_future(joined("room-1", "room 1"))
    read.go_on.set()
    assert await first == "room 1: before"
    assert await second == "room 1: changed after the first read began"
    assert read.calls == 2


async def test_a_failed_read_fails_every_caller_and_the_next_one_reads_again():
    calls = []

    def read() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return "fine"

    joined = JoinedReads(read)
    release, busy = await busy_sync_thread()
    callers = [asyncio.ensure_future(joined("key")) for _ in range(3)]
    await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, so every caller has asked
    release.set()
    await busy
    for caller in callers:
        with pytest.raises(RuntimeError, match="went away"):
            await caller
    assert await joined("key") == "fine"
    assert len(calls) == 2


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others():
    read = Reads()
    joined = JoinedReads(read)
    release, busy = await busy_sync_thread()
    leaving = asyncio.ensure_future(joined("room-1", "room 1"))
    staying = asyncio.ensure_future(joined("room-1", "room 1"))
    await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, so both have asked
    leaving.cancel()
    release.set()
    await busy
    assert await staying == "room 1: before"
    assert leaving.cancelled()
    assert read.calls == 1


async def test_a_caller_subscribed_before_a_read_began_may_take_it_after_it_ended():
    """A resume needs what was committed before its socket subscribed: a read that began
    after that serves it, even once done (what the read missed comes to the socket live)."""
    read = Reads()
    joined = JoinedReads(read)
    subscribed = time.monotonic()
    assert await joined("room-1", "room 1", since=subscribed) == "room 1: before"
    read.state = "changed since"
    assert await joined("room-1", "room 1", since=subscribed) == "room 1: before"
    assert read.calls == 1
    # Subscribed after that read began: it needs a read of its own; so does a caller with no
    # `since` (a gap in the live stream), however recent the last read.
    assert await joined("room-1", "room 1", since=time.monotonic()) == "room 1: changed since"
    read.state = "changed again"
    assert await joined("room-1", "room 1") == "room 1: changed again"
    assert read.calls == 3


async def test_a_done_read_is_kept_for_a_while_only_and_a_failed_one_not_at_all():
    calls = []

    def read() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return len(calls)

    joined = JoinedReads(read)
    joined.keep = 0.05
    subscribed = time.monotonic()
    with pytest.raises(RuntimeError):
        await joined("key", since=subscribed)
    assert await joined("key", since=subscribed) == 2, "the failure was not handed on"
    assert await joined("key", since=subscribed) == 2
    await asyncio.sleep(0.1)  # noqa: sleep-ok past `keep`, which counts wall time
    assert await joined("key", since=subscribed) == 3
