"""A server process's garbage collector: a full collection walks only what is new.

CPython 3.11's full collection walks every tracked object the process holds, and about 100 of
them belong to each open socket (Twisted, autobahn, Channels). At 10,000 sockets one walk
stopped the event loop for 0.6-0.9 s; and Python makes one fall due whenever the objects that
lived long enough have grown by a quarter, which a reconnect storm does within seconds
(bench.storm: the survivor takes in 5,000 sockets).

So `python -m realtime.serve` freezes (`gc.freeze()`) whatever survives each full
collection: it was alive a moment ago, and an open socket lives on. The next full collection
walks only what came since: the sockets opened in between and the garbage they made.

What a freeze holds can still become garbage: a connection that closes leaves reference
cycles (a socket's autobahn protocol and its Deferreds, a request and Twisted's channel), and
frozen objects are never collected. Python itself leaves such garbage until long-lived objects
have grown by a quarter; here, once a quarter as many connections have closed as are open (at
least THAW_AFTER_CLOSED), everything is unfrozen and collected in one full walk, and what
survives is frozen again: a walk that costs what Python's own full collection costs, at about
the rate of Python's own, and at most one per THAW_INTERVAL_SECONDS (as clients leave en
masse, every quarter would otherwise be a walk of everything left; and plain HTTP requests
count too). A storm, in which a survivor only gains sockets, has none. The server counts only
the connections its application was given and a freeze caught open (`freezes` changed while
they were open): most requests end between two full collections and leave nothing frozen,
and a WebSocket's upgrade request, which hands its connection on within the handshake, is
never given to the application. It checks once a round of its connection table (every
second), after the round's closes are counted.
"""

import gc
import math
import time
from collections.abc import Callable

# Connections that must have closed since the last thaw before the next, whatever few are
# open: what their garbage may hold meanwhile (some 25 KiB a socket) against a walk of
# everything, startup's 150,000 objects included, every few connections.
THAW_AFTER_CLOSED = 256
THAW_INTERVAL_SECONDS = 30.0


class FreezingCollector:
    """Freezes the survivors of every full collection; thaws once enough connections closed.

    `open_connections` tells how many connections the process holds now. The server calls
    `connection_closed` for each one it lets go of that a freeze caught open (`freezes` is
    not what it was when it opened), and `check` every second or so (a thaw that fell due
    within the interval comes when it ends)."""

    def __init__(
        self,
        open_connections: Callable[[], int],
        thaw_after: int = THAW_AFTER_CLOSED,
        thaw_interval: float = THAW_INTERVAL_SECONDS,
    ) -> None:
        self.open_connections = open_connections
        self.thaw_after = thaw_after
        self.thaw_interval = thaw_interval
        self.closed = 0  # connections closed since the last thaw
        self.freezes = 0  # full collections whose survivors were frozen
        self.thawed_at = -math.inf
        self.thaws = 0
        self.installed = False

    def install(self) -> None:
        """Collect and freeze what exists (startup's objects), then every full collection's."""
        if not self.installed:
            gc.collect()
            gc.freeze()
            gc.callbacks.append(self._collected)
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._collected)
            self.installed = False

    def _collected(self, phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()
            self.freezes += 1

    def connection_closed(self) -> None:
        self.closed += 1

    def check(self) -> None:
        """Thaw if enough connections closed and the last thaw is an interval ago."""
        if (
            self.closed >= max(self.thaw_after, self.open_connections() // 4)
            and time.monotonic() - self.thawed_at >= self.thaw_interval
        ):
            self.thaw()

    def thaw(self) -> None:
        """Unfreeze and collect everything; the survivors are frozen again (by the callback)."""
        from realtime.metrics import GC_THAWS  # Django's settings are ready by now

        self.closed = 0
        self.thaws += 1
        GC_THAWS.inc()
        gc.unfreeze()
        gc.collect()
        self.thawed_at = time.monotonic()
