"""The same broadcast with the `websockets` library: `python -m bench.floor.websockets_server PORT`.

One asyncio loop, `websockets.broadcast()` of each published text to the process's sockets of
the room (it writes the frame to every socket without waiting for any of them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import redis.asyncio as redis
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.floor.chat import (
    CHANNEL_PATTERN,
    message_text,
    room_channel,
    room_from_path,
    room_of_channel,
)

READY = "websockets server listening on"


async def main(port: int) -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    local: dict[str, set[ServerConnection]] = {}
    pubsub = client.pubsub()
    await pubsub.psubscribe(CHANNEL_PATTERN)
    # Serve only once Redis has confirmed the subscription: no message may predate it.
    confirmed = await pubsub.get_message(timeout=20)
    if not confirmed or confirmed["type"] != "psubscribe":
        raise RuntimeError(f"no Redis subscription: {confirmed}")

    async def listen() -> None:
        async for item in pubsub.listen():
            if item["type"] == "pmessage":
                broadcast(local.get(room_of_channel(item["channel"]), ()), item["data"])

    async def handler(connection: ServerConnection) -> None:
        room = room_from_path(connection.request.path)
        if room is None:
            await connection.close(4404)
            return
        # websockets calls this right after the handshake, without yielding in between: the
        # socket is in the room before any later message can reach this process's listener.
        sockets = local.setdefault(room, set())
        sockets.add(connection)
        try:
            async for text in connection:
                reply = message_text(room, text)
                if reply is not None:
                    await client.publish(room_channel(room), reply)
        finally:
            sockets.discard(connection)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=65536):
        print(f"{READY} 127.0.0.1:{port}", flush=True)
        await listen()  # for as long as the process runs; if it fails, the process exits


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main(int(sys.argv[1])))
