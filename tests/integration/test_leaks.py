"""Issue 12: no socket failure leaks a cap slot, a presence entry or memory.

Two Daphne processes (serving tests.realtime.faulty_app: the real app plus a chat socket with a
bug on demand) and their own Redis. Sockets die every way a socket dies: a handler that raises,
a frame over the limit, a text frame that is not UTF-8, a client that vanishes, a reader that
stays behind. Afterwards Redis holds no socket-cap or presence entry at all, and the servers'
memory is back where it was.
"""

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.frames import OP_TEXT

from realtime.collector import THAW_AFTER_CLOSED, THAW_INTERVAL_SECONDS
from tests.integration.conftest import UNLIMITED, Stack
from tests.realtime.faulty_app import FAULT, FaultyDaphne
from tests.realtime.raw_sockets import SlowReader, SlowStream, socket_entries, until_no_entries
from tests.support import procs
from tests.support.clients import (
    Account,
    ChatClient,
    Rest,
    close_code,
    connect_socket,
    metric,
    recv_json,
    sse_events,
)
from tests.support.scale import scaled

pytestmark = [pytest.mark.integration, pytest.mark.scale]

KiB, MiB = 1024, 1024 * 1024
SEND_BUFFER = 256 * KiB  # the stack's SWITCHBOARD_MAX_SEND_BUFFER_BYTES: slow readers fill it fast
TOO_SLOW = "switchboard_sockets_too_slow_total"
STREAMS_TOO_SLOW = "switchboard_streams_too_slow_total"
# What may wait for a reader before the server's own buffer fills: the kernel's send buffer for
# the connection, up to tcp_wmem's maximum.
KERNEL_SEND_BUFFER = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
KILLED = scaled(quick=84, full=200)  # every 7th a slow reader


@pytest.fixture(scope="module")
def faulty_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """Two FaultyDaphnes and a redis-server of their own, on the SQLite stack's database."""
    with procs.RedisServer() as redis:
        env = procs.app_env(
            database_url=sqlite_stack.env["DATABASE_URL"],
            redis_url=redis.url,
            SWITCHBOARD_MAX_SEND_BUFFER_BYTES=str(SEND_BUFFER),
            **UNLIMITED,
        )
        servers = [FaultyDaphne(env), FaultyDaphne(env)]
        stack = Stack(sqlite_stack.database, env, redis, *servers, pool=sqlite_stack.pool)
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(procs.DaphneProcess.start, servers))
            yield stack
        finally:
            stack.stop()


async def test_a_handler_failure_closes_4011_and_releases_the_socket(faulty_stack):
    """Finding 15: a handler that raised made the app close with 1011, which Daphne refuses,
    so `disconnect` never ran: the user's cap slot and presence stayed until a restart."""
    stack = faulty_stack
    alice, bob = await stack.login(2)
    async with Rest(stack.one, alice) as rest:
        slug = (await rest.create_room())["slug"]
    async with await ChatClient.open(stack.two, bob, slug) as watcher:
        ws = await connect_socket(stack.one, f"/ws/faulty/rooms/{slug}/", alice)
        hello = await recv_json(ws)
        alice_id = hello["user"]["id"]
        await watcher.frames_until(
            lambda f: f["type"] == "presence" and alice.username in usernames(f)
        )
        await ws.send(FAULT)
        assert await close_code(ws) == 4011
        # The others see her leave, and her place in the caps is free at once.
        await watcher.frames_until(
            lambda f: f["type"] == "presence" and alice.username not in usernames(f)
        )
        assert await until_no_entries(stack.redis.url, user_id=alice_id, within=5) == {}
        async with await ChatClient.open(stack.one, alice, slug) as back:
            assert alice.username in usernames(back.hello)


def usernames(frame: dict) -> set[str]:
    return {user["username"] for user in frame["online"]}


# --- the leak test ---------------------------------------------------------------------------


async def handler_failure(server, account: Account, slug: str) -> str:
    ws = await connect_socket(server, f"/ws/faulty/rooms/{slug}/", account)
    assert (await recv_json(ws))["type"] == "hello"
    await ws.send(FAULT)
    return f"closed {await close_code(ws)}"


async def oversize(server, account: Account, slug: str) -> str:
    client = await ChatClient.open(server, account, slug)
    await client.ws.send("x" * (64 * KiB + 1))
    return f"closed {await close_code(client.ws)}"


async def oversize_notes(server, account: Account, slug: str) -> str:
    ws = await connect_socket(server, f"/ws/rooms/{slug}/notes/", account)
    await ws.send(b"\x00" * (64 * KiB + 1))
    return f"closed {await close_code(ws)}"


async def not_utf8(server, account: Account, slug: str) -> str:
    raw = await SlowReader.open(server, f"/ws/rooms/{slug}/", account)
    await raw.send_frame(OP_TEXT, b'{"type":"ping","x":"\xff\xfe"}')
    _, code = await raw.read_to_end()
    raw.abort()
    return f"closed {code}"


