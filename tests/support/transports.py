"""Room clients that lose their connection and come back, over each of the three transports.

- `ResumingChat`: the chat socket as the browser's static/js/socket.js uses it: on every
  (re)connect it sends `resume` from the last seq it applied (with `updated_since`), drops the
  copies a resume may repeat, and re-sends every unacknowledged `message.send` with its
  original `client_id` until the server answers it.
- `SseReader`: `/sse/rooms/<slug>/`, reconnecting with `Last-Event-ID`.
- `LongPoller`: `GET /api/rooms/<slug>/messages/?after_seq=N&wait=S`.

Each keeps a `RoomView`, its copy of the room, and writes down in `problems` whatever the
server did against its promises (docs/protocol.md, "Ordering and resume"): a gap or a repeat
where the stream promises `seq` in order, a send answered by a dropped socket. Tests assert
`problems` is empty and compare the views with the REST history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.clients import HTTP_TIMEOUT, Account, Server, connect_chat, sse_events
from tests.support.timing import within

RECONNECT_BACKOFF = (0.05, 1.0)  # first and longest pause between attempts, seconds


def quick_backoff(attempt: int, rng: random.Random) -> float:
    """The tests' default pause before reconnect attempt `attempt`: short, no jitter."""
    first, longest = RECONNECT_BACKOFF
    return min(first * 2**attempt, longest)


def browser_backoff(attempt: int, rng: random.Random) -> float:
    """static/js/backoff.js's reconnectDelay: half to all of 0.5 s doubling to 15 s, so a
    crowd that lost its server does not come back at one instant."""
    base = min(15.0, 0.5 * 2**attempt)
    return base / 2 + rng.random() * base / 2


def _stamp(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["edited_at"] or message["created_at"])


def identity(message: dict[str, Any]) -> tuple:
    """What no edit or delete changes: which message is at which seq, by whom."""
    return (
        message["seq"],
        message["id"],
        message["author"]["id"],
        message["client_id"],
        message["created_at"],
    )


def content(message: dict[str, Any]) -> tuple:
    """What a reader shows. (`message.deleted` carries no `edited_at`, so it is left out.)"""
    return (*identity(message), message["body"], message["deleted"])


@dataclass
class RoomView:
    """One client's copy of a room's messages, built from the frames it was sent."""

    name: str
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    applied: int = 0  # every seq up to this one is in `messages`
    newest: datetime | None = None  # the newest created_at / edited_at seen
    repeats_in_resume: int = 0  # copies a resume may repeat (the client drops them)
    problems: list[str] = field(default_factory=list)
    crashed: str | None = None  # the client itself failed (a bug of the test's client)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, message: dict[str, Any], *, strict: bool) -> None:
        """A `message` frame. `strict`: the stream promises this is exactly the next seq."""
        seq = message["seq"]
        if seq == self.applied + 1:
            self.messages[seq] = message
            self.applied = seq
            self._saw(message)
        elif strict:
            what = "again" if seq <= self.applied else "skipping ahead"
            self.problems.append(f"{self.name}: seq {seq} {what} after {self.applied}")
        elif seq <= self.applied:
            self.repeats_in_resume += 1
        # else: ahead of a resume's replay, which brings it in order (the frame is dropped)

    def change(self, frame: dict[str, Any]) -> None:
        """`message.updated` or `message.deleted` of a message this view has."""
        if frame["type"] == "message.updated":
            message = frame["message"]
            if message["seq"] in self.messages:
                self.messages[message["seq"]] = message
                self._saw(message)
        elif frame["seq"] in self.messages:
            seq = frame["seq"]
            self.messages[seq] = {**self.messages[seq], "body": "", "deleted": True}
            self.changed.set()

    def _saw(self, message: dict[str, Any]) -> None:
        stamp = _stamp(message)
        if self.newest is None or stamp > self.newest:
            self.newest = stamp
        self.changed.set()

    def as_list(self) -> list[dict[str, Any]]:
        return [self.messages[seq] for seq in sorted(self.messages)]

    async def until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        try:
            async with asyncio.timeout(within):
                while not condition():
                    if self.crashed:
                        raise AssertionError(self.crashed)
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: {what} did not happen within {within}s "
                f"(it has applied seq 1..{self.applied})"
            ) from None

    async def until_seq(self, seq: int, within: float = 30) -> None:
        await self.until(lambda: self.applied >= seq, within, f"seq {seq}")


