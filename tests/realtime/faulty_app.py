"""The real application plus one socket route with a bug on demand, for Daphne in tests only.

`/ws/faulty/rooms/<slug>/` is the chat socket (same authentication, caps and presence), except
that the text frame `raise` makes it raise outside every handler's own error handling, as a
bug would: what LiveConsumer's failure path then does is what the tests check. Started as
`python -m realtime.serve ... tests.realtime.faulty_app:application` (FaultyDaphne).
"""

from config.asgi import application as switchboard  # isort: skip (sets Django up first)

# isort: split
from channels.routing import URLRouter
from django.urls import path

from chat.consumers import RoomConsumer
from realtime.auth import SocketAuthStack
from tests.support import procs

FAULT = "raise"


class FaultyRoomConsumer(RoomConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if text_data == FAULT:
            raise RuntimeError("a bug in a socket handler (injected by the test)")
        await super().receive(text_data=text_data, bytes_data=bytes_data)


faulty = SocketAuthStack(
    URLRouter([path("ws/faulty/rooms/<slug:slug>/", FaultyRoomConsumer.as_asgi())])
)


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket" and scope["path"].startswith("/ws/faulty/"):
        await faulty(scope, receive, send)
    else:
        await switchboard(scope, receive, send)


class FaultyDaphne(procs.DaphneProcess):
    """procs.DaphneProcess serving this module's application instead of config.asgi's."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "tests.realtime.faulty_app:application"]