async def deep_then_abort(server, account: Account, slug: str) -> str:
    client = await ChatClient.open(server, account, slug)
    await client.ws.send("[" * 30_000 + "]" * 30_000)
    error = await client.next_frame()
    client.ws.transport.abort()
    return f"{error['code']}, then aborted"


async def abort(server, account: Account, slug: str) -> str:
    ws = await connect_socket(server, f"/ws/dashboards/{slug}/", account)
    assert (await recv_json(ws))["type"] == "snapshot"
    ws.transport.abort()
    return "aborted"


async def slow_reader(server, account: Account, slug: str) -> SlowReader:
    """A socket that asks for the whole history again and again and reads none of it; the
    server closes it (4013) and then drops it, since it does not read the close either."""
    raw = await SlowReader.open(server, f"/ws/rooms/{slug}/", account)
    # 6.4 MB: more than the server's kernel send buffer (up to 4 MiB here) and its own.
    for _ in range(40):
        await raw.send_text(json.dumps({"type": "resume", "after_seq": 0}))
    return raw


FAILURES = (handler_failure, oversize, oversize_notes, not_utf8, deep_then_abort, abort)
EXPECTED = {
    handler_failure: "closed 4011",
    oversize: "closed 1009",
    oversize_notes: "closed 1009",
    not_utf8: "closed 1007",
    deep_then_abort: "invalid_json, then aborted",
    abort: "aborted",
}


async def kill_sockets(stack: Stack, accounts: list[Account], room: str, dash: str, count: int):
    """Open `count` sockets over both servers and kill each; every 7th is a slow reader.
    The slow readers are left open on the client's side: the server must give up on them."""
    slow: list[SlowReader] = []
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        server = stack.servers[n % 2]
        account = accounts[n % len(accounts)]
        async with gate:
            if n % 7 == 6:
                slow.append(await slow_reader(server, account, room))
                return
            failure = FAILURES[n % 7]
            outcome = await failure(server, account, dash if failure is abort else room)
            assert outcome == EXPECTED[failure], (failure.__name__, outcome)
            outcomes[failure.__name__] += 1

    await asyncio.gather(*(one(n) for n in range(count)))
    return slow, outcomes


async def too_slow_total(stack: Stack) -> float:
    return sum([await metric(server, TOO_SLOW) for server in stack.servers])


async def test_sockets_killed_every_way_leave_nothing_behind(faulty_stack):
    stack = faulty_stack
    accounts = await stack.login(20)
    async with Rest(stack.one, accounts[0]) as rest:
        room = (await rest.create_room())["slug"]
        for n in range(40):  # a history whose replay (160 KB) overfills a send buffer
            await rest.post_message(room, f"{n:02d} " + "x" * 3900)
        device = await rest.create_device("leak sensor")
        dash = (
            await rest.create_dashboard(
                panels=[{"title": "T", "device": device["id"], "metric": "t", "kind": "line"}]
            )
        )["slug"]

    async def round_of(count: int) -> tuple[list[SlowReader], Counter[str]]:
        slow_before = await too_slow_total(stack)
        slow, outcomes = await kill_sockets(stack, accounts, room, dash, count)
        try:
            # Every slow reader is closed as too slow, once, and then dropped.
            try:
                async with asyncio.timeout(60):
                    while True:
                        if await too_slow_total(stack) >= slow_before + len(slow):
                            break
                        await asyncio.sleep(0.1)  # noqa: sleep-ok polling a metric, to a deadline
            except TimeoutError:
                closed = await too_slow_total(stack) - slow_before
                raise AssertionError(f"{closed} of {len(slow)} slow readers closed") from None
            leftover = await until_no_entries(stack.redis.url, within=60)
        finally:
            for reader in slow:
                reader.abort()
        assert await too_slow_total(stack) == slow_before + len(slow)
        assert leftover == {}, leftover
        return slow, outcomes

    await round_of(42)  # warm-up: the servers' memory settles at what serving these takes
    rss_before = [server.rss_bytes() for server in stack.servers]
    slow, outcomes = await round_of(KILLED)
    assert len(slow) == KILLED // 7 and sum(outcomes.values()) == KILLED - KILLED // 7, outcomes
    assert await socket_entries(stack.redis.url) == {}
    rss_after = [server.rss_bytes() for server in stack.servers]
    growth = [(after - before) / MiB for before, after in zip(rss_before, rss_after, strict=True)]
    assert all(g < 8 for g in growth), f"RSS grew by {growth} MiB after {KILLED} killed sockets"
    # And the servers still serve: a socket opens and hears its hello.
    async with await ChatClient.open(stack.two, accounts[1], room) as client:
        assert client.hello["type"] == "hello"


