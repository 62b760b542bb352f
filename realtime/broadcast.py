"""The one broadcast path: services call `broadcast_on_commit`, nothing else sends to groups.

A frame is JSON-encoded here, once per event, and travels pre-encoded; the per-process hub
(realtime.hub) writes the same text to every local socket, so no delivery re-encodes it or
touches the database.
"""

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def broadcast_on_commit(group: str, frame: dict[str, Any], *, seq: int | None = None) -> None:
    """Send `frame` to every socket watching `group` once the current transaction commits.

    `seq` marks frames that are part of a room's gap-free stream; the hub uses it to keep each
    socket's stream in order and to repair gaps from the database.
    """
    event = {"type": "hub.frame", "group": group, "seq": seq, "text": encode_frame(frame)}
    transaction.on_commit(lambda: _send(group, event))


def broadcast_control_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send a control event (for example: close user X's sockets) to the hub of every process."""
    transaction.on_commit(lambda: _send(group, {**event, "group": group}))


def _send(group: str, event: dict[str, Any]) -> None:
    # The layer is best effort: the row is committed and seq lets every client recover it, so
    # a layer outage must not turn a stored message into a failed request.
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.exception("broadcast to %s failed; clients will recover it by seq", group)
