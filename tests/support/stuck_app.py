"""The real application plus one HTTP route whose instance never ends once cancelled, as a
consumer's cleanup awaiting a channel layer that does not answer would: for Daphne in tests only
(tests/integration/test_server_stop.py)."""

from config.asgi import application as switchboard  # isort: skip (sets Django up first)

# isort: split
import asyncio
import logging

from tests.support import procs

STUCK_PATH = "/stuck/"
STUCK = "the stuck application instance is running"


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and scope["path"] == STUCK_PATH:
        logging.getLogger(__name__).warning(STUCK)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.Event().wait()  # its "cleanup" never ends
    else:
        await switchboard(scope, receive, send)


class StuckDaphne(procs.DaphneProcess):
    """procs.DaphneProcess serving this module's application instead of config.asgi's."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "tests.support.stuck_app:application"]
