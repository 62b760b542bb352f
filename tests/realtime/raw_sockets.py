"""Socket clients that misbehave on purpose, and a look at what the server keeps in Redis.

`SlowReader` is a WebSocket peer that can send but does not read: its receive buffer is a few
KiB, so once that is full TCP stops the server's writes and every byte the server still sends
waits in the server's own memory. `SlowStream` is the same for a Server-Sent Events stream.
`socket_entries` lists the socket-cap and presence entries
that Redis holds, which is what a leaked socket leaves behind.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from websockets.frames import OP_TEXT, Frame

from tests.support.clients import Account, Server, handshake_by_hand
from tests.support.timing import within

OP_CLOSE = 0x8


class _TinyWindowClient:
    """A connection whose client reads only when told to (`_tiny_window_connection`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def abort(self) -> None:
        self.writer.transport.abort()


class SlowReader(_TinyWindowClient):
    """A hand-made WebSocket client on a socket whose receive buffer is tiny (no autotuning)."""

    @classmethod
    async def open(cls, server: Server, path: str, account: Account) -> SlowReader:
        reader, writer = await _tiny_window_connection(server)
        await handshake_by_hand(reader, writer, server, path, account)
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        await self.send_frame(OP_TEXT, text.encode())

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        """Any frame, even one no well-behaved client sends (text that is not UTF-8, say)."""
        self.writer.write(Frame(opcode, payload).serialize(mask=True, extensions=[]))
        await self.writer.drain()

    async def read_to_end(self, within: float = 30) -> tuple[int, int | None]:
        """Read everything the server sent until it closed the connection: (how many data
        frames, the close code of its close frame, None if it sent none before it hung up)."""
        frames, code = 0, None
        buffer = bytearray()
        async with asyncio.timeout(within):
            async for chunk in _chunks_to_end(self.reader):
                buffer += chunk
                while (frame := _next_frame(buffer)) is not None:
                    opcode, payload = frame
                    if opcode == OP_CLOSE:
                        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    else:
                        frames += 1
        return frames, code


class SlowStream(_TinyWindowClient):
    """An event stream (GET of an SSE URL) on a socket with a receive buffer of a few KiB,
    whose client reads the response's head and then nothing until it is told to."""

    @classmethod
    async def open(cls, server: Server, path: str, account: Account) -> SlowStream:
        reader, writer = await _tiny_window_connection(server)
        port = int(server.http.rpartition(":")[2])
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                f"Cookie: sessionid={account.sessionid}\r\n\r\n"
            ).encode()
        )
        head = await within(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head
        return cls(reader, writer)

    async def read_to_end(self, within: float = 30) -> list[int]:
        """Read what the server sent until it closed the connection: the ids of the events
        that came whole."""
        buffer = bytearray()
        async with asyncio.timeout(within):
            async for chunk in _chunks_to_end(self.reader):
                buffer += chunk
        ids = []
        for event in bytes(buffer).split(b"\n\n")[:-1]:  # the last one may be cut short
            for line in event.split(b"\n"):
                if line.startswith(b"id: "):
                    ids.append(int(line[4:]))
        return ids


async def _chunks_to_end(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """What the server sends until it closes the connection (or resets it)."""
    while True:
        try:
            chunk = await reader.read(1 << 16)
        except ConnectionResetError:
            return
        if not chunk:
            return
        yield chunk


async def _tiny_window_connection(
    server: Server,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(server.http.rpartition(":")[2])
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting: the window the server may fill is then a few KiB for good.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
    # A small stream limit too: asyncio stops reading the socket once it holds this much.
    return await asyncio.open_connection(sock=raw, limit=4096)


def _next_frame(buffer: bytearray) -> tuple[int, bytes] | None:
    """Take one whole unmasked frame (as a server sends) off the front of `buffer`."""
    if len(buffer) < 2:
        return None
    opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, start = struct.unpack("!H", buffer[2:4])[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, start = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < start + length:
        return None
    payload = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return opcode, payload


async def socket_entries(redis_url: str, *, user_id: int | None = None) -> dict[str, int]:
    """{key: entries} of the socket caps and presence sets in Redis (one user's cap alone with
    `user_id`). The presence version counters are not entries: they only ever grow."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        if user_id is not None:
            key = f"sb:sockets:user:{user_id}"
            return {key: await client.zcard(key)}
        entries = {}
        for pattern in ("sb:sockets:*", "sb:presence:*"):
            async for key in client.scan_iter(pattern):
                if not key.endswith(":version"):
                    entries[key] = await client.zcard(key)
        return entries
    finally:
        await client.aclose()


async def until_no_entries(redis_url: str, *, user_id: int | None = None, within: float = 30):
    """Wait until Redis holds no socket-cap or presence entry (of `user_id`, if given); what it
    still held when the deadline passed, else an empty dict."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        entries = {k: n for k, n in (await socket_entries(redis_url, user_id=user_id)).items() if n}
        if not entries or loop.time() > deadline:
            return entries
        await asyncio.sleep(0.1)  # noqa: sleep-ok polling Redis until a deadline
