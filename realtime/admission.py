"""Handshakes a process works on at once: a reconnect storm waits its turn, deliveries do not.

When a process dies, its clients reconnect to the others all within seconds (bench.storm:
5,000 handshakes on the survivor). Each one reads the session, the room and its last seq in
Django's one sync thread, in order; a message sent meanwhile is written by that same thread,
so it waited behind every handshake already queued, and the survivor's own clients saw their
messages seconds late. Here a process opens at most SWITCHBOARD_HANDSHAKES_AT_ONCE sockets at
a time. The others wait in this gate, where waiting costs nothing (Daphne's handshake timeout
still bounds it), and a message's write has at most that many reads ahead of it.

A socket holds its turn from the start of its handshake until the application has answered
it: its first frame (the hello), its close, or its first wait for the client once accepted.
"""

import asyncio
import weakref

from django.conf import settings

_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)  # per event loop (a test has its own)


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(settings.SWITCHBOARD_HANDSHAKES_AT_ONCE)
    return gate


class _Turn:
    """One socket's place in the gate, given back once (whichever comes first)."""

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self.gate, self.held, self.accepted = gate, True, False

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.gate.release()


def admitting_handshakes(app):
    """ASGI middleware for WebSockets: at most SWITCHBOARD_HANDSHAKES_AT_ONCE handshakes at
    once in this process (0: no bound)."""

    async def middleware(scope, receive, send):
        if scope["type"] != "websocket" or settings.SWITCHBOARD_HANDSHAKES_AT_ONCE <= 0:
            return await app(scope, receive, send)
        gate = _gate()
        await gate.acquire()
        turn = _Turn(gate)

        async def receiving():
            if turn.accepted:
                turn.give_back()  # accepted and waiting for the client: the handshake is done
            return await receive()

        async def sending(message):
            kind = message["type"]
            if kind == "websocket.accept":
                turn.accepted = True
            elif kind in ("websocket.send", "websocket.close", "websocket.http.response.start"):
                turn.give_back()
            await send(message)

        try:
            return await app(scope, receiving, sending)
        finally:
            turn.give_back()

    return middleware
