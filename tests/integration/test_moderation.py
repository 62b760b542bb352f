"""Issue 4 across real processes: presence (and the ghosts of a killed process), bans that close
sockets on another process within a second, mutes, and unread counts kept by socket reads."""

import asyncio
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.clients import ChatClient, Rest, close_code, connect_chat

pytestmark = pytest.mark.integration

SOCKET_TTL = 6  # the tuned stack's SWITCHBOARD_SOCKET_TTL


def online(frame: dict[str, Any]) -> set[str]:
    return {user["username"] for user in frame["online"]}


def presence_of(*names: str):
    return lambda frame: frame["type"] == "presence" and online(frame) == set(names)


async def closed_at(ws) -> tuple[int | None, float]:
    """The close code the server sends, and when it arrived."""
    code = await close_code(ws, within=15)
    return code, time.monotonic()


async def test_presence_follows_joins_and_leaves_across_processes(sqlite_stack):
    stack = sqlite_stack
    a, b = await stack.login(2)
    async with Rest(stack.one, a) as rest:
        slug = (await rest.create_room())["slug"]
    async with await ChatClient.open(stack.one, a, slug) as client_a:
        assert online(client_a.hello) == {a.username}
        client_b = await ChatClient.open(stack.two, b, slug)
        assert online(client_b.hello) == {a.username, b.username}
        await client_a.frames_until(presence_of(a.username, b.username))
        await client_b.close()
        await client_a.frames_until(presence_of(a.username))


async def test_one_user_arriving_and_leaving_on_both_processes_at_once_is_announced_once(
    sqlite_stack,
):
    """Presence counts users, not tabs, across processes too: when B opens (and later closes)
    many tabs at once on both processes, A hears of each change once, never a repeat."""
    stack = sqlite_stack
    a, b = await stack.login(2)
    async with Rest(stack.one, a) as rest:
        slug = (await rest.create_room())["slug"]

    async def announced_once(client_a: ChatClient, *names: str) -> None:
        await client_a.frames_until(presence_of(*names), within=30)
        # An announcement goes out before the hello of the tab that caused it, so a repeat
        # from the other process would be on A's stream before this message.
        await client_a.send_message("after the change")
        frames = await client_a.frames_until(lambda f: f["type"] == "message")
        assert [online(f) for f in frames if f["type"] == "presence"] == []

    async with await ChatClient.open(stack.one, a, slug) as client_a:
        for _ in range(3):
            tabs = await asyncio.gather(
                *(ChatClient.open(stack.servers[i % 2], b, slug) for i in range(8))
            )
            await announced_once(client_a, a.username, b.username)
            await asyncio.gather(*(tab.close() for tab in tabs))
            await announced_once(client_a, a.username)


async def test_a_killed_process_users_leave_presence_within_the_socket_ttl(tuned_stack):
    stack = tuned_stack
    a, b = await stack.login(2)
    async with Rest(stack.one, a) as rest:
        slug = (await rest.create_room())["slug"]
    doomed = stack.start_server()  # a third process, sharing the stack's Redis and database
    async with await ChatClient.open(stack.one, a, slug) as client_a:
        client_b = await ChatClient.open(doomed, b, slug)
        await client_a.frames_until(presence_of(a.username, b.username))
        doomed.kill()  # SIGKILL: B's socket never says goodbye
        killed = time.monotonic()
        await client_a.frames_until(presence_of(a.username), within=60)
        took = time.monotonic() - killed
        await client_b.ws.close()
    # Entries lapse SOCKET_TTL after the last refresh; survivors sweep every TTL/3.
    assert took <= SOCKET_TTL + SOCKET_TTL / 3 + 2, f"B left presence {took:.1f}s after the kill"


