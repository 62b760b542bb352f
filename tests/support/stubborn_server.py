"""Settings for a test server with two more server tasks: one that will not stop when it is
cancelled, as a task stuck in its own cleanup would, and one that leaves sync work that never
ends in Django's sync thread (tests/integration/test_server_stop.py)."""

import asyncio
import logging
import threading

from asgiref.sync import sync_to_async

from config.settings.test import *  # noqa: F403
from config.settings.test import SWITCHBOARD_SERVER_TASKS

SWITCHBOARD_SERVER_TASKS = [
    *SWITCHBOARD_SERVER_TASKS,
    "tests.support.stubborn_server.run_stubborn",
    "tests.support.stubborn_server.run_stuck_in_sync",
]

STARTED = "the stubborn task is running"
STARTED_SYNC = "the stuck sync work is running"


async def run_stubborn() -> None:
    logging.getLogger(__name__).warning(STARTED)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.Event().wait()  # its "cleanup" never ends


async def run_stuck_in_sync() -> None:
    # Cancelled, this task ends; the work goes on in Django's sync thread, and every later
    # sync_to_async queues behind it.
    await sync_to_async(_never_ending_sync_work)()


def _never_ending_sync_work() -> None:
    logging.getLogger(__name__).warning(STARTED_SYNC)
    threading.Event().wait()
