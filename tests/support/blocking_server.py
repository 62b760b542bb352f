"""Settings for a test server with one more server task, which blocks the event loop for good
once the server is up, as a task calling something that never returns without awaiting would:
the reactor never gets to its shutdown, and only the exit deadline ends the process
(tests/integration/test_server_stop.py)."""

import asyncio
import logging
import threading

from config.settings.test import *  # noqa: F403
from config.settings.test import SWITCHBOARD_SERVER_TASKS

SWITCHBOARD_SERVER_TASKS = [
    *SWITCHBOARD_SERVER_TASKS,
    "tests.support.blocking_server.run_blocking_the_loop",
]

BLOCKING = "the loop is blocked"


async def run_blocking_the_loop() -> None:
    await asyncio.sleep(0.5)  # noqa: sleep-ok lets the server log that it listens first
    logging.getLogger(__name__).warning(BLOCKING)
    threading.Event().wait()  # the bug being simulated: a call that blocks the event loop