async def test_what_closed_sockets_leave_among_frozen_objects_is_collected(faulty_stack):
    """realtime.collector freezes what survives each full collection, so that the next walks
    only what is new; a socket that a freeze caught open leaves reference cycles there when it
    closes, which no full collection finds. Once THAW_AFTER_CLOSED such connections have
    closed, the process collects everything once (a thaw): at most one per
    THAW_INTERVAL_SECONDS, so one that fell due sooner after an earlier test's comes when the
    interval ends."""
    stack = faulty_stack
    server = stack.one
    thaws_before = await metric(server, "switchboard_gc_thaws_total")
    per_account = 20  # SWITCHBOARD_MAX_SOCKETS_PER_USER
    needed = -(-THAW_AFTER_CLOSED // per_account)
    # Up to 35 more accounts' sockets (the address cap is 1,000), opened until a full
    # collection comes: Python's rule wants long-lived objects grown by a quarter.
    accounts = await stack.login(needed + 35)
    async with Rest(server, accounts[0]) as rest:
        room = (await rest.create_room())["slug"]

    async def open_sockets(account: Account) -> list:
        sockets = [
            await connect_socket(server, f"/ws/rooms/{room}/", account) for _ in range(per_account)
        ]
        for ws in sockets:
            assert (await recv_json(ws))["type"] == "hello"
        return sockets

    sockets = []
    for account in accounts[:needed]:
        sockets += await open_sockets(account)
    # A full collection after they all opened freezes what they hold: new sockets (long-lived
    # objects) make one fall due.
    full_collections = await metric(server, "python_gc_collections_total", generation="2")
    for account in accounts[needed:]:
        sockets += await open_sockets(account)
        if await metric(server, "python_gc_collections_total", generation="2") > full_collections:
            break
    else:
        raise AssertionError(f"no full collection while {len(sockets)} sockets opened")
    await asyncio.gather(*(ws.close() for ws in sockets))
    async with asyncio.timeout(THAW_INTERVAL_SECONDS + 30):
        while True:
            if await metric(server, "switchboard_gc_thaws_total") >= thaws_before + 1:
                break
            await asyncio.sleep(0.1)  # noqa: sleep-ok polling a metric, to a deadline


async def test_an_event_stream_left_unread_is_dropped_and_its_reader_resumes_everything(
    faulty_stack,
):
    """Twisted buffers whatever a client leaves unread, without bound: an SSE reader that
    stopped reading held every later event of its room in the server's memory. A stream that
    stays over the send buffer is dropped; its slot is given back, and the reader, back with
    the last id it read (as EventSource does), gets every later message once, in one stream:
    a replay of megabytes to a reader that takes it is not dropped."""
    stack = faulty_stack
    reader, writer = await stack.login(2)
    server = stack.one
    body = "x" * 3900
    async with Rest(server, writer) as rest:
        slug = (await rest.create_room())["slug"]
        first = (await rest.post_message(slug, "before the stream"))["seq"]
        stream = await SlowStream.open(server, f"/sse/rooms/{slug}/?after_seq={first}", reader)
        dropped = await metric(server, STREAMS_TOO_SLOW)
        try:
            posted = 0
            while posted < KERNEL_SEND_BUFFER + 2 * SEND_BUFFER:
                if await metric(server, STREAMS_TOO_SLOW) > dropped:
                    break
                await asyncio.gather(*(rest.post_message(slug, f"{n} {body}") for n in range(50)))
                posted += 50 * len(body)
            async with asyncio.timeout(30):  # it stays behind: dropped 5 s after it fell behind
                while True:
                    if await metric(server, STREAMS_TOO_SLOW) > dropped:
                        break
                    await asyncio.sleep(0.1)  # noqa: sleep-ok polling a metric, to a deadline
            received = await stream.read_to_end(within=30)  # what got through, then the end
        finally:
            stream.abort()
        assert await metric(server, STREAMS_TOO_SLOW) == dropped + 1
        assert await until_no_entries(stack.redis.url, within=30) == {}, "its slot is back"
        last = (await rest.post_message(slug, "after the drop"))["seq"]
    resume_from = received[-1] if received else first
    assert received == list(range(first + 1, resume_from + 1))
    seqs: list[int] = []
    async with (
        httpx.AsyncClient(
            base_url=server.http, cookies={"sessionid": reader.sessionid}, timeout=30
        ) as client,
        client.stream(
            "GET", f"/sse/rooms/{slug}/", headers={"Last-Event-ID": str(resume_from)}
        ) as response,
    ):
        async for event in sse_events(response):
            if event.event == "message":
                seqs.append(int(event.id))
                if seqs[-1] == last:
                    break
    assert seqs == list(range(resume_from + 1, last + 1))
    assert await metric(server, STREAMS_TOO_SLOW) == dropped + 1, "the resume was not dropped"
