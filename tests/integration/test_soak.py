"""Issue 6, the soak: minutes of steady load with reconnect churn on two Daphnes and one Redis.

Chat sockets in three rooms send, edit and delete at a few messages a second, under the
shipped per-user limits, while they are dropped all the time: closed cleanly or cut off with
no close frame, then resumed on either process. Some clients wander between rooms (a fourth
room is often empty, so its group is joined and left over and over); a notification socket,
a device feeding a dashboard, an SSE stream and a long poller ride along, and now and then a
peer vanishes without a word and must be dropped by the keepalive.

Meanwhile each Daphne's RSS and Redis's memory and key count are sampled. After the warm-up
they must stay flat; once every client is gone the processes and Redis must hold nothing of
them (open sockets, group memberships, presence and socket-cap entries); every client must
end with what the REST history says; and the servers' logs must hold no error.

SWITCHBOARD_SOAK_SECONDS sets the length of the load (600 by default, as `make soak` runs it;
`make test` soaks for 60 s); the assertions are the same at any length, but a short run
catches only large leaks (see RSS_SLACK).
"""

import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import SOAK_PING_SECONDS, SOAK_PING_TIMEOUT, SOAK_SOCKET_TTL
from tests.support.clients import (
    Account,
    Rest,
    Server,
    connect_socket,
    metric_by_label,
    open_silent_socket,
    recv_json,
)
from tests.support.timing import within
from tests.support.transports import (
    LongPoller,
    ResumingChat,
    SseReader,
    all_reach,
    content,
    describe,
    identity,
)

pytestmark = [pytest.mark.integration, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("SWITCHBOARD_SOAK_SECONDS", "600"))
MiB = 1024 * 1024

# The load (per second, over the whole stack). Six senders at one message every 1.5 s each is
# 40 a minute per user, well under the shipped 100 a minute; the hoppers add one message in
# two arrivals.
MAIN_ROOMS = 3
SENDERS_PER_ROOM = 2
READERS = 12  # each with a socket in every main room
HOPPERS = 4
SEND_EVERY = (1.0, 2.0)  # seconds between one sender's messages
EDIT_SHARE, DELETE_SHARE, MENTION_SHARE = 0.08, 0.04, 0.03
CHURN_PER_SECOND = 8  # chat sockets dropped and resumed
HOP_EVERY = (2.0, 5.0)
GHOST_EVERY = (6.0, 12.0)  # a peer vanishes without a close
READINGS_EVERY = 1.0

# The flatness rule: the first quarter of the run is its warm-up; after it, the median of
# the last window may exceed the median of the first by the absolute slack or the relative
# share, whichever is larger. A Daphne holds 110-130 MiB and grows 1-2 MiB more once warm;
# at the churn above each process serves about five socket connections a second, so a leak
# of 10 KiB a connection grows it by ~16 MiB between the two windows of a ten-minute run.
FIRST_WINDOW = (0.25, 0.40)
LAST_WINDOW = (0.85, 1.0)
RSS_SLACK, RSS_SHARE = 8 * MiB, 0.05
FDS_SLACK, FDS_SHARE = 20, 0.25  # open files: sockets, Redis and database connections
REDIS_SLACK, REDIS_SHARE = 2 * MiB, 0.25
KEYS_SLACK, KEYS_SHARE = 20, 0.25

# A vanished peer is pinged once it has been idle SOAK_PING_SECONDS (Daphne looks every 2 s)
# and dropped SOAK_PING_TIMEOUT later.
GHOST_LIFETIME = SOAK_PING_SECONDS + SOAK_PING_TIMEOUT + 2
GHOST_DROPPED_WITHIN = GHOST_LIFETIME + 10
# After the last client left: the vanished peers' drop, then entries that merely lapse.
CLEAN_WITHIN = GHOST_DROPPED_WITHIN + 2 * SOAK_SOCKET_TTL + 10

ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]+\] "(?P<verb>\S+) (?P<path>\S+)" (?P<status>\S+) ')


async def pause(rng: random.Random, span: tuple[float, float]) -> None:
    await asyncio.sleep(rng.uniform(*span))  # noqa: sleep-ok pacing the load generator


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since the load started
    rss: tuple[int, ...]  # of each Daphne
    fds: tuple[int, ...]  # open files of each Daphne
    redis_memory: int  # INFO memory: used_memory
    redis_keys: int
    lasting_keys: int  # keys that do not expire within LASTING seconds