class _Reconnecting:
    """The reconnect loop the three readers share: servers in turn, backoff, random drops."""

    def __init__(
        self,
        servers: Sequence[Server],
        name: str,
        rng: random.Random | None,
        backoff: Callable[[int, random.Random], float] = quick_backoff,
    ) -> None:
        self.servers = list(servers)
        self.backoff = backoff
        self.next_server = 0
        self.view = RoomView(name)
        self.rng = rng or random.Random(0)
        self.connections = 0
        self.failed_connects: list[str] = []
        self._task: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def running(self) -> bool:
        """Started and not stopped (connected or on its way back)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._crashed)

    def _crashed(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.view.crashed = f"{self.name}: the client crashed: {task.exception()!r}"
            self.view.problems.append(self.view.crashed)
            self.view.changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _server(self) -> Server:
        return self.servers[self.next_server % len(self.servers)]

    async def _failed(self, error: BaseException, attempt: int) -> None:
        """A connection attempt failed: try the next server after a pause."""
        self.failed_connects.append(f"{type(error).__name__}: {error}")
        self.next_server += 1
        await asyncio.sleep(self.backoff(attempt, self.rng))  # noqa: sleep-ok reconnect backoff

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connection()
                attempt = 0
            except (OSError, InvalidHandshake, TimeoutError, httpx.TransportError) as error:
                await self._failed(error, attempt)
                attempt += 1

    async def _connection(self) -> None:
        raise NotImplementedError


class ResumingChat(_Reconnecting):
    """A chat socket that always comes back (see the module docstring)."""

    def __init__(
        self,
        servers: Sequence[Server],
        account: Account,
        slug: str,
        *,
        rng: random.Random | None = None,
        backoff: Callable[[int, random.Random], float] = quick_backoff,
    ) -> None:
        super().__init__(servers, f"{account.username} (socket)", rng, backoff)
        self.account, self.slug = account, slug
        self.user_id: int | None = None
        self.ws: ClientConnection | None = None
        self.live = False  # resumed: from here every message is exactly the next seq
        self.pending: dict[str, str] = {}  # client_id -> body, not yet answered by a message
        self.bodies: dict[str, str] = {}  # client_id -> body, of every send
        self.acked: dict[str, dict[str, Any]] = {}
        # client_id -> the first answer of each attempt: "message", "error:<code>" or
        # "closed:<code>" (the socket went away with the attempt unanswered).
        self.answers: dict[str, list[str]] = {}
        self.errors: list[dict[str, Any]] = []
        self.closes: list[int | None] = []
        self.resumed_at: list[float] = []  # the event loop's time at each `resumed`
        self.transmits: Counter[str] = Counter()  # client_id -> message.send frames sent
        self.echoes: Counter[str] = Counter()  # client_id -> originals sent back to a retry
        self._in_flight: set[str] = set()
        self._connected = asyncio.Event()

    async def open(self) -> ResumingChat:
        """Start, and wait for the first connection to be resumed."""
        self.start()
        await self.view.until(lambda: self.live, HTTP_TIMEOUT, "the first connect")
        return self

    async def send(self, body: str, client_id: str | None = None) -> str:
        """Queue a message; it is sent now if connected, else once resumed, until answered."""
        client_id = client_id or str(uuid.uuid4())
        self.pending[client_id] = self.bodies[client_id] = body
        if self.live:
            await self._transmit(client_id)
        return client_id

    async def send_and_wait(self, body: str, within: float = 15) -> dict[str, Any]:
        client_id = await self.send(body)
        await self.view.until(lambda: client_id in self.acked, within, f"the echo of {body!r}")
        return self.acked[client_id]

    async def frame(self, frame: dict[str, Any]) -> None:
        """Send any other frame (edit, delete, read...) on the current connection."""
        assert self.ws is not None and self.live, f"{self.name} is not connected"
        await self.ws.send(json.dumps(frame))

    async def drop(self, server: Server | None = None) -> None:
        """Close the connection as a lost network would (the client reconnects at once)."""
        if server is not None:
            self.next_server = self.servers.index(server)
        if self.ws is not None:
            await self.ws.close()

    def abort(self, server: Server | None = None) -> None:
        """Drop the TCP connection with no close frame, as a killed tab or a lost link does
        (the client reconnects at once)."""
        if server is not None:
            self.next_server = self.servers.index(server)
        if self.ws is not None:
            self.ws.transport.abort()

    async def stop(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.close()
        await super().stop()

    async def wait_acked(self, within: float = 30) -> None:
        await self.view.until(lambda: not self.pending, within, "every send answered")

    async def _transmit(self, client_id: str) -> None:
        if client_id in self._in_flight or self.ws is None:
            return
        self._in_flight.add(client_id)
        body = self.pending[client_id]
        frame = {"type": "message.send", "body": body, "client_id": client_id}
        with contextlib.suppress(ConnectionClosed):
            self.transmits[client_id] += 1
            await self.ws.send(json.dumps(frame))

    def _answers_a_retry(self, message: dict[str, Any]) -> bool:
        """A message this client already has, sent back because it sent the same client_id
        again: the contract answers a repeated `message.send` with the original `message`, so
        each send after the first may bring one more copy (the first was the broadcast)."""
        client_id = message["client_id"]
        have = self.view.messages.get(message["seq"])
        return (
            message["author"]["id"] == self.user_id
            and have is not None
            and have["id"] == message["id"]
            and self.echoes[client_id] < self.transmits[client_id] - 1
        )

    def _answered(self, client_id: str, answer: str) -> None:
        if client_id in self._in_flight:
            self._in_flight.discard(client_id)
            self.answers.setdefault(client_id, []).append(answer)

    async def _connection(self) -> None:
        server = self._server()
        ws = await connect_chat(server, self.account, self.slug, open_timeout=5)
        try:
            hello = json.loads(await within(ws.recv(), HTTP_TIMEOUT))
            assert hello["type"] == "hello", hello
            self.user_id = hello["user"]["id"]
            self.connections += 1
            self.ws, self.live = ws, False
            resume: dict[str, Any] = {"type": "resume", "after_seq": self.view.applied}
            if self.view.newest is not None:
                resume["updated_since"] = self.view.newest.isoformat()
            await ws.send(json.dumps(resume))
            async for raw in ws:
                await self._on_frame(json.loads(raw))
            self.closes.append(ws.close_code)
        except ConnectionClosed as closed:
            self.closes.append(closed.rcvd.code if closed.rcvd else None)
        finally:
            self.ws, self.live = None, False
            code = self.closes[-1] if self.closes else None
            for client_id in list(self._in_flight):
                self._answered(client_id, f"closed:{code}")
            self.view.changed.set()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "message":
            message = frame["message"]
            client_id = message["client_id"]
            if self.live and self._answers_a_retry(message):
                self.echoes[client_id] += 1
            else:
                self.view.add(message, strict=self.live)
            if message["author"]["id"] == self.user_id and client_id in self.pending:
                del self.pending[client_id]
                self.acked[client_id] = message
                self._answered(client_id, "message")
                self.view.changed.set()
        elif kind in {"message.updated", "message.deleted"}:
            self.view.change(frame)
        elif kind == "resumed":
            if frame["last_seq"] > self.view.applied:
                self.view.problems.append(
                    f"{self.name}: resumed at {frame['last_seq']} with only "
                    f"1..{self.view.applied} replayed"
                )
            self.live = True
            self.resumed_at.append(asyncio.get_running_loop().time())
            self.view.changed.set()
            for client_id in list(self.pending):
                await self._transmit(client_id)
        elif kind == "error":
            self.errors.append(frame)
            client_id = frame.get("ref")
            if client_id in self.pending:
                self._answered(client_id, f"error:{frame['code']}")
                if frame["code"] in {"unavailable", "rate_limited"}:
                    # Retried on the next connection (or right away when the loop comes by).
                    asyncio.get_running_loop().call_later(0.2, self._retry, client_id)
                else:
                    self.view.problems.append(f"{self.name}: send refused: {frame}")
                    del self.pending[client_id]
            self.view.changed.set()
        elif kind == "reload":
            self.view.problems.append(f"{self.name}: told to reload: {frame}")
        elif kind not in {"presence", "typing", "pong"}:
            self.view.problems.append(f"{self.name}: unexpected frame {frame}")

    def _retry(self, client_id: str) -> None:
        if client_id in self.pending and self.live:
            asyncio.get_running_loop().create_task(self._transmit(client_id))


class SseReader(_Reconnecting):
    """`/sse/rooms/<slug>/` with the session cookie; after each event it may drop the stream
    (with probability `drop`) and, after a moment offline, reconnect to a server chosen at
    random with Last-Event-ID."""

    def __init__(
        self,
        servers: Sequence[Server],
        account: Account,
        slug: str,
        *,
        rng: random.Random,
        drop: float = 0.0,
    ) -> None:
        super().__init__(servers, f"{account.username} (SSE)", rng)
        self.account, self.slug, self.drop = account, slug, drop
        self.drops = 0

    async def _connection(self) -> None:
        server = self._server()
        async with (
            httpx.AsyncClient(
                cookies={"sessionid": self.account.sessionid},
                timeout=httpx.Timeout(HTTP_TIMEOUT, read=None),
                trust_env=False,
            ) as http,
            http.stream(
                "GET",
                f"{server.http}/sse/rooms/{self.slug}/",
                headers={"Last-Event-ID": str(self.view.applied)},
            ) as response,
        ):
            self.connections += 1
            async for event in sse_events(response):
                if event.event == "message":
                    message = event.data["message"]
                    if event.id != str(message["seq"]):
                        self.view.problems.append(f"{self.name}: id {event.id} for {message}")
                    self.view.add(message, strict=True)
                else:
                    self.view.change(event.data)
                if self.rng.random() < self.drop:
                    self.drops += 1
                    self.next_server = self.rng.randrange(len(self.servers))
                    break
        # Offline for a moment before coming back: what is sent meanwhile is replayed.
        await asyncio.sleep(self.rng.uniform(0.0, 0.2))  # noqa: sleep-ok offline


class LongPoller(_Reconnecting):
    """`GET /api/rooms/<slug>/messages/?after_seq=N&wait=S` in a loop, each poll to a server
    chosen at random; with probability `drop` the client is offline for a moment first, and
    may hang up on that poll part-way (the next one asks again from the same seq)."""

    def __init__(
        self,
        servers: Sequence[Server],
        account: Account,
        slug: str,
        *,
        rng: random.Random,
        drop: float = 0.0,
        wait: float = 2.0,
    ) -> None:
        super().__init__(servers, f"{account.username} (long poll)", rng)
        self.account, self.slug, self.drop, self.wait = account, slug, drop, wait
        self.drops = 0

    async def _connection(self) -> None:
        async with httpx.AsyncClient(
            cookies={"sessionid": self.account.sessionid}, timeout=HTTP_TIMEOUT, trust_env=False
        ) as http:
            while True:
                server = self.servers[self.rng.randrange(len(self.servers))]
                url = f"{server.http}/api/rooms/{self.slug}/messages/"
                params = {"after_seq": self.view.applied, "wait": self.wait, "limit": 200}
                if self.rng.random() < self.drop:
                    # Offline for a moment (messages pile up meanwhile), and back with a poll
                    # the client may hang up on part-way.
                    self.drops += 1
                    await asyncio.sleep(self.rng.uniform(0.02, 0.3))  # noqa: sleep-ok offline
                    try:
                        response = await within(
                            http.get(url, params=params), self.rng.uniform(0.001, 0.1)
                        )
                    except TimeoutError:
                        continue
                else:
                    response = await http.get(url, params=params)
                self.connections += 1
                if response.status_code != 200:
                    status = f"{response.status_code} {response.text}"
                    self.view.problems.append(f"{self.name}: {status}")
                    continue
                for message in response.json():
                    self.view.add(message, strict=True)


def describe(client: _Reconnecting) -> str:
    """One line on where a client is, for failure messages."""
    view = client.view
    extra = ""
    if isinstance(client, ResumingChat):
        odd = {client.bodies[c]: a for c, a in client.answers.items() if a != ["message"]}
        extra = (
            f", last closes {client.closes[-5:]}, unanswered {list(client.pending.values())}, "
            f"sends answered otherwise than by their message: {odd}"
        )
    return (
        f"{view.name} in {getattr(client, 'slug', '?')}: applied 1..{view.applied}, "
        f"{client.connections} connection(s), {len(client.failed_connects)} failed "
        f"connect(s){extra}"
    )


async def all_reach(clients: Sequence[_Reconnecting], seq: int, within: float) -> None:
    """Every client has applied up to `seq`; one failure lists where every client is."""
    results = await asyncio.gather(
        *(c.view.until_seq(seq, within) for c in clients), return_exceptions=True
    )
    if any(isinstance(result, BaseException) for result in results):
        raise AssertionError(
            f"not every client got seq {seq} within {within}s:\n"
            + "\n".join(describe(c) for c in clients)
        )
