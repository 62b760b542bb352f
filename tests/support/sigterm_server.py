"""Settings for a test server whose SIGTERM arrives while the loop runs an async_to_sync
coroutine, as it may under `make run` (the simulators announce readings that way many times a
second), in the middle of a server task's sync work that then announces once more
(tests/integration/test_server_stop.py)."""

import asyncio
import logging
import signal
import time

from asgiref.sync import async_to_sync, sync_to_async

from config.settings.test import *  # noqa: F403
from config.settings.test import SWITCHBOARD_SERVER_TASKS

SWITCHBOARD_SERVER_TASKS = [
    *SWITCHBOARD_SERVER_TASKS,
    "tests.support.sigterm_server.run_tick_interrupted_by_sigterm",
]

TICK_STARTED = "the tick is running"
TICK_DONE = "the tick announced again and ended"


async def run_tick_interrupted_by_sigterm() -> None:
    await sync_to_async(_tick)()
    await asyncio.Event().wait()


def _tick() -> None:
    logging.getLogger(__name__).warning(TICK_STARTED)
    async_to_sync(_sigterm)()  # an announcement, during which the signal is handled
    time.sleep(1)  # noqa: sleep-ok the rest of the tick's work, which the stop must wait for
    async_to_sync(_announce)()  # its next announcement: needs the loop
    logging.getLogger(__name__).warning(TICK_DONE)


async def _announce() -> None:
    pass


async def _sigterm() -> None:
    # Python runs the handler (Twisted's) before raise_signal returns: in this coroutine's
    # context, which holds asgiref's marks of the sync thread's async_to_sync call.
    signal.raise_signal(signal.SIGTERM)