# Rate-limit windows (a minute) and socket entries (SOCKET_TTL) expire on their own, so the
# key count climbs for a minute of churn before it levels off; what must not climb at all is
# the keys that stay: no expiry, or a far one (channels_redis gives groups a day).
LASTING = 600


async def key_census(redis: aioredis.Redis) -> tuple[int, Counter]:
    """How many keys there are, and the lasting ones by pattern (digits and hex as '*')."""
    keys = [key async for key in redis.scan_iter(count=1000)]
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.ttl(key)
        ttls = await pipe.execute()
    lasting = Counter(
        re.sub(r"[0-9a-f]{6,}|\d+", "*", key)
        for key, ttl in zip(keys, ttls, strict=True)
        if ttl == -1 or ttl > LASTING
    )
    return len(keys), lasting


async def crowded_groups(redis: aioredis.Redis, processes: int) -> list[str]:
    """Groups with more members than there are processes: each process's hub joins a group
    with its one channel, so more means a channel that left without leaving its groups."""
    crowded = []
    async for key in redis.scan_iter(match="asgi:group:*", count=1000):
        members = await redis.zrange(key, 0, -1)
        if len(members) > processes:
            crowded.append(f"{key}: {members}")
    return crowded


async def sample_forever(
    servers, redis: aioredis.Redis, samples: list[Sample], problems: list[str]
) -> None:
    interval = max(1.0, SOAK_SECONDS / 150)
    started = time.monotonic()
    while True:
        memory = (await redis.info("memory"))["used_memory"]
        keys, lasting = await key_census(redis)
        problems += [g for g in await crowded_groups(redis, len(servers)) if g not in problems]
        samples.append(
            Sample(
                time.monotonic() - started,
                tuple(server.rss_bytes() for server in servers),
                tuple(len(os.listdir(f"/proc/{server.pid}/fd")) for server in servers),
                memory,
                keys,
                sum(lasting.values()),
            )
        )
        await asyncio.sleep(interval)  # noqa: sleep-ok the sampling period


def window(samples: list[Sample], span: tuple[float, float], value) -> float:
    low, high = span[0] * SOAK_SECONDS, span[1] * SOAK_SECONDS
    chosen = [value(s) for s in samples if low <= s.at <= high]
    assert chosen, f"no sample between {low:.0f}s and {high:.0f}s"
    return statistics.median(chosen)


def growth_problem(samples, name: str, value, slack: float, share: float, unit: float) -> str:
    """'' if `value` stayed flat after the warm-up, else what grew and by how much."""
    first = window(samples, FIRST_WINDOW, value)
    last = window(samples, LAST_WINDOW, value)
    allowed = max(slack, share * first)
    if last - first <= allowed:
        return ""
    return (
        f"{name} grew from {first / unit:.1f} to {last / unit:.1f} (median of the first and "
        f"last windows after the warm-up), more than the {allowed / unit:.1f} allowed"
    )


def samples_table(samples: list[Sample]) -> str:
    rows = ["   t(s)  rss one (MiB)  rss two (MiB)  files  redis (KiB)   keys  lasting"]
    for s in samples:
        rows.append(
            f"{s.at:7.1f}  {s.rss[0] / MiB:13.1f}  {s.rss[1] / MiB:13.1f}  "
            f"{s.fds[0]:>2d}/{s.fds[1]:<3d}{s.redis_memory / 1024:11.0f}  "
            f"{s.redis_keys:5d}  {s.lasting_keys:7d}"
        )
    return "\n".join(rows)


def log_report(server) -> tuple[list[str], Counter]:
    """The problems in what a Daphne printed, and how many of each access it logged.

    A problem is any log entry at warning or above (the app logs JSON; a client that drops
    its connection is no cause for one), any line that is neither JSON nor an access line (a
    bare traceback), a refused WebSocket handshake, and any 4xx or 5xx answer."""
    problems, accesses = [], Counter()
    for line in server.output:
        line = line.rstrip("\n")
        access = ACCESS_LINE.match(line)
        if access:
            verb, status = access["verb"], access["status"]
            accesses[verb] += 1
            if verb == "WSREJECT" or (status.isdigit() and int(status) >= 400):
                problems.append(line)
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(line)  # a bare traceback or anything else not logged as JSON
            continue
        if entry.get("level") not in {"debug", "info"}:
            problems.append(line[:2000])
    return problems, accesses


