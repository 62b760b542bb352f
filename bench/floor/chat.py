"""The part of the chat protocol both floors speak: the room's URL, its channel, the frame."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime

ROOM_PATH = re.compile(r"/ws/rooms/(?P<room>[-\w]+)/")  # Switchboard's socket URL
CHANNEL_PATTERN = "room:*"  # every room's channel: one subscription per process

# No auth: messages are by a stand-in author the size of the bench's publishers.
AUTHOR = {"id": 1, "username": "bench-pub-0"}

_ids = itertools.count(1)


def room_from_path(path: str) -> str | None:
    match = ROOM_PATH.fullmatch(path)
    return match["room"] if match else None


def room_channel(room: str) -> str:
    return f"room:{room}"


def room_of_channel(channel: str) -> str:
    return channel.removeprefix("room:")


def message_text(room: str, text: str) -> str | None:
    """The `message` frame, encoded, for a received `message.send` frame; None for others.

    Same fields and encoding as Switchboard's (compact JSON), so every system under test puts
    frames of the same size on the wire.
    """
    frame = json.loads(text)
    if frame.get("type") != "message.send":
        return None
    n = next(_ids)
    message = {
        "id": n,
        "seq": n,
        "room": room,
        "author": AUTHOR,
        "body": frame["body"],
        "client_id": frame.get("client_id"),
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "edited_at": None,
        "deleted": False,
    }
    return json.dumps(
        {"type": "message", "message": message}, separators=(",", ":"), ensure_ascii=False
    )
