"""Server-Sent Events over the same hub the sockets use."""

import asyncio
import contextvars
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from realtime import credentials
from realtime.auth import authenticate_header
from realtime.broadcast import close_applies
from realtime.presence import SocketRef, get_registry

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class StreamCredential:
    """Who opened a stream or long poll, with what, and until when."""

    user: Any
    kind: str  # realtime.credentials: session, jwt or device_key
    session_key: str | None  # a logout of this session ends the stream
    expires_at: float | None  # a JWT's expiry ends the stream

    def remaining(self) -> float:
        """Seconds until the credential expires (infinite for a session)."""
        return math.inf if self.expires_at is None else self.expires_at - time.time()


async def stream_credential(request: HttpRequest) -> StreamCredential | JsonResponse:
    """The caller of a stream, authenticated as the sockets are; or the refusal to answer with
    (401 without credentials, 403 for one that may not read, such as a device key)."""
    authorization = request.headers.get("Authorization")
    if authorization:
        user, device, expires_at = await sync_to_async(authenticate_header)(authorization)
        kind = credentials.DEVICE_KEY if device is not None else credentials.JWT
        credential = StreamCredential(user, kind, None, expires_at)
    else:
        user = await request.auser()
        key = request.session.session_key
        credential = StreamCredential(user, credentials.SESSION, key, None)
    if not credential.user.is_authenticated or not credential.user.is_active:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    if not credentials.allows(credential.kind, credentials.USER):
        return JsonResponse({"code": "forbidden", "detail": credentials.REFUSAL}, status=403)
    return credential


def stream_ends(event: dict[str, Any], credential: StreamCredential, room_id=None) -> bool:
    """Whether a `hub.close` event for the user ends this stream, as it would end a socket."""
    return event["type"] == "hub.close" and close_applies(
        event, room_id=room_id, session_key=credential.session_key
    )


# The slots the current HTTP request has taken (set by `releasing_stream_slots`).
_request_slots: contextvars.ContextVar[list["StreamSlot"] | None] = contextvars.ContextVar(
    "stream_slots", default=None
)


class StreamSlot:
    """A stream's or long poll's place in the per-user and per-address caps, which sockets
    share (realtime.presence): a user cannot open streams without bound either. Whatever
    becomes of the request, `releasing_stream_slots` gives the place back when it ends."""

    def __init__(self, credential: StreamCredential, request: HttpRequest) -> None:
        user = credential.user
        self.ref = SocketRef(
            uuid.uuid4().hex, user.pk, user.get_username(),
            request.META.get("REMOTE_ADDR") or "unknown", f"user:{user.pk}",
        )  # fmt: skip
        self.held = False

    async def take(self) -> JsonResponse | None:
        """Take the slot; a 429 refusal to answer with if the caps are full."""
        if not await get_registry().open(self.ref):
            return JsonResponse(
                {"code": "too_many_connections",
                 "detail": "Too many open sockets and streams; close some and retry."},
                status=429, headers={"Retry-After": "5"},
            )  # fmt: skip
        self.held = True
        if (slots := _request_slots.get()) is not None:
            slots.append(self)
        return None

    async def release(self) -> None:
        if self.held:
            self.held = False
            await get_registry().close(self.ref)


def releasing_stream_slots(app):
    """ASGI middleware for HTTP: the stream slots a request took are released when it ends.

    The view and its stream release their slot themselves, but a client that goes just after
    the slot was taken makes Django cancel the request wherever it is, in a middleware on the
    answer's way out say; that answer is then never closed, and the slot, refreshed by the
    heartbeat, would hold the user's cap for as long as the process runs."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        slots: list[StreamSlot] = []
        token = _request_slots.set(slots)  # Django's request tasks copy the context, and the list
        try:
            return await app(scope, receive, send)
        finally:
            _request_slots.reset(token)
            for slot in slots:
                try:
                    await slot.release()
                except Exception:  # the shared store is down: the entry lapses with its TTL
                    logger.warning("could not release a stream slot", exc_info=True)

    return middleware


def sse(event: str, data: Any, event_id: int | str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def sse_response(stream: AsyncIterator[str], slot: "StreamSlot") -> StreamingHttpResponse:
    """The stream's response; its slot is released when the stream ends or the response is
    closed, whichever comes first (a client gone before the first byte never runs the
    stream's own `finally`)."""
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response._resource_closers.append(lambda: async_to_sync(slot.release)())
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
