"""The load: subscriber sockets in worker processes, and the publisher.

A message body carries the publisher's number for it and its send time, `bench k=<k> t=<ns>;`,
where the time is CLOCK_MONOTONIC, which all processes of one machine share. Subscribers find
those by substring search instead of decoding each frame, to keep the client side cheap.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.timing import within

MARK = "bench k="
HELLO = '"type":"hello"'
ERROR = '"type":"error"'
TYPE_PREFIX = '{"type":"'
UPDATED_PREFIX = '{"type":"message.'
# The mix (bench.fanout's switchboard-mix): of every MIX_EVERY messages a publisher sends, one
# replies to its previous message and one gets the publisher's reaction once its copy is back.
MIX_EVERY = 4
REPLY_AT, REACT_AT = 1, 2
# The frames the mix adds at every socket (a reply's parent, a reaction's message). Only these
# and `message` frames count as the traffic's frames; presence is apart.
MIX_FRAMES = ("message.updated", "reactions")


def message_body(k: int) -> str:
    return f"{MARK}{k} t={time.monotonic_ns()};"


def send_frame(k: int, reply_to: int | None = None) -> str:
    # Built by hand: the timestamp is taken as late as possible, just before the send.
    reply = "" if reply_to is None else f',"reply_to":{reply_to}'
    return (
        '{"type":"message.send","body":"' + message_body(k) + '","client_id":"'
        + uuid.uuid4().hex + '"' + reply + "}"
    )  # fmt: skip


def delivered_mark(text: str) -> tuple[int, int] | None:
    """parse_mark for a delivery: a `message` frame. A `message.updated` frame (a reply's
    parent, whose reply count went up) carries an earlier message's body, not a delivery."""
    if text.startswith(UPDATED_PREFIX):
        return None
    return parse_mark(text)


def parse_mark(text: str) -> tuple[int, int] | None:
    """(k, send time in ns) from a frame carrying a bench message, else None."""
    i = text.find(MARK)
    if i < 0:
        return None
    j = text.find(" t=", i)
    end = text.find(";", j)
    return int(text[i + len(MARK) : j]), int(text[j + 3 : end])


def frame_type(text: str) -> str:
    """The `type` of a server frame that starts with it, as both servers' frames do."""
    if not text.startswith(TYPE_PREFIX):
        return "?"
    return text[len(TYPE_PREFIX) : text.find('"', len(TYPE_PREFIX))]


async def open_socket(url: str, cookie: str, origin: str, wait_hello: bool) -> ClientConnection:
    """A browser-like socket: session cookie (if any) and Origin; no compression, no client
    pings."""
    ws = await connect(
        url,
        origin=origin,
        additional_headers={"Cookie": cookie} if cookie else None,
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=60,
        close_timeout=5,
    )
    if wait_hello:
        first = await within(ws.recv(), 60)
        if HELLO not in first:
            await ws.close()
            raise RuntimeError(f"first frame is not hello: {first[:200]}")
    return ws


@dataclass
class SocketSpec:
    sid: int
    url: str
    cookie: str
    origin: str


@dataclass
class WorkerSpec:
    sockets: list[SocketSpec]
    wait_hello: bool  # Switchboard sends `hello` once the socket is subscribed
    concurrency: int  # handshakes in flight at once


@dataclass
class Records:
    """One row per received bench message: socket, k, send and receive time (ns)."""

    sid: array = field(default_factory=lambda: array("q"))
    k: array = field(default_factory=lambda: array("q"))
    sent: array = field(default_factory=lambda: array("q"))
    received: array = field(default_factory=lambda: array("q"))

    def add(self, sid: int, k: int, sent: int, received: int) -> None:
        self.sid.append(sid)
        self.k.append(k)
        self.sent.append(sent)
        self.received.append(received)


