"""The one broadcast path: every frame for a group of sockets goes through `broadcast`.

A frame is JSON-encoded here, once per event, and travels pre-encoded; the per-process hub
(realtime.hub) writes the same text to every local socket, so no delivery re-encodes it or
touches the database. Services inside a transaction use `broadcast_on_commit`, so nothing is
announced before it is stored.
"""

import json
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from realtime.metrics import LAYER_ERRORS

logger = logging.getLogger(__name__)


def encode_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_frame(frame: dict[str, Any], encoded: dict[str, str] | None = None) -> str:
    """`frame` as JSON text. `encoded` adds fields whose values are JSON text already: a
    crowded room's online list, encoded once for every frame that carries it."""
    text = encode_json(frame)
    if not encoded:
        return text
    extra = ",".join(f"{encode_json(name)}:{value}" for name, value in encoded.items())
    return f"{text[:-1]},{extra}}}" if frame else f"{{{extra}}}"


def frame_event(
    group: str,
    frame: dict[str, Any],
    *,
    seq: int | None = None,
    exclude_user: int | None = None,
    version: int | None = None,
    encoded: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The layer event for a frame. `seq` marks frames of a room's gap-free stream: the hub's
    sockets use it to keep their stream in order and to repair gaps from the database.
    `exclude_user`'s own sockets skip the frame (typing is for the others). `version` marks a
    frame that replaces a state (presence): a socket skips one older than the last it sent.
    `encoded`: fields of the frame already in JSON (`encode_frame`)."""
    event = {
        "type": "hub.frame", "group": group, "seq": seq, "text": encode_frame(frame, encoded),
        "sent_at": time.time(),
    }  # fmt: skip
    if exclude_user is not None:
        event["exclude_user"] = exclude_user
    if version is not None:
        event["version"] = version
    return event


def control_event(group: str, event_type: str, **fields: Any) -> dict[str, Any]:
    """A layer event for the sockets themselves (for example hub.close: end a user's sockets)."""
    return {"type": event_type, "group": group, **fields}


async def broadcast(group: str, frame: dict[str, Any], **marks: Any) -> None:
    """Send `frame` to every socket watching `group`; `marks` as for `frame_event`."""
    await send_event(frame_event(group, frame, **marks))


def broadcast_on_commit(group: str, frame: dict[str, Any], *, seq: int | None = None) -> None:
    """Send `frame` to every socket watching `group` once the current transaction commits."""
    event = frame_event(group, frame, seq=seq)
    transaction.on_commit(lambda: _send(event))


def close_applies(event: dict[str, Any], *, room_id: int | None, session_key: str | None) -> bool:
    """Whether a `hub.close` event sent to a user's group ends one of their streams: the one of
    a room they were banned or kicked from, those of a session that ended, or all of them."""
    if event.get("room") is not None:
        return event["room"] == room_id
    if event.get("device") is not None:
        return False
    if event.get("session") is not None:
        return event["session"] == session_key
    return True


def control_on_commit(event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(event))


async def send_event(event: dict[str, Any]) -> None:
    # The layer is best effort: rows are committed and seq lets every client recover them, so
    # a layer outage must not turn a stored message into a failed request.
    try:
        await get_channel_layer().group_send(event["group"], event)
    except Exception:
        LAYER_ERRORS.labels("send").inc()
        logger.exception("broadcast to %s failed; clients recover by seq", event["group"])


def _send(event: dict[str, Any]) -> None:
    async_to_sync(send_event)(event)
