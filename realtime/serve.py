"""`python -m realtime.serve`: Daphne's own command line, closing oversized frames with 1009.

Daphne enforces --websocket-max-message-size through autobahn, whose default on a frame over
the limit is to drop the TCP connection (the client sees 1006). Turning autobahn's documented
`failByDrop` option off makes the same check send a proper close frame, 1009 "message too big",
as CONTRACT.md §4 promises. Two defaults differ (an explicit option or variable wins): a 20 s
handshake timeout, and one malloc arena. It also starts SWITCHBOARD_SERVER_TASKS (the demo's
readings under `make run`) on the server's loop. Everything else is stock Daphne.
"""

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor

logger = logging.getLogger(__name__)


class ClosingServer(Server):
    def run(self) -> None:
        # Server.run builds ws_factory and then starts the reactor, so this runs after the former.
        # Set the one attribute: setProtocolOptions() would also reset Daphne's allowNullOrigin,
        # and autobahn would then answer `Origin: null` with 400 before the app can say 403.
        reactor.callWhenRunning(lambda: setattr(self.ws_factory, "failByDrop", False))
        reactor.callWhenRunning(start_server_tasks)
        super().run()


_server_tasks: set[asyncio.Task] = set()  # referenced, so the loop does not drop them


def start_server_tasks() -> None:
    """Start SWITCHBOARD_SERVER_TASKS on the server's loop (the application has set Django up)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    loop = asyncio.get_event_loop()
    for path in settings.SWITCHBOARD_SERVER_TASKS:
        task = loop.create_task(import_string(path)())
        _server_tasks.add(task)
        task.add_done_callback(_server_task_done)


def _server_task_done(task: asyncio.Task) -> None:
    _server_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("server task failed", exc_info=task.exception())


class ClosingCommandLine(CommandLineInterface):
    server_class = ClosingServer


M_ARENA_MAX = -8  # glibc's mallopt() parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 1) -> None:
    """glibc gives each thread that allocates its own malloc arena, and the memory Django's sync
    threads free stays in theirs: one arena (MALLOC_ARENA_MAX=1) took RSS per open room socket
    from 36.5 to 30.3 KiB here. Python threads allocate under the GIL, so they hardly contend
    for it. Set before any thread starts; other C libraries are left alone, and an explicit
    MALLOC_ARENA_MAX wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc after all
        ctypes.CDLL(libc_name).mallopt(M_ARENA_MAX, arenas)


def main() -> None:
    limit_malloc_arenas()
    args = sys.argv[1:]
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        args = ["--websocket-max-message-size", "65536", *args]
    if not any(a.startswith("--websocket_connect_timeout") for a in args):
        # Daphne's 5 s also bounds autobahn's opening handshake; a burst of handshakes waiting
        # on the one sync thread can take longer, and would be dropped with no HTTP answer.
        args = ["--websocket_connect_timeout", "20", *args]
    ClosingCommandLine().run(args)


if __name__ == "__main__":
    main()