async def test_ban_closes_the_banned_users_socket_on_the_other_process_within_a_second(
    sqlite_stack,
):
    stack = sqlite_stack
    owner, member = await stack.login(2)
    async with Rest(stack.one, owner) as rest, Rest(stack.two, member) as member_rest:
        slug = (await rest.create_room())["slug"]
        elsewhere = (await rest.create_room())["slug"]
        await member_rest.join(slug)
        async with (
            await ChatClient.open(stack.one, owner, slug) as owner_client,
            await ChatClient.open(stack.two, member, slug) as banned_client,
            await ChatClient.open(stack.two, member, elsewhere) as other_room,
        ):
            closing = asyncio.create_task(closed_at(banned_client.ws))
            await rest.moderate(slug, "ban", member.username, reason="spam")
            answered = time.monotonic()
            code, at = await closing
            # The ban is for this room: the member's socket in another room stays, and so do
            # everyone else's.
            for client in (other_room, owner_client):
                await client.send({"type": "ping"})
                await client.frames_until(lambda f: f["type"] == "pong")
        for server in stack.servers:
            with pytest.raises(InvalidStatus) as refused:
                await (await connect_chat(server, member, slug)).close()
            assert refused.value.response.status_code == 403
    assert code == 4003
    assert at - answered < 1.0, f"closed {at - answered:.3f}s after the ban call returned"


async def test_muted_member_gets_muted_error_on_the_other_process(sqlite_stack):
    stack = sqlite_stack
    owner, member = await stack.login(2)
    async with Rest(stack.one, owner) as rest, Rest(stack.two, member) as member_rest:
        slug = (await rest.create_room())["slug"]
        await member_rest.join(slug)
        async with (
            await ChatClient.open(stack.one, owner, slug) as watcher,
            await ChatClient.open(stack.two, member, slug) as muted,
        ):
            await rest.moderate(slug, "mute", member.username, minutes=5)
            client_id = await muted.send_message("let me speak")
            error = await muted.next_frame()
            assert error["type"] == "error", error
            assert (error["code"], error["ref"]) == ("muted", client_id)
            # The REST path says the same.
            response = await member_rest.client.post(
                f"/api/rooms/{slug}/messages/", json={"body": "over REST then"}
            )
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "muted"
            # Nothing reached the room: the next message anyone sees is the owner's.
            posted = await rest.post_message(slug, "order, order")
            assert await watcher.messages(1) == [posted]
            assert await muted.messages(1) == [posted]

            await rest.moderate(slug, "unmute", member.username)
            await muted.send_message("thank you")
            [spoken] = await watcher.messages(1)
        history = await rest.history(slug)
    assert spoken["author"]["username"] == member.username
    assert [m["body"] for m in history] == ["order, order", "thank you"]


async def test_unread_counts_follow_reads_made_on_sockets_of_either_process(sqlite_stack):
    stack = sqlite_stack
    owner, member = await stack.login(2)
    async with Rest(stack.one, owner) as rest, Rest(stack.one, member) as member_rest:
        slug = (await rest.create_room())["slug"]
        await member_rest.join(slug)
        for n in range(5):
            await rest.post_message(slug, f"news {n}")

        async def unread() -> int:
            return (await member_rest.room(slug))["unread"]

        async def read_on(client: ChatClient, seq: int) -> None:
            # A socket handles its frames in order: after the pong, the read is stored.
            await client.send({"type": "read", "seq": seq})
            await client.send({"type": "ping"})
            await client.frames_until(lambda f: f["type"] == "pong")

        assert await unread() == 5
        async with (
            await ChatClient.open(stack.two, member, slug) as on_two,
            await ChatClient.open(stack.one, member, slug) as on_one,
        ):
            await read_on(on_two, 3)
            assert await unread() == 2
            await read_on(on_one, 1)  # a read mark never moves back
            assert await unread() == 2
            await read_on(on_one, 99)  # nor past the last message
            assert await unread() == 0
            await rest.post_message(slug, "one more")
            assert await unread() == 1
            listed = {room["slug"]: room for room in await member_rest.get("/api/rooms/")}
            assert listed[slug]["unread"] == 1
        # The owner sent everything: nothing is unread for them.
        assert (await rest.room(slug))["unread"] == 0
