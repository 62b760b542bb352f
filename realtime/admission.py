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

Before the application sees a handshake, Daphne has accepted the connection and parsed its
request (about 1 ms of the loop each, Twisted and autobahn). 5,000 of those at once stopped
every delivery of the process for 5 s. So `python -m realtime.serve` stops accepting while
many handshakes wait here (`listening`): new connections wait in the kernel's listen queue,
where waiting costs the process nothing, and are accepted as turns free up.
"""

import asyncio
import weakref
from typing import Protocol

from django.conf import settings

# Handshakes waiting for a turn, per turn, past which the server stops accepting connections;
# it accepts again once no more than one per turn is waiting.
PAUSE_WAITING_PER_TURN = 4
# A scope extension (realtime.serve): a callable telling whether the client has gone.
CLIENT_GONE = "switchboard.client_gone"


class Listening(Protocol):
    """The server's listening sockets (realtime.serve), paused and resumed by the gate."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


_listening: Listening | None = None


def control_listening(listening: Listening | None) -> None:
    """Let the gate pause and resume accepting (realtime.serve gives its listening ports)."""
    global _listening
    _listening = listening


class Gate:
    """The turns of one event loop, and how many handshakes wait for one."""

    def __init__(self, turns: int) -> None:
        self.turns = asyncio.Semaphore(turns)
        self.size = turns
        self.waiting = 0
        self.paused: Listening | None = None  # what it paused, until it resumes it

    async def acquire(self) -> None:
        if not self.turns.locked():
            await self.turns.acquire()
            return
        self.waiting += 1
        try:
            crowded = self.waiting >= self.size * PAUSE_WAITING_PER_TURN
            if crowded and self.paused is None and _listening is not None:
                self.paused = _listening
                self.paused.pause()
            await self.turns.acquire()
        finally:
            self.waiting -= 1
            if self.paused is not None and self.waiting <= self.size:
                self.paused.resume()
                self.paused = None

    def release(self) -> None:
        self.turns.release()

    def locked(self) -> bool:
        return self.turns.locked()


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = (
    weakref.WeakKeyDictionary()
)  # per event loop (a test has its own)


def gate() -> Gate:
    """This event loop's gate."""
    loop = asyncio.get_running_loop()
    found = _gates.get(loop)
    if found is None:
        found = _gates[loop] = Gate(settings.SWITCHBOARD_HANDSHAKES_AT_ONCE)
    return found


class _Turn:
    """One socket's place in the gate, given back once (whichever comes first)."""

    def __init__(self, gate: Gate) -> None:
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
        turns = gate()
        await turns.acquire()
        gone = scope.get("extensions", {}).get(CLIENT_GONE)
        if gone is not None and gone():
            turns.release()  # its client left while it waited: the turn goes to the next
            return None
        turn = _Turn(turns)

        # Plain functions that hand back the server's own awaitables: they stay on every
        # frame the socket sends or receives for as long as it is open, long after its turn.
        def receiving():
            if turn.held and turn.accepted:
                turn.give_back()  # accepted and waiting for the client: the handshake is done
            return receive()

        def sending(message):
            if turn.held:
                kind = message["type"]
                if kind == "websocket.accept":
                    turn.accepted = True
                elif kind in ("websocket.send", "websocket.close",
                              "websocket.http.response.start"):  # fmt: skip
                    turn.give_back()
            return send(message)

        try:
            return await app(scope, receiving, sending)
        finally:
            turn.give_back()

    return middleware