async def leftovers(servers, redis: aioredis.Redis) -> list[str]:
    """What the processes and Redis still hold of clients that are all gone."""
    found = []
    for name, server in zip(("one", "two"), servers, strict=True):
        for labels, value in (await metric_by_label(server, "switchboard_open_sockets")).items():
            if value:
                found.append(f"process {name} counts {value:.0f} open socket(s) {{{labels}}}")
    # channels_redis keeps a group as the sorted set asgi:group:<name> of its channels; the
    # hub joins a group once per process and leaves it with its last local subscriber.
    async for key in redis.scan_iter(match="asgi:group:*"):
        found.append(f"{key} still has members {await redis.zrange(key, 0, -1)}")
    for pattern in ("sb:presence:*", "sb:sockets:*"):
        async for key in redis.scan_iter(match=pattern):
            if await redis.type(key) == "zset":
                members = await redis.zrange(key, 0, -1, withscores=True)
                found.append(f"{key} still has entries {members[:10]}")
    return found


# --- the clients -------------------------------------------------------------------------------


async def full_history(rest: Rest, slug: str) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    while True:
        page = await rest.history(slug, after_seq=history[-1]["seq"] if history else 0)
        history += page
        if len(page) < 200:
            return history


async def try_frame(client: ResumingChat, frame: dict[str, Any]) -> bool:
    """Send a frame if the client is connected now (a drop may lose it: the resume repairs)."""
    if not client.live:
        return False
    with contextlib.suppress(ConnectionClosed):
        await client.frame(frame)
        return True
    return False


