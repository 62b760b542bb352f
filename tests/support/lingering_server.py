"""Settings for a test server with one more server task, which starts a thread that never
ends: the interpreter joins such threads at exit, so only the exit deadline ends the process
(tests/integration/test_server_stop.py)."""

import asyncio
import logging
import threading

from config.settings.test import *  # noqa: F403
from config.settings.test import SWITCHBOARD_SERVER_TASKS

SWITCHBOARD_SERVER_TASKS = [
    *SWITCHBOARD_SERVER_TASKS,
    "tests.support.lingering_server.run_with_a_lingering_thread",
]

STARTED = "the lingering thread is running"


async def run_with_a_lingering_thread() -> None:
    threading.Thread(target=_linger, name="lingering-worker").start()
    await asyncio.Event().wait()


def _linger() -> None:
    logging.getLogger(__name__).warning(STARTED)
    threading.Event().wait()
