"""Replies and reactions across two Daphne processes on PostgreSQL (CONTRACT.md §9).

PostgreSQL is where the races are real (row locks, concurrent transactions); SQLite serializes
every write. Each test is a few seconds on the session's PostgreSQL stack.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import Stack
from tests.support.clients import ChatClient, Rest

pytestmark = pytest.mark.integration

REPLIERS = 4
REPLIES_EACH = 5  # 20 replies in all, within the shipped per-user send rate


async def _room_with_members(stack: Stack, count: int):
    accounts = await stack.login(count)
    owner = accounts[0]
    async with Rest(stack.one, owner) as rest:
        slug = (await rest.create_room())["slug"]
        parent = await rest.post_message(slug, "Who is on call this weekend?")
    for account in accounts[1:]:
        async with Rest(stack.two, account) as rest:
            await rest.join(slug)
    return accounts, slug, parent


def _reply_counts(frames: list[dict], parent_id: int) -> list[int]:
    return [
        f["message"]["reply_count"]
        for f in frames
        if f["type"] == "message.updated" and f["message"]["id"] == parent_id
    ]


async def test_concurrent_replies_on_two_processes_count_every_one(postgres_stack: Stack):
    """20 replies at once through both processes: the parent's count is 20 in the database,
    over REST from either process, and as the highest count each live socket was sent."""
    stack = postgres_stack
    accounts, slug, parent = await _room_with_members(stack, REPLIERS)
    async with (
        await ChatClient.open(stack.one, accounts[0], slug) as watcher_one,
        await ChatClient.open(stack.two, accounts[1], slug) as watcher_two,
    ):

        async def replies_of(index: int) -> list[int]:
            server = stack.servers[index % 2]
            async with Rest(server, accounts[index]) as rest:
                sent = []
                for n in range(REPLIES_EACH):
                    server = stack.servers[(index + n) % 2]
                    response = await rest.client.post(
                        f"{server.http}/api/rooms/{slug}/messages/",
                        json={"body": f"reply {index}.{n}", "reply_to": parent["id"]},
                    )
                    assert response.status_code == 201, response.text
                    sent.append(response.json()["seq"])
                return sent

        seqs = sorted(sum(await asyncio.gather(*map(replies_of, range(REPLIERS))), []))
        total = REPLIERS * REPLIES_EACH
        assert seqs == list(range(parent["seq"] + 1, parent["seq"] + 1 + total))  # no gaps
        for watcher in (watcher_one, watcher_two):
            frames = await watcher.frames_until(
                lambda f: (
                    f["type"] == "message.updated"
                    and f["message"]["id"] == parent["id"]
                    and f["message"]["reply_count"] == total
                ),
                within=20,
            )
            assert len([f for f in frames if f["type"] == "message"]) <= total
            assert max(_reply_counts(frames, parent["id"])) == total
    for server in stack.servers:
        async with Rest(server, accounts[2]) as rest:
            history = await rest.history(slug, after_seq=parent["seq"] - 1)
            assert history[0]["reply_count"] == total
            replies = await rest.get(f"/api/rooms/{slug}/messages/{parent['id']}/replies/")
            assert [m["seq"] for m in replies] == seqs


async def test_concurrent_identical_reactions_make_one_and_are_live_everywhere(
    postgres_stack: Stack,
):
    """One user adds the same emoji 10 times at once through both processes: one reaction and
    one `reactions` frame; a socket's reaction on one process reaches the other process."""
    stack = postgres_stack
    (alice, bob), slug, message = await _room_with_members(stack, 2)
    url = f"/api/rooms/{slug}/messages/{message['id']}/reactions/"
    async with (
        await ChatClient.open(stack.two, alice, slug) as alice_socket,
        await ChatClient.open(stack.one, bob, slug) as bob_socket,
        Rest(stack.one, alice) as rest,
    ):
        answers = await asyncio.gather(
            *(
                rest.client.post(f"{stack.servers[n % 2].http}{url}", json={"emoji": "👍"})
                for n in range(10)
            )
        )
        assert {a.status_code for a in answers} == {200}
        expected = [{"emoji": "👍", "count": 1, "users": [alice.username]}]
        assert (await rest.get(url.replace("reactions/", "replies/"))) == []
        (listed,) = await rest.history(slug, after_seq=message["seq"] - 1)
        assert listed["reactions"] == expected
        # Bob reacts over his socket on process one; Alice's socket on process two sees it.
        await bob_socket.send({"type": "reaction.add", "id": message["id"], "emoji": "🎉"})
        for socket in (alice_socket, bob_socket):
            frames = await socket.frames_until(
                lambda f: f["type"] == "reactions" and len(f["reactions"]) == 2, within=10
            )
            reactions = [f for f in frames if f["type"] == "reactions"]
            # One frame for the ten adds (the other nine changed nothing), then Bob's.
            assert [f["reactions"] for f in reactions] == [
                expected,
                [*expected, {"emoji": "🎉", "count": 1, "users": [bob.username]}],
            ]
            assert all(f["seq"] == message["seq"] for f in reactions)