@dataclass
class Load:
    """Everything the load generator started, and what it counted."""

    servers: tuple[Server, Server]
    rng: random.Random
    chats: list[ResumingChat] = field(default_factory=list)  # dropped by the churn
    hoppers: dict[str, dict[str, ResumingChat]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    ghost_lifetimes: list[float] = field(default_factory=list)

    def server(self) -> Server:
        return self.rng.choice(self.servers)

    async def sender(self, chat: ResumingChat, mentions: list[str]) -> None:
        rng = random.Random(self.rng.random())
        deleted: set[int] = set()  # seqs this sender asked to delete
        for n in range(10**9):
            await pause(rng, SEND_EVERY)
            roll = rng.random()
            mine = {m["seq"] for m in chat.acked.values()}
            live = sorted(seq for seq in mine - deleted if seq in chat.view.messages)
            if roll < EDIT_SHARE and live:
                message = chat.view.messages[rng.choice(live)]
                body = f"{message['body']} (edited {n})"[:200]
                edit = {"type": "message.edit", "id": message["id"], "body": body}
                self.counts["edits"] += await try_frame(chat, edit)
            elif roll < EDIT_SHARE + DELETE_SHARE and live:
                seq = rng.choice(live)
                delete = {"type": "message.delete", "id": chat.view.messages[seq]["id"]}
                if await try_frame(chat, delete):
                    deleted.add(seq)
                    self.counts["deletes"] += 1
            else:
                body = f"{chat.account.username} says {n}"
                if rng.random() < MENTION_SHARE:
                    body += " cc " + " ".join(f"@{name}" for name in mentions)
                    self.counts["mentions"] += 1
                await chat.send(body)
                self.counts["sends"] += 1

    async def churn(self) -> None:
        """Drop a random chat socket CHURN_PER_SECOND times a second: half cleanly, half cut."""
        rng = random.Random(self.rng.random())
        while True:
            await asyncio.sleep(rng.expovariate(CHURN_PER_SECOND))  # noqa: sleep-ok pacing
            chat = rng.choice(self.chats)
            if not chat.live:
                continue
            if rng.random() < 0.5:
                await chat.drop(self.server())
                self.counts["clean drops"] += 1
            else:
                chat.abort(self.server())
                self.counts["cut connections"] += 1

    async def hopper(self, account: Account, slugs: list[str], side: str) -> None:
        """Wander between rooms, resuming each from where this client left it; the side room,
        often empty, gets its group joined and left again and again."""
        rng = random.Random(self.rng.random())
        chats = self.hoppers.setdefault(account.username, {})
        here: ResumingChat | None = None
        while True:
            choices = [s for s in slugs if here is None or s != here.slug]
            slug = side if rng.random() < 0.5 and side in choices else rng.choice(choices)
            if here is not None:
                await here.stop()
            if slug not in chats:
                servers = list(self.servers)
                rng.shuffle(servers)
                chats[slug] = ResumingChat(servers, account, slug)
            here = chats[slug]
            await here.open()
            self.counts["hops"] += 1
            if rng.random() < 0.5:
                await here.send(f"{account.username} arrives ({self.counts['hops']})")
                self.counts["sends"] += 1
            await pause(rng, HOP_EVERY)

    async def ghosts(self, account: Account, slugs: list[str], tasks: list[asyncio.Task]) -> None:
        """Now and then a socket whose peer vanishes: it never answers a ping, never closes.

        None vanishes in the last GHOST_LIFETIME of the load, so that the keepalive has
        dropped them all by the time the load stops, not a quarter of a minute after; but at
        least one does, however short the load."""
        rng = random.Random(self.rng.random())
        last = time.monotonic() + max(SOAK_SECONDS - GHOST_LIFETIME, GHOST_EVERY[1])
        while True:
            await pause(rng, GHOST_EVERY)
            if time.monotonic() > last:
                return
            tasks.append(asyncio.create_task(self.ghost(account, rng.choice(slugs))))

    async def ghost(self, account: Account, slug: str) -> None:
        server = self.server()
        reader, writer = await open_silent_socket(server, f"/ws/rooms/{slug}/", account)
        self.counts["vanished peers"] += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(GHOST_DROPPED_WITHIN):
                with contextlib.suppress(ConnectionResetError):
                    while await reader.read(65536):
                        pass  # the frames it is sent; it answers none of the pings
            self.ghost_lifetimes.append(time.monotonic() - started)
        except TimeoutError:
            self.problems.append(
                f"a peer that stopped answering pings was still connected to {server.http} "
                f"after {GHOST_DROPPED_WITHIN}s"
            )
        finally:
            writer.close()


class NotificationReader:
    """/ws/notifications/ read in a task; `churn` drops and reopens it every few seconds."""

    def __init__(self, load: Load, account: Account, *, churn: bool) -> None:
        self.load, self.account, self.churn = load, account, churn
        self.ids: list[int] = []
        self.connections = 0
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())
        self.ws: ClientConnection | None = None

    async def _run(self) -> None:
        rng = random.Random(self.load.rng.random())
        while True:
            self.ws = await connect_socket(self.load.server(), "/ws/notifications/", self.account)
            self.connections += 1
            try:
                async with asyncio.timeout(rng.uniform(2, 6) if self.churn else None):
                    async for raw in self.ws:
                        frame = json.loads(raw)
                        assert frame["type"] == "notification", frame
                        self.ids.append(frame["notification"]["id"])
                        self.changed.set()
                if not self.churn:
                    self.load.problems.append(f"{self.account.username}: notifications closed")
                    return
            except TimeoutError:
                pass
            if rng.random() < 0.5:
                await self.ws.close()
            else:
                self.ws.transport.abort()
            self.load.counts["notification reconnects"] += 1

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        if self.ws is not None:
            await self.ws.close()


async def feed_device(load: Load, api_key: str, sent: list[int]) -> None:
    """One batch of five readings a second over the device socket (each acked before the
    next); the device reconnects every fifteen batches."""
    headers = {"Authorization": f"Api-Key {api_key}"}
    value = 0
    while True:
        ws = await connect_socket(load.server(), "/ws/devices/", origin=None, headers=headers)
        try:
            for _ in range(15):
                batch = [value + i for i in range(5)]
                readings = [{"metric": "load", "value": v} for v in batch]
                await ws.send(json.dumps({"type": "readings", "readings": readings}))
                answer = await recv_json(ws)
                assert answer == {"type": "ack", "accepted": 5}, answer
                sent += batch
                value += 5
                await asyncio.sleep(READINGS_EVERY)  # noqa: sleep-ok pacing the device
        finally:
            await ws.close()
        load.counts["device reconnects"] += 1