class Worker:
    """Holds its share of the subscriber sockets and records what they receive.

    Protocol over the pipe (harness -> worker): "connect", ("count", k0, k1), "finish".
    """

    def __init__(self, conn: Connection, spec: WorkerSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.sockets: list[ClientConnection] = []
        self.listeners: list[asyncio.Task] = []
        self.records = Records()
        self.per_k: Counter[int] = Counter()
        self.error_frames = 0
        self.error_samples: list[str] = []
        self.other_frames: Counter[str] = Counter()  # type -> frames that are not bench messages
        self.mix_received = array("q")  # when each MIX_FRAMES frame arrived (ns)
        self.other_chars: Counter[str] = Counter()  # type -> their characters
        self.unexpected_closes: Counter[str] = Counter()
        self.finishing = False

    async def run(self) -> None:
        self.conn.send("ready")
        while True:
            command = await asyncio.to_thread(self.conn.recv)
            if command == "connect":
                self.conn.send(await self.connect_all())
            elif command == "finish":
                self.conn.send(await self.finish())
                return
            else:
                _, k0, k1 = command  # ("count", k0, k1)
                self.conn.send(sum(self.per_k[k] for k in range(k0, k1)))

    async def connect_all(self) -> dict:
        gate = asyncio.Semaphore(self.spec.concurrency)
        failures: Counter[str] = Counter()

        async def one(spec: SocketSpec) -> None:
            async with gate:
                try:
                    ws = await open_socket(spec.url, spec.cookie, spec.origin, self.spec.wait_hello)
                except Exception as error:  # counted and reported, not fatal
                    failures[f"{type(error).__name__}: {error}"[:200]] += 1
                    return
            self.sockets.append(ws)
            self.listeners.append(asyncio.create_task(self.listen(spec.sid, ws)))

        started = time.monotonic_ns()
        await asyncio.gather(*(one(s) for s in self.spec.sockets))
        return {
            "opened": len(self.sockets),
            "failures": dict(failures),
            "started": started,
            "ended": time.monotonic_ns(),
        }

    async def listen(self, sid: int, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                now = time.monotonic_ns()
                mark = delivered_mark(text)
                if mark is not None:
                    self.records.add(sid, mark[0], mark[1], now)
                    self.per_k[mark[0]] += 1
                    continue
                kind = frame_type(text)
                if kind in MIX_FRAMES:
                    self.mix_received.append(now)
                self.other_frames[kind] += 1
                self.other_chars[kind] += len(text)
                if ERROR in text:
                    self.error_frames += 1
                    if len(self.error_samples) < 5:
                        self.error_samples.append(text[:300])
        except ConnectionClosed:
            pass
        if not self.finishing:
            self.unexpected_closes[str(ws.close_code)] += 1

    async def finish(self) -> dict:
        """Close every socket and hand over what was received until now."""
        self.finishing = True
        other_frames = {kind: (n, self.other_chars[kind]) for kind, n in self.other_frames.items()}
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.listeners, return_exceptions=True)
        return {
            "records": self.records,
            "error_frames": self.error_frames,
            "error_samples": self.error_samples,
            "other_frames": other_frames,
            "mix_received": self.mix_received,
            "unexpected_closes": dict(self.unexpected_closes),
        }


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a subscriber process (multiprocessing, spawn)."""
    asyncio.run(Worker(conn, spec).run())


class Publisher:
    """One publishing socket: it sends `message.send` frames and drains what it receives,
    timing the copies of its own messages (the room's path without the fan-out).

    With `mix`, some of its messages are replies and some get a reaction (MIX_EVERY)."""

    def __init__(self, ws: ClientConnection, mix: bool = False) -> None:
        self.ws = ws
        self.mix = mix
        self.error_frames: list[str] = []
        self.sent: set[int] = set()
        self.own_copies: dict[int, int] = {}  # k -> ns from send to the copy's arrival
        self.last_id: int | None = None  # of its newest message back from the room
        # The k of its messages sent as replies, and of those it reacted to. Counted on its own
        # sends, so that every publisher (and so both processes) does its share of each.
        self.replies: list[int] = []
        self.reactions: list[int] = []
        self._to_react: set[int] = set()

    async def send(self, k: int) -> None:
        turn = len(self.sent) % MIX_EVERY
        self.sent.add(k)
        reply_to = None
        if self.mix and turn == REPLY_AT and self.last_id is not None:
            reply_to = self.last_id
            self.replies.append(k)
        elif self.mix and turn == REACT_AT:
            self._to_react.add(k)
        await self.ws.send(send_frame(k, reply_to))

    async def _mixed(self, k: int, text: str) -> None:
        """Its own message came back: note its id, and react to it if it is one to react to."""
        message_id = json.loads(text)["message"]["id"]
        self.last_id = message_id
        if k in self._to_react:
            self._to_react.discard(k)
            self.reactions.append(k)
            reaction = {"type": "reaction.add", "id": message_id, "emoji": "👍"}
            await self.ws.send(json.dumps(reaction))

    def start(self) -> Publisher:
        self._drain = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                now = time.monotonic_ns()
                mark = delivered_mark(text)
                if mark is not None:
                    if mark[0] in self.sent:
                        self.own_copies[mark[0]] = now - mark[1]
                        if self.mix:
                            await self._mixed(mark[0], text)
                elif ERROR in text:
                    self.error_frames.append(text[:300])
        except ConnectionClosed:
            pass

    @property
    def closed_early(self) -> int | None:
        """The close code, if the server closed this socket before `close()`."""
        return self.ws.close_code if self._drain.done() else None

    async def close(self) -> None:
        await self.ws.close()
        await self._drain


async def publish(
    publishers: list[Publisher], k_start: int, count: int, rate: float, start: float
) -> None:
    """Send messages k_start.. at `start + i / rate` (time.monotonic), never drifting; message k
    goes out through publisher k % len(publishers), so each user stays under the send rate."""
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        k = k_start + i
        await publishers[k % len(publishers)].send(k)
