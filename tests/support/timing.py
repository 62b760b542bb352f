"""`within`: asyncio.wait_for as Python 3.12 has it.

Python 3.11's `asyncio.wait_for` swallows a cancellation that comes as the awaited thing
finishes: the caller returns its result and runs on. A client loop stopped at that moment never
stops, and the test awaiting it waits for ever (the soak test hung so, once in four runs).
`asyncio.timeout` is exact; ruff bans `asyncio.wait_for` (pyproject.toml, TID251).
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds` (it is cancelled then)."""
    async with asyncio.timeout(seconds):
        return await awaitable


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