async def read_dashboard(
    ws: ClientConnection, points: list[float], changed: asyncio.Event | None = None
) -> None:
    frame = await recv_json(ws)
    assert frame["type"] == "snapshot", frame
    async for raw in ws:
        frame = json.loads(raw)
        if frame["type"] == "readings":
            points += [value for _, value in frame["points"]]
            if changed is not None:
                changed.set()


class SteadyDashboard:
    """The dashboard as its page keeps it, on one process: if the server closes the socket (a
    reader too slow, or too busy to answer pings, on a loaded machine), it opens it again and
    the snapshot brings back what it missed. Every reading sent must end up shown, and no
    socket may send a point twice."""

    def __init__(self) -> None:
        self.points: set[float] = set()
        self.repeated: list[float] = []
        self.closes: Counter[int | None] = Counter()  # close code -> times
        self.changed = asyncio.Event()
        self.ws: ClientConnection | None = None

    async def open(self, server, path: str, account: Account) -> None:
        self.server, self.path, self.account = server, path, account
        self.ws = await connect_socket(server, path, account)

    async def run(self) -> None:
        while True:
            live: set[float] = set()
            with contextlib.suppress(ConnectionClosed):
                async for raw in self.ws:
                    frame = json.loads(raw)
                    if frame["type"] == "snapshot":
                        panels = frame["panels"].values()
                        self.points.update(point[-1] for points in panels for point in points)
                    elif frame["type"] == "readings":
                        for _, value in frame["points"]:
                            if value in live:
                                self.repeated.append(value)
                            live.add(value)
                        self.points |= live
                    self.changed.set()
            self.closes[self.ws.close_code] += 1
            self.ws = await connect_socket(self.server, self.path, self.account)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def churn_dashboard(load: Load, account: Account, slug: str) -> None:
    rng = random.Random(load.rng.random())
    while True:
        ws = await connect_socket(load.server(), f"/ws/dashboards/{slug}/", account)
        try:
            with contextlib.suppress(TimeoutError):
                await within(read_dashboard(ws, []), rng.uniform(2, 6))
        finally:
            if rng.random() < 0.5:
                await ws.close()
            else:
                ws.transport.abort()
        load.counts["dashboard reconnects"] += 1


