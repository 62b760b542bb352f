"""Settings for a test server with one more server task: one that will not stop when it is
cancelled, as a task stuck in its own cleanup would (tests/integration/test_server_stop.py)."""

import asyncio
import logging

from config.settings.test import *  # noqa: F403
from config.settings.test import SWITCHBOARD_SERVER_TASKS

SWITCHBOARD_SERVER_TASKS = [*SWITCHBOARD_SERVER_TASKS, "tests.support.stubborn_server.run_stubborn"]

STARTED = "the stubborn task is running"


async def run_stubborn() -> None:
    logging.getLogger(__name__).warning(STARTED)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.Event().wait()  # its "cleanup" never ends
