"""A y-websocket protocol client on pycrdt, as a browser's y-websocket provider would speak it."""

from collections.abc import Awaitable, Callable

from pycrdt import (
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)


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


def is_sync_step2(message: bytes) -> bool:
    return message[:2] == bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2])