async def until_same_as_history(rest: Rest, slug: str, chats: list[ResumingChat]) -> list:
    """The room's history once every chat of it shows exactly that, or after 30 s (the caller
    asserts what differs): an edit sent just before the load stopped may still be on its way."""
    deadline = time.monotonic() + 30
    while True:
        history = await full_history(rest, slug)
        await all_reach(chats, len(history), within=30)
        expected = [content(m) for m in history]
        if time.monotonic() > deadline or all(
            [content(m) for m in c.view.as_list()] == expected for c in chats
        ):
            return history
        # A view still differs: look again after its next frame, or in a second.
        for chat in chats:
            chat.view.changed.clear()
        waits = [asyncio.create_task(c.view.changed.wait()) for c in chats]
        await asyncio.wait(waits, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()


async def back_in(chat: ResumingChat) -> None:
    """Connected and resumed, whether it was stopped or is on its way back."""
    if chat.running:
        await chat.view.until(lambda: chat.live, 30, "the reconnect")
    else:
        await chat.open()


# --- the test ----------------------------------------------------------------------------------


@pytest.fixture
async def redis(soak_stack) -> AsyncIterator[aioredis.Redis]:
    """A client of the soak stack's redis-server, to look at what the processes keep there."""
    client = aioredis.Redis.from_url(soak_stack.redis.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.mark.timeout(SOAK_SECONDS + 420)
async def test_steady_load_with_reconnect_churn_leaves_memory_flat_and_nothing_behind(
    soak_stack, redis
):
    stack = soak_stack
    one, two = servers = stack.servers
    load = Load(servers, random.Random(20261126))
    accounts = await stack.login(1 + MAIN_ROOMS * SENDERS_PER_ROOM + READERS + HOPPERS + 2 + 1)
    owner, rest_of = accounts[0], iter(accounts[1:])
    senders = [next(rest_of) for _ in range(MAIN_ROOMS * SENDERS_PER_ROOM)]
    readers = [next(rest_of) for _ in range(READERS)]
    hoppers = [next(rest_of) for _ in range(HOPPERS)]
    steady_bell, churned_bell, streamer = next(rest_of), next(rest_of), next(rest_of)
    tasks: list[asyncio.Task] = []
    steady_task: asyncio.Task | None = None
    ghost_tasks: list[asyncio.Task] = []
    samples: list[Sample] = []
    others: list = []  # SSE and long-poll readers
    bells: list[NotificationReader] = []
    steady = SteadyDashboard()
    readings_sent: list[int] = []

    async with Rest(one, owner) as rest:
        rooms = [(await rest.create_room())["slug"] for _ in range(MAIN_ROOMS + 1)]
        slugs, side = rooms[:MAIN_ROOMS], rooms[MAIN_ROOMS]
        for bell in (steady_bell, churned_bell):
            async with Rest(two, bell) as theirs:
                for slug in slugs:
                    await theirs.join(slug)  # members, so mentions notify them
        device = await rest.create_device("soak sensor")
        dashboard = await rest.create_dashboard(
            panels=[{"title": "Load", "device": device["id"], "metric": "load", "kind": "line"}]
        )

        try:
            for index, slug in enumerate(slugs):
                first = index * SENDERS_PER_ROOM
                for n, account in enumerate(senders[first : first + SENDERS_PER_ROOM]):
                    order = [one, two] if (n + index) % 2 else [two, one]
                    load.chats.append(ResumingChat(order, account, slug))
                for n, account in enumerate(readers):
                    order = [one, two] if (n + index) % 2 else [two, one]
                    load.chats.append(ResumingChat(order, account, slug))
            await asyncio.gather(*(chat.open() for chat in load.chats))
            others = [
                SseReader(servers, streamer, slugs[0], rng=random.Random(1), drop=0.1),
                LongPoller(servers, streamer, slugs[1], rng=random.Random(2), drop=0.2),
            ]
            for other in others:
                other.start()
            bells = [
                NotificationReader(load, steady_bell, churn=False),
                NotificationReader(load, churned_bell, churn=True),
            ]
            dashboard_path = f"/ws/dashboards/{dashboard['slug']}/"
            await steady.open(two, dashboard_path, owner)
            mentions = [steady_bell.username, churned_bell.username]
            senders_chats = [c for c in load.chats if c.account in senders]
            # The steady dashboard reads on after the load stops, until it has every reading
            # (the last ones reach it after the device's last ack).
            steady_task = asyncio.create_task(steady.run())
            tasks = [
                asyncio.create_task(coroutine)
                for coroutine in [
                    sample_forever(servers, redis, samples, load.problems),
                    feed_device(load, device["api_key"], readings_sent),
                    churn_dashboard(load, owner, dashboard["slug"]),
                    load.churn(),
                    load.ghosts(readers[0], [*slugs, side], ghost_tasks),
                    *(load.sender(chat, mentions) for chat in senders_chats),
                    *(load.hopper(account, [*slugs, side], side) for account in hoppers),
                ]
            ]

            # The soak itself; a load task that fails ends it, and the test, with its error.
            done, _ = await asyncio.wait(
                [*tasks, steady_task], timeout=SOAK_SECONDS, return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                task.result()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            load_counts = dict(load.counts)
            lasting_at_end = (await key_census(redis))[1]

            # Every client, hoppers included, back in each room it knows: each must end with
            # the history, gap-free (its problems list any gap or repeat it met).
            hopper_chats = [c for chats in load.hoppers.values() for c in chats.values()]
            every_chat = load.chats + hopper_chats
            await asyncio.gather(*(back_in(chat) for chat in every_chat))
            await asyncio.gather(*(chat.wait_acked(60) for chat in every_chat))
            histories = {}
            for slug in [*slugs, side]:
                chats = [c for c in every_chat if c.slug == slug]
                histories[slug] = await until_same_as_history(rest, slug, chats)
            for other in others:
                await other.view.until_seq(len(histories[other.slug]), 30)
            async with Rest(one, steady_bell) as theirs:
                notified = [n["id"] for n in await theirs.get("/api/notifications/")]
            async with asyncio.timeout(30):
                while not set(notified) <= set(bells[0].ids):
                    bells[0].changed.clear()
                    await bells[0].changed.wait()
            async with asyncio.timeout(30):
                while not set(readings_sent) <= steady.points:
                    steady.changed.clear()
                    await steady.changed.wait()
        finally:
            if steady_task is not None:
                tasks.append(steady_task)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            every_chat = load.chats + [c for cs in load.hoppers.values() for c in cs.values()]
            await asyncio.gather(*(c.stop() for c in [*every_chat, *others]))
            await asyncio.gather(*(bell.stop() for bell in bells))
            await steady.close()

    # Every client is gone but the vanished peers, whom only the keepalive can drop.
    await asyncio.gather(*ghost_tasks)
    started = time.monotonic()
    for _ in range(2 * CLEAN_WITHIN):
        if not (left := await leftovers(servers, redis)):
            break
        await asyncio.sleep(0.5)  # noqa: sleep-ok polling Redis and /metrics, bounded
    cleaned_in = time.monotonic() - started

    log_problems, accesses = {}, {}
    for name, server in zip(("one", "two"), servers, strict=True):
        log_problems[name], accesses[name] = log_report(server)
    connections = {name: count["WSCONNECT"] for name, count in accesses.items()}
    reconnects = sum(c.connections - 1 for c in load.chats)
    print(
        f"\nsoak of {SOAK_SECONDS:.0f}s: {load_counts}\n"
        f"chat reconnects {reconnects}; socket connections served {connections}; "
        f"vanished peers dropped after {[round(t, 1) for t in load.ghost_lifetimes]}s; "
        f"clean {cleaned_in:.1f}s after the last client left; the steady dashboard was "
        f"closed by the server {sum(steady.closes.values())} times {dict(steady.closes)}\n"
        f"lasting Redis keys at the end of the load: {dict(lasting_at_end)}\n"
        f"and once every client was gone: {dict((await key_census(redis))[1])}\n"
        + samples_table(samples)
    )

    # Each kind of trouble is reported together with the others, so that one failure shows
    # whether memory grew as well as what the logs say.
    flat = [
        growth_problem(samples, f"process {name}'s RSS", lambda s, i=i: s.rss[i],
                       RSS_SLACK, RSS_SHARE, MiB)
        for i, name in enumerate(("one", "two"))
    ] + [
        growth_problem(samples, f"process {name}'s open files", lambda s, i=i: s.fds[i],
                       FDS_SLACK, FDS_SHARE, 1)
        for i, name in enumerate(("one", "two"))
    ] + [
        growth_problem(samples, "Redis used_memory", lambda s: s.redis_memory,
                       REDIS_SLACK, REDIS_SHARE, MiB),
        growth_problem(samples, "Redis's lasting keys", lambda s: s.lasting_keys,
                       KEYS_SLACK, KEYS_SHARE, 1),
    ]  # fmt: skip
    troubles = [
        *load.problems,
        *(f"left behind once every client was gone: {entry}" for entry in left),
        *(f"process {name} logged: {line}" for name, lines in log_problems.items()
          for line in lines[:30]),
        *(f"{problem} ({connections=})" for problem in flat if problem),
    ]  # fmt: skip
    assert not troubles, "\n".join(troubles)

    for chat in every_chat:
        assert not chat.view.problems, chat.view.problems
        assert not chat.errors, (describe(chat), chat.errors[:5])
        expected = [content(m) for m in histories[chat.slug]]
        assert [content(m) for m in chat.view.as_list()] == expected, describe(chat)
    for other in others:
        assert not other.view.problems, other.view.problems
        history = histories[other.slug]
        assert [identity(m) for m in other.view.as_list()] == [identity(m) for m in history]
    assert len(bells[0].ids) == len(set(bells[0].ids)), "a notification came twice"
    assert set(readings_sent) <= steady.points, "the dashboard missed points"
    assert not steady.repeated, f"a socket sent these points twice: {steady.repeated}"

    # The load was what it claims to be.
    assert reconnects >= CHURN_PER_SECOND * SOAK_SECONDS * 0.5, reconnects
    assert load_counts["vanished peers"] and load_counts["hops"], load_counts
    assert min(o.connections for o in others) > 1, [describe(o) for o in others]
    assert bells[1].connections > 1 and notified, (bells[1].connections, notified)
