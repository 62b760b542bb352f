"""`within`: asyncio.wait_for as Python 3.12 has it.

Python 3.11's `asyncio.wait_for` returns the result when a cancel comes as the awaited thing
finishes: the caller runs on, and a loop stopped at that moment never stops (the soak test hung
so, once in four runs). `asyncio.timeout` is exact; ruff bans `asyncio.wait_for`
(pyproject.toml, TID251).
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds` (it is cancelled then)."""
    async with asyncio.timeout(seconds):
        return await awaitable
