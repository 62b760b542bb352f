"""Switchboard across real processes: two Daphnes, one Redis channel layer, one database.

Every test talks to the servers only as users do (login page, REST, chat sockets), and every
wait has a deadline, so a lost or duplicated frame fails the test instead of hanging it.
"""

import asyncio
import contextlib
import struct
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.frames import OP_TEXT, Frame

from tests.realtime.raw_sockets import OP_CLOSE, SlowReader
from tests.support.clients import (
    HTTP_TIMEOUT,
    SAME_ORIGIN,
    ChatClient,
    Rest,
    close_code,
    connect_chat,
)

pytestmark = pytest.mark.integration


def is_message(seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == "message" and frame["message"]["seq"] == seq


async def test_cross_process_delivery(stack):
    a, b = await stack.login(2)
    async with Rest(stack.one, a) as rest_a, Rest(stack.two, b) as rest_b:
        slug = (await rest_a.create_room())["slug"]
        async with (
            await ChatClient.open(stack.one, a, slug) as client_a,
            await ChatClient.open(stack.two, b, slug) as client_b,
        ):
            await client_a.send_message("from A over the socket on process 1")
            got_a = await client_a.messages(1)
            got_b = await client_b.messages(1)
            posted = await rest_b.post_message(slug, "from B over REST on process 2")
            got_a += await client_a.messages(1)
            got_b += await client_b.messages(1)
        history = await rest_a.history(slug)

    assert [(m["seq"], m["body"]) for m in history] == [
        (1, "from A over the socket on process 1"),
        (2, "from B over REST on process 2"),
    ]
    assert history[1] == posted
    assert got_a == history
    assert got_b == history


async def test_concurrent_senders_on_both_processes_get_gap_free_seq(stack):
    # Ten users, five on each process, each sending ten messages at once (within the shipped
    # per-user send rate: the test is about ordering, not about the limit).
    clients_count, per_client = 10, 10
    total = clients_count * per_client
    accounts = await stack.login(clients_count)
    async with Rest(stack.one, accounts[0]) as rest:
        slug = (await rest.create_room())["slug"]
        clients = await asyncio.gather(
            *(
                ChatClient.open(stack.servers[i % 2], account, slug)
                for i, account in enumerate(accounts)
            )
        )
        try:
            sent = {
                f"client {i} message {n}" for i in range(clients_count) for n in range(per_client)
            }

            async def send_all(i: int, client: ChatClient) -> None:
                for n in range(per_client):
                    await client.send_message(f"client {i} message {n}")

            # Every client fires its messages without waiting for any answer, all at once.
            await asyncio.gather(*(send_all(i, c) for i, c in enumerate(clients)))
            received = await asyncio.gather(*(c.messages(total, within=60) for c in clients))
            # A message after the burst must come next: nothing of the burst is delivered twice.
            sentinel = await rest.post_message(slug, "sentinel")
            after = await asyncio.gather(*(c.messages(1) for c in clients))
        finally:
            await asyncio.gather(*(c.close() for c in clients))
        history = await rest.history(slug)
        room = await rest.room(slug)

    assert [m["seq"] for m in history] == list(range(1, total + 2))
    assert {m["body"] for m in history[:total]} == sent
    assert len({m["id"] for m in history}) == total + 1
    assert room["last_seq"] == total + 1
    for client, got, next_ in zip(clients, received, after, strict=True):
        who = client.hello["user"]["username"]
        assert [m["seq"] for m in got] == list(range(1, total + 1)), who
        assert got == history[:total], who
        assert next_ == [sentinel], who


async def test_same_client_id_through_both_processes_creates_one_message(stack):
    rounds = 8
    [account] = await stack.login(1)
    async with Rest(stack.one, account) as rest:
        slug = (await rest.create_room())["slug"]
        async with (
            await ChatClient.open(stack.one, account, slug) as one,
            await ChatClient.open(stack.two, account, slug) as two,
        ):
            client_ids = [str(uuid.uuid4()) for _ in range(rounds)]
            # Each client_id is sent on both processes at the same moment, as a retry racing
            # its original would be.
            await asyncio.gather(
                *(
                    c.send_message(f"retry {i}", cid)
                    for i, cid in enumerate(client_ids)
                    for c in (one, two)
                )
            )
            # A socket handles its frames in order: once pong is back, its answers are out.
            await asyncio.gather(one.send({"type": "ping"}), two.send({"type": "ping"}))
            frames = await asyncio.gather(
                *(c.frames_until(lambda f: f["type"] == "pong") for c in (one, two))
            )
            # Broadcasts come in seq order, so once this one arrives the earlier ones have too.
            sentinel = await rest.post_message(slug, "after the race")
            for i, c in enumerate((one, two)):
                frames[i] += await c.frames_until(is_message(sentinel["seq"]))
        history = await rest.history(slug)

    assert [m["seq"] for m in history] == list(range(1, rounds + 2)), "a seq was burned or doubled"
    assert sorted(m["client_id"] for m in history[:rounds]) == sorted(client_ids)
    by_client_id = {m["client_id"]: m for m in history[:rounds]}
    copies = Counter()
    for socket_frames in frames:
        for frame in socket_frames:
            assert frame["type"] in {"message", "pong", "presence"}, frame
            if frame["type"] == "message" and frame["message"]["client_id"] in by_client_id:
                message = frame["message"]
                assert message == by_client_id[message["client_id"]]
                copies[message["client_id"]] += 1
    # Per client_id: the room's broadcast on both sockets, plus the original answered to the
    # sender whose attempt created nothing.
    assert copies == dict.fromkeys(client_ids, 3)


async def test_resume_after_reconnect_sends_exactly_the_missed_messages(stack):
    writer_account, reader_account = await stack.login(2)
    async with Rest(stack.one, writer_account) as rest:
        slug = (await rest.create_room())["slug"]
        async with await ChatClient.open(stack.two, writer_account, slug) as writer:
            async with await ChatClient.open(stack.one, reader_account, slug) as reader:
                for n in range(3):
                    await writer.send_message(f"seen {n}")
                seen = await reader.messages(3)
                last_seen = seen[-1]["seq"]
            for n in range(5):
                await writer.send_message(f"missed {n}")
            # The writer sees its own messages come back: all five are committed.
            await writer.messages(8)

            async with await ChatClient.open(stack.two, reader_account, slug) as reader:
                assert reader.hello["last_seq"] == last_seen + 5
                await reader.send({"type": "resume", "after_seq": last_seen})
                frames = await reader.frames_until(lambda f: f["type"] == "resumed")
                await writer.send_message("live again")
                live = await reader.messages(1)
        history = await rest.history(slug)

    assert last_seen == 3
    replayed = [f for f in frames if f["type"] not in {"presence", "typing"}]
    assert replayed[-1] == {"type": "resumed", "last_seq": 8}
    assert [f["type"] for f in replayed[:-1]] == ["message"] * 5
    assert [f["message"] for f in replayed[:-1]] == history[3:8]
    assert [m["body"] for m in history[3:8]] == [f"missed {n}" for n in range(5)]
    assert live == history[8:9]


async def test_burst_of_connects_across_processes_all_get_hello(stack):
    # Ten sockets per user: the per-user socket cap (20) is not what this test is about.
    sockets = 200
    accounts = await stack.login(20)
    async with Rest(stack.one, accounts[0]) as rest:
        slug = (await rest.create_room())["slug"]
        async with asyncio.timeout(90):
            results = await asyncio.gather(
                *(
                    ChatClient.open(stack.servers[i % 2], accounts[i % len(accounts)], slug)
                    for i in range(sockets)
                ),
                return_exceptions=True,
            )
        clients = [r for r in results if isinstance(r, ChatClient)]
        try:
            failures = Counter(_describe(r) for r in results if not isinstance(r, ChatClient))
            assert not failures, (
                f"{sum(failures.values())} of {sockets} connects failed: {failures}"
            )
            assert {c.hello["last_seq"] for c in clients} == {0}
            posted = await rest.post_message(slug, "to everyone")
            received = await asyncio.gather(*(c.messages(1, within=30) for c in clients))
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    assert received == [[posted]] * sockets


def _describe(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, InvalidMessage):
        # Daphne drops a handshake the application has not answered within its
        # --websocket_connect_timeout (5 s by default) without any HTTP response.
        return "dropped before any HTTP response (handshake over Daphne's connect timeout?)"
    return repr(error)


async def test_oversized_frame_is_closed_with_1009(sqlite_stack):
    stack = sqlite_stack
    [account] = await stack.login(1)
    async with Rest(stack.one, account) as rest:
        slug = (await rest.create_room())["slug"]
    # No compression: the frames on the wire really are as long as their text.
    client = await ChatClient.open(stack.one, account, slug, compression=None)
    async with client:
        # Under the limit, the application answers (the body is too long for a message)...
        await client.send_message("x" * 60_000, client_id="just-under-64-kib")
        answer = await client.next_frame()
        assert (answer["type"], answer["code"]) == ("error", "body_too_long"), answer
        # ...over it, Daphne closes the socket with 1009 before the application sees the frame.
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send("x" * 70_000)
        assert await close_code(client.ws) == 1009


async def test_a_peer_slow_to_answer_a_close_still_gets_a_clean_close(sqlite_stack):
    """A frame over the limit, sent slowly (as a loaded client or a phone on a poor link
    sends it): the server closes with 1009 as the frame starts, and the peer can only answer
    once its frame is out, 2 s later. The server waits for that answer
    (realtime.serve.CLOSE_HANDSHAKE_SECONDS) instead of resetting the connection after
    autobahn's default second, under the peer's send: a client whose send fails so gives up
    before reading the close frame it was sent, and its page sees 1006, not 1009."""
    stack = sqlite_stack
    [account] = await stack.login(1)
    async with Rest(stack.one, account) as rest:
        slug = (await rest.create_room())["slug"]
    peer = await SlowReader.open(stack.one, f"/ws/rooms/{slug}/", account)
    try:
        wire = Frame(OP_TEXT, b"x" * 70_000).serialize(mask=True, extensions=[])
        peer.writer.write(wire[:1000])
        await peer.writer.drain()
        await asyncio.sleep(2)  # noqa: sleep-ok the delay under test: a peer that sends slowly
        peer.writer.write(wire[1000:])
        # Reset by then (after autobahn's default second), these writes raise.
        await peer.send_frame(OP_CLOSE, struct.pack("!H", 1009))
        _, code = await peer.read_to_end()
        assert code == 1009
    finally:
        peer.abort()


@pytest.mark.parametrize(
    ("who", "room", "origin"),
    [
        pytest.param("member", "public", None, id="cookie-without-origin"),
        pytest.param("member", "public", "http://evil.example", id="foreign-origin"),
        pytest.param("member", "public", "null", id="null-origin"),
        pytest.param("anonymous", "public", SAME_ORIGIN, id="no-session"),
        pytest.param("outsider", "private", SAME_ORIGIN, id="private-room-non-member"),
        pytest.param("member", "missing", SAME_ORIGIN, id="no-such-room"),
    ],
)
async def test_handshake_refusals_are_http_403(sqlite_stack, who, room, origin):
    stack = sqlite_stack
    owner, outsider = await stack.login(2)
    async with Rest(stack.one, owner) as rest:
        public = (await rest.create_room())["slug"]
        private = (await rest.create_room(is_private=True))["slug"]
    slug = {"public": public, "private": private, "missing": f"missing-{uuid.uuid4().hex}"}[room]
    account = {"member": owner, "outsider": outsider, "anonymous": None}[who]

    with pytest.raises(InvalidStatus) as refused:
        ws = await connect_chat(stack.two, account, slug, origin=origin)
        await ws.close()
    assert refused.value.response.status_code == 403

    # The same owner, same-origin, is let in to both rooms: only the one difference refuses.
    for room_slug in (public, private):
        async with await ChatClient.open(stack.two, owner, room_slug) as client:
            assert client.hello["room"]["slug"] == room_slug


async def test_healthz_names_the_channel_layer_when_redis_is_gone(lone_server):
    url = f"{lone_server.server.http}/healthz"
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        healthy = await http.get(url)
        assert healthy.status_code == 200, healthy.text
        assert healthy.json() == {"status": "ok", "db": "ok", "channel_layer": "ok"}

        lone_server.redis.kill()
        failing = await http.get(url)
    assert failing.status_code == 503, failing.text
    body = failing.json()
    assert body["status"] != "ok"
    assert body["db"] == "ok"
    assert body["channel_layer"] != "ok"
