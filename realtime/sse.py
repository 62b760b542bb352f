"""Server-Sent Events over the same hub the sockets use."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, StreamingHttpResponse

from realtime.auth import authenticate_header

KEEPALIVE_SECONDS = 15


class QueueSubscriber:
    """A hub subscriber that queues events for a streaming response, dropping the oldest when
    the client reads too slowly (the stream's own ids let the client recover)."""

    def __init__(self, size: int = 1000) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=size)

    async def hub_event(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds. (Not `asyncio.wait_for`: on Python
        3.11 it can swallow the cancellation of a client that went away just as an event
        came, and the stream then runs on until Daphne kills it.)"""
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None


async def request_user(request: HttpRequest):
    """The session user, or the Bearer/Api-Key user for scripts (the sockets' one check)."""
    authorization = request.headers.get("Authorization")
    if authorization:
        user, _, _ = await sync_to_async(authenticate_header)(authorization)
        return user
    user = await request.auser()
    return user if user.is_authenticated else AnonymousUser()


def sse(event: str, data: Any, event_id: int | str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def sse_response(stream: AsyncIterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response


def last_event_id(request: HttpRequest, query_name: str) -> int | None:
    """Last-Event-ID (what EventSource sends on reconnect) or the query fallback."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get(query_name)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None
