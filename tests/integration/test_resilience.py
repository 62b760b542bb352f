"""Issue 6 across real processes: what a room's clients see when Redis or a Daphne process dies,
when one of them reads too slowly, and when they come and go over the three transports.

The rule every test checks: a message the server acknowledged (REST 201, or its `message`
frame back to the sender) reaches every client exactly once, in seq order, and each client
ends with what the REST history says. The clients are those of tests/support/transports.py,
which reconnect and resume as the browser's client does.
"""

import asyncio
import contextlib
import json
import random
import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.clients import ChatClient, Rest, connect_chat, metric, recv_json
from tests.support.scale import scaled
from tests.support.transports import (
    LongPoller,
    ResumingChat,
    SseReader,
    all_reach,
    content,
    describe,
    identity,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
OUTAGE_SECONDS = 2


def assert_same_as_history(clients, history: list[dict[str, Any]]) -> None:
    for client in clients:
        assert not client.view.problems, client.view.problems
        expected = [content(m) for m in history]
        assert [content(m) for m in client.view.as_list()] == expected, describe(client)


async def post_until_stored(rest: Rest, slug: str, body: str, client_id: str) -> None:
    """POST a message with a client_id, retrying the same client_id until it is stored (each
    failed attempt must be a clear 5xx answer, not silence)."""
    async with asyncio.timeout(30):
        while True:
            response = await rest.client.post(
                f"/api/rooms/{slug}/messages/", json={"body": body, "client_id": client_id}
            )
            if response.status_code == 201:
                return
            assert response.status_code >= 500, (response.status_code, response.text)
            await asyncio.sleep(0.2)  # noqa: sleep-ok a client's pause before it retries


async def test_a_send_during_a_redis_outage_is_answered_and_its_retry_stored_once(own_stack):
    stack = own_stack
    [account] = await stack.login(1)
    problems = []
    async with Rest(stack.two, account) as rest:
        slug = (await rest.create_room())["slug"]
        client = await ChatClient.open(stack.one, account, slug)
        await client.send_message("before")
        await client.messages(1)

        stack.redis.kill()
        # A socket's frame budget is its process's own: a frame that needs no Redis is served.
        await client.send({"type": "ping"})
        [*_, pong] = await client.frames_until(lambda frame: frame["type"] in ("pong", "error"))
        if pong["type"] != "pong":
            problems.append(f"a ping during the outage was answered {pong}")
        socket_id = await client.send_message("over the socket during the outage")
        try:
            # Redis stays down until the server answers (within a second: one quick retry).
            answer = await client.next_frame(within=30)
            if answer["type"] == "error":
                ok = (answer["code"], answer["ref"]) == ("unavailable", socket_id)
            else:
                ok = answer["type"] == "message" and answer["message"]["client_id"] == socket_id
            if not ok:
                problems.append(f"the send during the outage was answered {answer}")
        except ConnectionClosed as closed:
            problems.append(
                "the send during the outage got no answer: the server closed the socket "
                f"with {closed.rcvd.code if closed.rcvd else None} instead of an error frame"
            )
        except TimeoutError:
            problems.append("the send during the outage got no answer within 30s")
        rest_id = str(uuid.uuid4())
        during = await rest.client.post(
            f"/api/rooms/{slug}/messages/",
            json={"body": "over REST during the outage", "client_id": rest_id},
        )
        refused = during.status_code == 503 and during.json()["code"] == "unavailable"
        if during.status_code != 201 and not (refused and during.headers["Retry-After"]):
            problems.append(f"REST during the outage: {during.status_code} {during.text[:200]}")
        stack.redis.start()

        # Both retry with the same client_id once Redis is back: each is stored exactly once.
        await post_until_stored(rest, slug, "over REST during the outage", rest_id)
        with contextlib.suppress(ConnectionClosed):
            await client.close()
        async with asyncio.timeout(20):
            while True:
                with contextlib.suppress(OSError, ConnectionClosed):
                    async with await ChatClient.open(stack.one, account, slug) as again:
                        await again.send_message("over the socket during the outage", socket_id)
                        frame = await again.next_frame()
                        if frame["type"] == "message":
                            break
                        assert frame["type"] == "error" and frame["code"] == "unavailable", frame
                await asyncio.sleep(0.2)  # noqa: sleep-ok a client's pause before it retries
        history = await rest.history(slug)

    # Every socket is closed now: the process must have let go of each (presence, the
    # user's socket count, the hub's subscriptions), the one that met the outage too.
    for _ in range(30):
        still = await metric(stack.one, "switchboard_open_sockets", kind="room")
        if not still:
            break
        await asyncio.sleep(0.1)  # noqa: sleep-ok polling the metric, 3 s at most
    else:
        problems.append(
            f"process 1 still counts {still:.0f} open room socket(s) after every socket closed"
        )
    bodies = [m["body"] for m in history]
    assert sorted(bodies) == sorted(
        ["before", "over the socket during the outage", "over REST during the outage"]
    ), bodies
    assert [m["seq"] for m in history] == [1, 2, 3]
    assert not problems, problems


async def test_after_redis_restarts_every_acknowledged_message_reaches_every_client(own_stack):
    stack = own_stack
    alice, bob, carol, dave, erin = await stack.login(5)
    one, two = stack.servers
    async with Rest(stack.one, carol) as rest:
        slug = (await rest.create_room())["slug"]
        # Alice and Bob send over sockets on either process; Dave and Erin only listen, so
        # nothing makes their sockets close: they show what a quiet browser tab gets.
        alice_c = ResumingChat([one, two], alice, slug)
        bob_c = ResumingChat([two, one], bob, slug)
        dave_c = ResumingChat([one, two], dave, slug)
        erin_c = ResumingChat([two, one], erin, slug)
        clients = [alice_c, bob_c, dave_c, erin_c]
        await asyncio.gather(*(c.open() for c in clients))
        try:
            for n in range(2):
                await alice_c.send_and_wait(f"alice before {n}")
                await bob_c.send_and_wait(f"bob before {n}")
                await rest.post_message(slug, f"carol before {n}")
            await all_reach(clients, 6, within=10)

            stack.redis.kill()
            for n in range(2):
                await alice_c.send(f"alice during {n}")
                await bob_c.send(f"bob during {n}")
            carol_during = [(f"carol during {n}", str(uuid.uuid4())) for n in range(2)]
            outage_answers = []
            for body, client_id in carol_during:
                response = await rest.client.post(
                    f"/api/rooms/{slug}/messages/", json={"body": body, "client_id": client_id}
                )
                outage_answers.append(response.status_code)
            # Redis is down about as long as a supervisor takes to bring it back.
            await asyncio.sleep(OUTAGE_SECONDS)  # noqa: sleep-ok the outage's length
            stack.redis.start()

            # The first message acknowledged after the restart must reach every client on
            # its own: no later message comes to reveal a gap while the clients wait for it.
            first_body, first_id = carol_during[0]
            await post_until_stored(rest, slug, first_body, first_id)
            first_seq = (await rest.history(slug, after_seq=6))[0]["seq"]
            late = []
            try:
                await all_reach(clients, first_seq, within=10)
            except AssertionError as error:
                late.append(str(error))
            for body, client_id in carol_during[1:]:
                await post_until_stored(rest, slug, body, client_id)
            for n in range(2):
                await rest.post_message(slug, f"carol after {n}")
            await asyncio.gather(alice_c.wait_acked(20), bob_c.wait_acked(20))
            for n in range(2):
                await alice_c.send_and_wait(f"alice after {n}")
                await bob_c.send_and_wait(f"bob after {n}")
            last = await rest.post_message(slug, "carol last")
            await all_reach(clients, last["seq"], within=15)
        finally:
            await asyncio.gather(*(c.stop() for c in clients))
        history = await rest.history(slug)

    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    client_ids = [m["client_id"] for m in history if m["client_id"]]
    assert len(client_ids) == len(set(client_ids)), "a retry was stored twice"
    assert len(history) == 6 + 4 + 2 + 2 + 4 + 1
    assert all(code == 201 or code >= 500 for code in outage_answers), outage_answers
    assert_same_as_history(clients, history)
    assert not late, (
        "a message stored after Redis restarted reached the open sockets only when a later "
        "message revealed the gap:\n" + "\n".join(late)
    )


async def test_clients_of_a_killed_process_resume_on_the_other_without_loss(roomy_stack):
    stack = roomy_stack
    writer, bob, carol, observer = await stack.login(4)
    doomed = stack.start_server()
    one, two = stack.servers
    async with Rest(stack.one, writer) as rest:
        slug = (await rest.create_room())["slug"]
        writer_c = ResumingChat([one], writer, slug)
        bob_c = ResumingChat([doomed, two], bob, slug)
        carol_c = ResumingChat([doomed, one], carol, slug)
        observer_c = ResumingChat([two], observer, slug)
        clients = [writer_c, bob_c, carol_c, observer_c]
        await asyncio.gather(*(c.open() for c in clients))
        try:
            for n in range(5):
                await writer_c.send_and_wait(f"writer {n}")
                await bob_c.send_and_wait(f"bob {n}")
                await carol_c.send_and_wait(f"carol {n}")

            async def keep_writing() -> None:
                for n in range(5, 25):
                    await writer_c.send_and_wait(f"writer {n}")

            writing = asyncio.create_task(keep_writing())
            await writer_c.view.until_seq(18)
            # Sends in flight when the process dies: stored or not, the retries settle it.
            await bob_c.send("bob in flight")
            await carol_c.send("carol in flight")
            doomed.kill()
            await writing
            await asyncio.gather(bob_c.wait_acked(), carol_c.wait_acked())
            await bob_c.send_and_wait("bob after")
            await carol_c.send_and_wait("carol after")
            last = await writer_c.send_and_wait("writer last")
            await all_reach(clients, last["seq"], within=15)
        finally:
            await asyncio.gather(*(c.stop() for c in clients))
        history = await rest.history(slug)

    assert len(history) == 25 + 5 + 5 + 2 + 2 + 1
    client_ids = [m["client_id"] for m in history]
    assert len(client_ids) == len(set(client_ids)), "a retried send was stored twice"
    for moved, survivor in ((bob_c, two), (carol_c, one)):
        assert moved.connections == 2, describe(moved)
        assert moved.servers[moved.next_server % 2] is survivor
    assert_same_as_history(clients, history)


@pytest.mark.scale
async def test_a_slow_reader_costs_bounded_memory_and_resumes_everything(roomy_stack):
    stack = roomy_stack
    # 2.4 MB at the quick size, 6 MB at full: both beyond what the client's socket buffers take.
    total, body_chars = scaled(quick=800, full=2000), 3000
    slow, observer, sender_one = await stack.login(3)
    server = stack.one
    async with Rest(stack.one, sender_one) as rest:
        slug = (await rest.create_room())["slug"]
        # The slow reader reads its hello and then nothing: its client stops taking frames
        # off the connection once a few are queued, and TCP pushes back on the server.
        slow_ws = await connect_chat(server, slow, slug, max_queue=4, compression=None)
        hello = await recv_json(slow_ws)
        assert hello["type"] == "hello"
        watcher = await ChatClient.open(server, observer, slug)
        # One sender, on the other process: one writer keeps SQLite's lock uncontended.
        sender = await ChatClient.open(stack.two, sender_one, slug)
        try:
            await sender.send_message("warm up")
            await watcher.messages(1)
            rss_before = server.rss_bytes()
            # The sender reads its own echoes as they come (only the slow reader is slow).
            echoes = asyncio.create_task(sender.messages(total + 1, within=120))
            for n in range(total):
                await sender.send_message(f"{n:04d} " + "x" * body_chars)
            # Once the fast reader on the same process has every message, the server has
            # handed every one of them to the slow reader's connection as well.
            received = await watcher.messages(total, within=120)
            rss_after = server.rss_bytes()
            await echoes
        finally:
            slow_ws.transport.abort()  # the slow tab is closed without a goodbye
            await asyncio.gather(watcher.close(), sender.close())

        # The reader comes back and asks for everything after the hello it had.
        async with await ChatClient.open(stack.two, slow, slug) as back:
            await back.send({"type": "resume", "after_seq": hello["last_seq"]})
            frames = await back.frames_until(lambda f: f["type"] == "resumed", within=60)
        history = await rest.history(slug, after_seq=0)

    growth = rss_after - rss_before
    sent = sum(len(json.dumps({"type": "message", "message": m})) for m in received)
    assert growth < 50 * MiB, (
        f"the server grew by {growth / MiB:.1f} MiB while {sent / MiB:.1f} MiB of frames "
        "queued for one slow reader"
    )
    assert [m["seq"] for m in received] == list(range(2, total + 2))
    replayed = [f["message"] for f in frames if f["type"] == "message"]
    assert frames[-1] == {"type": "resumed", "last_seq": total + 1}
    assert [m["seq"] for m in replayed] == list(range(1, total + 2))
    assert replayed[1:] == received
    assert replayed[:200] == history


async def test_websocket_sse_and_long_poll_clients_end_with_the_history(roomy_stack):
    stack = roomy_stack
    rng = random.Random(20261126)
    one, two = stack.servers
    first, second, ws_user, sse_user, poll_user = await stack.login(5)
    async with Rest(stack.one, first) as rest:
        slug = (await rest.create_room())["slug"]
        writers = [ResumingChat([one], first, slug), ResumingChat([two], second, slug)]
        socket_reader = ResumingChat([one, two], ws_user, slug)
        sse_reader = SseReader([one, two], sse_user, slug, rng=random.Random(2), drop=0.15)
        poller = LongPoller([two, one], poll_user, slug, rng=random.Random(3), drop=0.25)
        readers = [socket_reader, sse_reader, poller]
        await asyncio.gather(*(w.open() for w in writers), socket_reader.open())
        sse_reader.start()
        poller.start()
        try:

            async def script(writer: ResumingChat, seed: int) -> None:
                """Sends, edits and deletes of the writer's own messages, in a seeded order;
                each waits for its broadcast, and the socket reader may drop after any."""
                steps = random.Random(seed)
                mine: list[dict[str, Any]] = []
                for n in range(25):
                    roll = steps.random()
                    live = [m for m in mine if not writer.view.messages[m["seq"]]["deleted"]]
                    if roll < 0.6 or not live:
                        mine.append(await writer.send_and_wait(f"{writer.name} says {n}"))
                    elif roll < 0.8:
                        target = steps.choice(live)
                        body = f"{target['body']} (edited {n})"
                        await writer.frame(
                            {"type": "message.edit", "id": target["id"], "body": body}
                        )
                        await writer.view.until(
                            lambda t=target, b=body: writer.view.messages[t["seq"]]["body"] == b,
                            15,
                            f"edit {n}",
                        )
                    else:
                        target = steps.choice(live)
                        await writer.frame({"type": "message.delete", "id": target["id"]})
                        await writer.view.until(
                            lambda t=target: writer.view.messages[t["seq"]]["deleted"],
                            15,
                            f"delete {n}",
                        )
                    if rng.random() < 0.2:
                        await socket_reader.drop(rng.choice([one, two]))

            await asyncio.gather(script(writers[0], 11), script(writers[1], 22))
            last = await writers[0].send_and_wait("the end")
            await all_reach([*writers, *readers], last["seq"], within=20)
        finally:
            await asyncio.gather(*(c.stop() for c in [*writers, *readers]))
        history = await rest.history(slug)

    changed = {m["seq"] for m in history if m["edited_at"] or m["deleted"]}
    assert changed, "the script edited or deleted something"
    assert socket_reader.connections > 1, describe(socket_reader)
    assert sse_reader.drops > 0 and poller.drops > 0, (describe(sse_reader), describe(poller))
    # Sockets resume with `updated_since`, so they have every edit and delete too.
    assert_same_as_history([*writers, socket_reader], history)
    # SSE and long polling replay messages, not later edits: the same messages, in the same
    # order, and the same content for every message nobody changed.
    for reader in (sse_reader, poller):
        assert not reader.view.problems, reader.view.problems
        got = reader.view.as_list()
        assert [identity(m) for m in got] == [identity(m) for m in history], describe(reader)
        unchanged = [content(m) for m in got if m["seq"] not in changed]
        assert unchanged == [content(m) for m in history if m["seq"] not in changed]
