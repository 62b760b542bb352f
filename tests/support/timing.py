"""Timing helpers of the tests: `within` (realtime.aio: the app's, shared), and holding a
socket's connect at a point of it until the test lets it go on."""

import asyncio

from realtime.aio import within

__all__ = ["HeldConnects", "within"]


class HeldConnects:
    """Holds every socket of `consumer_class` in its `register` (its access is read by then)
    until `go_on` is set; `reached` is set once one got there."""

    def __init__(self, monkeypatch, consumer_class) -> None:
        self.reached, self.go_on = asyncio.Event(), asyncio.Event()
        register = consumer_class.register

        async def held_register(consumer, ref):
            self.reached.set()
            await self.go_on.wait()
            return await register(consumer, ref)

        monkeypatch.setattr(consumer_class, "register", held_register)
