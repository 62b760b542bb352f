"""Room games across processes (CONTRACT.md §10): two Daphnes and a real Redis.

One stack for the module (its own Redis, a short countdown). The failover test adds two
Daphnes of its own to that stack, puts the game's sockets only there, and kills (SIGKILL)
whichever one holds the game's lease.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as redis
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import UNLIMITED, Stack, derived_stack
from tests.support.clients import Account, Rest, connect_socket, recv_json
from tests.support.timing import within

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def games_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    with derived_stack(
        sqlite_stack, SWITCHBOARD_GAME_COUNTDOWN_SECONDS="0.5", **UNLIMITED
    ) as stack:
        yield stack


class Player:
    """One game socket, read all along (a socket left unread would hold its close for the
    client library's timeout): every frame it got, and when each tick arrived."""

    def __init__(self, ws, state: dict[str, Any], name: str) -> None:
        self.ws = ws
        self.state = state
        self.name = name
        self.frames: list[dict[str, Any]] = [state]
        self.tick_times: list[float] = []
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server, account: Account, game_id: int) -> Player:
        ws = await connect_socket(server, f"/ws/games/{game_id}/", account)
        state = await recv_json(ws)
        assert state["type"] == "state", state
        return cls(ws, state, account.username)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                self.frames.append(frame)
                if frame["type"] == "tick":
                    self.tick_times.append(time.monotonic())
                self.inbox.put_nowait(frame)
        except ConnectionClosed:
            pass
        self.inbox.put_nowait(None)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str, within: float = 15) -> dict[str, Any]:
        """The next frame of type `kind`."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.inbox.get()
                assert frame is not None, f"{self.name}: closed while awaiting {kind}"
                if frame["type"] == kind:
                    return frame

    async def status(self, status: str) -> None:
        while (await self.next("status"))["game"]["status"] != status:
            pass

    async def result(self) -> dict[str, Any]:
        return await self.next("result", within=30)

    async def closed(self) -> int | None:
        """Wait until the server closes the socket: its close code."""
        await within(self.reader, 15)
        return self.ws.close_code

    def ticks(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "tick"]

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


async def new_game(stack: Stack, server, owner: Account, size: int) -> tuple[str, int]:
    async with Rest(server, owner) as rest:
        slug = (await rest.create_room())["slug"]
        game = await rest.post(
            f"/api/rooms/{slug}/games/", {"kind": "cycles", "width": size, "height": size}, 201
        )
    return slug, game["id"]


async def seated(server, account: Account, game_id: int) -> Player:
    player = await Player.open(server, account, game_id)
    if player.state["you"] is None:
        await player.send({"type": "join"})
        state = await player.next("state")
        assert state["you"] is not None
    return player


def shared(tick: dict[str, Any]) -> tuple:
    """What every socket of a game sees of a tick (the ack is each player's own)."""
    return tick["tick"], json.dumps(tick["moves"])


async def test_two_players_on_two_processes_see_the_same_ticks_and_the_wall_decides(
    games_stack,
):
    stack = games_stack
    alice, bob, carol = await stack.login(3)
    slug, game_id = await new_game(stack, stack.one, alice, 16)
    a = await seated(stack.one, alice, game_id)
    b = await seated(stack.two, bob, game_id)
    watcher = await Player.open(stack.two, carol, game_id)
    try:
        await a.send({"type": "start"})
        await b.status("countdown")
        # Bob (seat 1, at (3, 8) heading up) steers left, into the board's edge.
        await b.send({"type": "turn", "dir": "left", "seq": 1})
        results = await asyncio.gather(a.result(), b.result(), watcher.result())
    finally:
        for p in (a, b, watcher):
            await p.close()
    assert results[0] == results[1] == results[2]
    assert results[0] == {"type": "result", "winner": alice.username,
                          "ranking": [alice.username, bob.username]}  # fmt: skip
    streams = [[shared(t) for t in p.ticks()] for p in (a, b, watcher)]
    assert streams[0] == streams[1] == streams[2]
    numbers = [n for n, _ in streams[0]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert b.ticks()[-1]["ack"] == 1 and a.ticks()[-1]["ack"] == 0
    async with Rest(stack.two, carol) as rest:
        game = await rest.get(f"/api/games/{game_id}/")
        board = await rest.get("/api/games/leaderboard/", room=slug)
        history = await rest.history(slug)
    assert game["status"] == "finished" and game["winner"] == alice.username
    assert board == [
        {"username": alice.username, "played": 1, "wins": 1},
        {"username": bob.username, "played": 1, "wins": 0},
    ]
    assert history[-1]["author"]["username"] == "switchboard"
    assert f"{alice.username} won" in history[-1]["body"]


async def test_a_reconnecting_player_gets_its_seat_back_on_another_process(games_stack):
    stack = games_stack
    alice, bob = await stack.login(2)
    _, game_id = await new_game(stack, stack.one, alice, 64)
    a = await seated(stack.one, alice, game_id)
    b = await seated(stack.one, bob, game_id)
    await a.send({"type": "start"})
    await b.next("tick")
    await b.close()
    b = await Player.open(stack.two, bob, game_id)
    try:
        assert b.state["you"] == 1
        assert b.state["game"]["status"] == "running"
        assert b.state["tick"] >= 1
        first = await b.next("tick")
        assert first["tick"] == b.state["tick"] + 1
        await b.send({"type": "turn", "dir": "right", "seq": 7})
        while (await b.next("tick"))["ack"] != 7:
            pass
        await b.result()
    finally:
        await a.close()
        await b.close()


async def test_an_input_flood_is_refused_and_the_socket_closed(games_stack):
    stack = games_stack
    alice, bob = await stack.login(2)
    _, game_id = await new_game(stack, stack.one, alice, 64)
    a = await seated(stack.one, alice, game_id)
    b = await seated(stack.two, bob, game_id)
    try:
        await a.send({"type": "start"})
        await b.status("running")
        for seq in range(1, 400):
            await b.send({"type": "turn", "dir": "left" if seq % 2 else "up", "seq": seq})
        assert await b.closed() == 4008
        errors = [f["code"] for f in b.frames if f["type"] == "error"]
        assert "rate_limited" in errors
        # The other player's game goes on.
        await a.next("tick")
    finally:
        await a.close()
        await b.close()


async def lease_holder(stack: Stack, game_id: int) -> int | None:
    """The pid of the process that holds the game's lease (its token starts with it)."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        token = await client.get(f"sb:game:{game_id}:lease")
    finally:
        await client.aclose()
    return int(token.split("-")[0]) if token else None


async def test_kill_9_of_the_runner_the_game_goes_on_elsewhere_every_tick_once(games_stack):
    stack = games_stack
    first, second = stack.start_server(), stack.start_server()
    alice, bob, carol, dave = await stack.login(4)
    # 128 x 128: without turns the game lasts about 3 s, time enough to kill its runner.
    _, game_id = await new_game(stack, first, alice, 128)
    a = await seated(first, alice, game_id)
    b = await seated(second, bob, game_id)
    watchers = [await Player.open(s, u, game_id) for s, u in ((first, carol), (second, dave))]
    everyone = [a, b, *watchers]
    try:
        await a.send({"type": "start"})
        await a.next("tick")
        await a.next("tick")
        pid = await lease_holder(stack, game_id)
        doomed, survivor = (first, second) if pid == first.pid else (second, first)
        assert pid == doomed.pid, f"the lease is held by {pid}, not by a server of the test"
        survivors = [p for p, s in zip(everyone, (first, second, first, second), strict=True)
                     if s is survivor]  # fmt: skip
        doomed.kill()
        killed_at = time.monotonic()
        results = await asyncio.gather(*(p.result() for p in survivors))
        # The seated player whose process died comes back on the survivor, to its seat.
        moved = a if survivor is second else b
        back = await Player.open(survivor, alice if moved is a else bob, game_id)
        assert back.state["you"] == (0 if moved is a else 1)
        await back.close()
    finally:
        for p in everyone:
            await p.close()
    assert all(r == results[0] for r in results)
    for p in survivors:
        numbers = [t["tick"] for t in p.ticks()]
        assert numbers == list(range(1, len(numbers) + 1)), f"{p.name}: {numbers}"
        # The pause: the longest wait between two ticks, around the kill.
        assert p.tick_times[-1] > killed_at, f"{p.name} saw no tick after the kill"
        pause = max(later - earlier for earlier, later in itertools.pairwise(p.tick_times))
        print(f"{p.name}: takeover pause {pause * 1000:.0f} ms")  # noqa: T201
        assert pause < 1.5, f"{p.name}: the game paused {pause:.2f} s"
    assert await lease_holder(stack, game_id) in (None, survivor.pid)
