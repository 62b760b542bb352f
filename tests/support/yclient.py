"""A y-websocket protocol client on pycrdt, as a browser's y-websocket provider would speak it."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from pycrdt import (
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    write_message,
    write_var_uint,
)
from websockets.asyncio.client import ClientConnection

from tests.support.clients import Account, Server, connect_socket


class YClient:
    """Keeps a local Doc in sync over any transport given `send(bytes)` and `recv() -> bytes`."""

    def __init__(
        self, send: Callable[[bytes], Awaitable[None]], recv: Callable[[], Awaitable[bytes]]
    ) -> None:
        self.doc = Doc()
        self.text = self.doc.get("notes", type=Text)
        self._send, self._recv = send, recv
        self.awareness: list[bytes] = []

    async def start(self) -> None:
        """Send our state vector; the server's step1 and step2 are handled as they come."""
        await self._send(create_sync_message(self.doc))

    async def handle(self, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            reply = handle_sync_message(message[1:], self.doc)
            if reply is not None:
                await self._send(reply)
        elif message[0] == YMessageType.AWARENESS:
            self.awareness.append(message)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Handle incoming messages until `condition()` holds (the caller bounds the time)."""
        while not condition():
            await self.handle(await self._recv())

    async def edit(self, change: Callable[[Text], None]) -> None:
        before = self.doc.get_state()
        change(self.text)
        await self._send(create_update_message(self.doc.get_update(before)))

    async def send_raw(self, message: bytes) -> None:
        await self._send(message)

    def __str__(self) -> str:
        return str(self.text)


def awareness_message(*entries: tuple[int, int, str]) -> bytes:
    """A y-protocols awareness message of (client id, clock, state JSON) entries."""
    parts = [write_var_uint(len(entries))]
    for client_id, clock, state in entries:
        parts += [write_var_uint(client_id), write_var_uint(clock), write_message(state.encode())]
    return create_awareness_message(b"".join(parts))


def is_sync_step2(message: bytes) -> bool:
    return message[:2] == bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2])


class NotesEditor:
    """A browser's notes editor on a real server: `/ws/rooms/<slug>/notes/` with a YClient.

    Binary frames carry the y-websocket protocol; the text frame `ping` is answered `pong`
    after every frame sent before it has been handled, which `flushed()` uses as a barrier.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.y = YClient(ws.send, self._recv_binary)
        self._pongs = 0

    @classmethod
    async def open(cls, server: Server, account: Account, slug: str) -> "NotesEditor":
        ws = await connect_socket(server, f"/ws/rooms/{slug}/notes/", account)
        editor = cls(ws)
        await editor.y.start()
        return editor

    async def __aenter__(self) -> "NotesEditor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def _recv_binary(self) -> bytes:
        while True:
            frame = await self.ws.recv()
            if isinstance(frame, bytes):
                return frame
            if json.loads(frame).get("type") == "pong":
                self._pongs += 1

    @property
    def text(self) -> str:
        return str(self.y)

    async def edit(self, change: Callable[[Text], None]) -> None:
        await self.y.edit(change)

    async def until(self, condition: Callable[[str], bool], within: float = 10) -> str:
        """Apply incoming updates until `condition(text)` holds; the text then."""
        try:
            async with asyncio.timeout(within):
                await self.y.until(lambda: condition(self.text))
        except TimeoutError:
            raise AssertionError(f"the notes never got there; they read {self.text!r}") from None
        return self.text

    async def flushed(self, within: float = 10) -> None:
        """Ping, and apply updates until the pong: the server has handled all we sent."""
        pongs = self._pongs + 1
        await self.ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(within):
            while self._pongs < pongs:
                frame = await self.ws.recv()
                if isinstance(frame, bytes):
                    await self.y.handle(frame)
                elif json.loads(frame).get("type") == "pong":
                    self._pongs += 1
