"""A bare ASGI broadcast app, the floor under Daphne: `daphne bench.floor.asgi:application`.

A socket of /ws/rooms/<room>/ is accepted as it comes. A `message.send` frame becomes the room's
`message` frame, published once to Redis; the process's one subscription hands every published
text to the process's sockets of that room.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis

from bench.floor.chat import (
    CHANNEL_PATTERN,
    message_text,
    room_channel,
    room_from_path,
    room_of_channel,
)

Send = Callable[[dict[str, Any]], Awaitable[None]]
logger = logging.getLogger(__name__)


class Rooms:
    """This process's sockets (their ASGI `send`) by room, fed by its Redis subscription."""

    def __init__(self) -> None:
        self.local: dict[str, set[Send]] = {}
        self.redis: redis.Redis | None = None
        self.subscribed = asyncio.Event()
        self._listener: asyncio.Task | None = None

    async def ready(self) -> redis.Redis:
        """The Redis client, once the subscription is confirmed. Daphne sends no lifespan
        events, so the first socket starts the subscription."""
        if self._listener is None:
            self.redis = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
            self._listener = asyncio.create_task(self._listen())
        await self.subscribed.wait()
        return self.redis

    async def _listen(self) -> None:
        try:
            async with self.redis.pubsub() as pubsub:
                await pubsub.psubscribe(CHANNEL_PATTERN)
                async for item in pubsub.listen():
                    if item["type"] == "psubscribe":
                        self.subscribed.set()
                        continue
                    event = {"type": "websocket.send", "text": item["data"]}
                    # A copy: a socket may come or go while a send awaits.
                    for send in tuple(self.local.get(room_of_channel(item["channel"]), ())):
                        await send(event)
        except Exception:
            logger.exception("the Redis subscription failed; this process delivers no more")
            raise


rooms = Rooms()


async def application(scope: dict[str, Any], receive: Callable, send: Send) -> None:
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return
    if (await receive())["type"] != "websocket.connect":
        return
    room = room_from_path(scope["path"])
    if room is None:
        await send({"type": "websocket.close", "code": 4404})
        return
    client = await rooms.ready()
    await send({"type": "websocket.accept"})
    # Daphne's send returns without yielding, so the socket is in the room before this process
    # can hand on any message published after the client saw the handshake complete.
    local = rooms.local.setdefault(room, set())
    local.add(send)
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text"):
                reply = message_text(room, event["text"])
                if reply is not None:
                    await client.publish(room_channel(room), reply)
    finally:
        local.discard(send)
