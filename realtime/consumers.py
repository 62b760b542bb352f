"""The base of every Switchboard socket: what the OWASP WebSocket cheat sheet asks of each.

Authenticate at the handshake (realtime.auth did; here the user must be real and within the
socket caps), bound every frame (size, rate, JSON shape), dispatch by `type` to a handler,
turn refusals into the contract's error frames, and close the socket when its credentials
end: logout, password change, deactivation or an expiring token (4001), or abuse (4008).
Subclasses implement `authorize`, `opened`, handlers and `room_event`.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import structlog
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework import serializers

from realtime import credentials
from realtime.auth import OpenSession, credential_kind, open_sessions
from realtime.broadcast import close_applies, encode_frame
from realtime.closecodes import CloseCode
from realtime.errors import DomainError
from realtime.groups import notification_group, user_group
from realtime.hub import RESYNC, get_hub
from realtime.metrics import FRAMES_IN, FRAMES_OUT, OPEN_SOCKETS, RATE_LIMITED
from realtime.presence import SocketRef, get_registry
from realtime.store import FrameBudget

logger = logging.getLogger(__name__)


Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]

_releasing: set[asyncio.Task] = set()  # sockets being released (LiveConsumer.release)


class LiveConsumer(AsyncWebsocketConsumer):
    # No layer channel per socket: the process hub holds the only one (realtime.hub).
    channel_layer_alias = None
    handlers: ClassVar[dict[str, Handler]] = {}
    kind: ClassVar[str] = "socket"  # the label of this socket's metrics
    frame_rate_setting: ClassVar[str] = "SWITCHBOARD_SOCKET_FRAME_RATE"
    room_id: int | None = None  # set by room sockets: a ban or kick there ends them
    credential_scope: ClassVar[str] = credentials.USER  # what the credential must reach
    released = False  # set once `release` has given back the socket's caps and presence
    ref: SocketRef | None = None  # this socket's entry in the caps, once it is accepted
    open_session: OpenSession | None = None  # its entry in realtime.auth's OpenSessions
    frame_budget: FrameBudget | None = None  # its frames' budget, from its first frame on
    # The closes addressed to its user while it connects (None once it is accepted).
    closes_while_connecting: list[dict[str, Any]] | None = None
    is_open = False  # accepted, and `opened` has sent the first frame
    resync_when_open = False  # a RESYNC came before it was open

    async def __call__(self, scope, receive, send) -> None:
        try:
            if self.channel_layer_alias is None:
                await self._serve(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            # Daphne cancels a consumer still busy 10 s after its client went (its
            # application_close_timeout; a slow reader's queued frames can take that long), and
            # then no `disconnect` runs: release the socket here all the same.
            await self.release()

    async def _serve(self, scope, receive, send) -> None:
        """Channels' AsyncConsumer.__call__ for a consumer with no layer channel: the client's
        events are awaited here, in the socket's own task. Channels awaits each `receive` in a
        task of its own through asyncio.wait, which a socket holds for its whole life."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.ref: SocketRef | None = None
        self.groups_joined: list[str] = []
        self.token_expiry: asyncio.TimerHandle | None = None
        self.strikes: list[float] = []
        if not self.user.is_authenticated or not self.user.is_active:
            await self.close()
            return
        if not credentials.allows(credential_kind(self.scope), self.credential_scope):
            await self.close()  # a device key opens the device socket and nothing else
            return
        try:
            # Its user's group first: a ban, a kick or a logout whose close is sent once the
            # access is read below reaches it (`hub_event` keeps it until the handshake ends).
            self.closes_while_connecting: list[dict[str, Any]] = []
            await self.join_group(user_group(self.user.pk))
            await self.authorize()
            client = self.scope.get("client") or ("unknown", 0)
            device = self.scope.get("device")
            principal = f"device:{device.pk}" if device else f"user:{self.user.pk}"
            ref = SocketRef(
                uuid.uuid4().hex, self.user.pk, self.user.get_username(), str(client[0]), principal
            )
            registered = await self.register(ref)
        except DomainError:
            registered = False
        except BaseException:
            await self._leave_groups()  # the database or Redis failed: nothing stays behind
            raise
        if not registered:
            await self._leave_groups()
            await self.close()  # refused, or over the per-user or per-address cap: HTTP 403
            return
        self.ref = ref
        # This consumer runs in its own task, so its log lines carry the socket id from here on.
        structlog.contextvars.bind_contextvars(socket_id=ref.socket_id, user_id=self.user.pk)
        OPEN_SOCKETS.labels(self.kind).inc()  # `release` counts it out, whatever comes next
        if any(self.ends_with(event) for event in self.closes_while_connecting):
            await self.close()  # banned, kicked or logged out meanwhile: HTTP 403
            await self.release()
            return
        self.closes_while_connecting = None  # from here on a close closes it (`hub_event`)
        await self.accept()
        # It hears the end of its session from now on: later sockets may skip reading it.
        self.open_session = open_sessions().hold(self.scope)
        self._expire_with_token()
        await self.opened()
        self.is_open = True
        if self.resync_when_open:
            await self.room_event({"type": RESYNC, "group": None})

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels runs no `disconnect` for a consumer whose handler raised, and Daphne
        refuses an application's 1011 ("invalid close code"), which kills the consumer too: the
        socket's presence, its place in the caps (refreshed by the heartbeat for ever) and its
        hub subscriptions would leak. So a failure closes with 4011 (resumable) and releases
        the socket here; the disconnect Daphne sends later finds nothing left to do."""
        if self.released and message["type"] == "websocket.receive":
            return  # a frame that was queued before the socket failed
        try:
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']}")
            # Not Channels' aclose_old_connections() first, a thread hop per frame: every
            # database call here goes through database_sync_to_async, which does it anyway.
            await handler(message)
        except Exception:
            if getattr(self, "ref", None) is None or message["type"] == "websocket.disconnect":
                raise
            logger.exception("%s failed; closing the socket", message["type"])
            try:
                await self.close(CloseCode.SERVER_ERROR)
            finally:
                await self.release()

    async def authorize(self) -> None:
        """Raise a DomainError to refuse the handshake (403)."""

    async def register(self, ref: SocketRef) -> bool:
        """Count the socket against the caps (realtime.presence); False refuses it (403)."""
        return await get_registry().open(ref)

    async def opened(self) -> None:
        """The socket is accepted and registered: send the first frame."""

    async def closing(self) -> None:
        """The socket is gone: release what `opened` took."""

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def release(self) -> None:
        """Give back what the socket holds: its caps, presence and hub subscriptions. Runs
        once, whether the client went (disconnect), the socket failed (dispatch) or Daphne
        cancelled the consumer (__call__), and to the end even if the consumer is cancelled
        meanwhile."""
        if self.ref is None or self.released:
            return
        self.released = True
        task = asyncio.get_running_loop().create_task(self._release())
        _releasing.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(_releasing.discard)
        await asyncio.shield(task)

    async def _release(self) -> None:
        OPEN_SOCKETS.labels(self.kind).dec()
        if self.open_session is not None:
            open_sessions().release(self.open_session)
        if self.token_expiry is not None:
            self.token_expiry.cancel()  # else the loop holds this consumer until the token ends
        try:
            await self.closing()
        finally:
            await self._leave_groups()
            await get_registry().close(self.ref)

    async def _leave_groups(self) -> None:
        groups, self.groups_joined = self.groups_joined, []
        for group in groups:
            await get_hub().unsubscribe(group, self)

    async def leave_group(self, group: str) -> None:
        if group in self.groups_joined:
            self.groups_joined.remove(group)
            await get_hub().unsubscribe(group, self)

    async def join_group(self, group: str) -> None:
        # Recorded first: if the join fails or is cancelled, the release still leaves it.
        self.groups_joined.append(group)
        await get_hub().subscribe(group, self)

    def _expire_with_token(self) -> None:
        expires_at = self.scope.get("auth_expires_at")
        if expires_at is None:
            return
        delay = max(expires_at - time.time(), 0)
        loop = asyncio.get_running_loop()
        self.token_expiry = loop.call_later(
            delay, lambda: loop.create_task(self.close(CloseCode.SESSION_ENDED))
        )

    # --- client frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        limit = settings.SWITCHBOARD_MAX_FRAME_BYTES
        if len(raw) * 4 > limit and len(raw if bytes_data is not None else raw.encode()) > limit:
            # Daphne normally refuses such a frame itself (1009); this guards other servers.
            await self.close(CloseCode.FRAME_TOO_BIG)
            return
        FRAMES_IN.labels(self.kind).inc()
        if self.frame_budget is None:
            self.frame_budget = FrameBudget(getattr(settings, self.frame_rate_setting))
        if not self.frame_budget.allows():
            await self.refuse_for_rate(None)
            return
        if bytes_data is not None:
            try:
                await self.receive_bytes(bytes_data)
            except Exception:
                # As for JSON frames: a failure costs this frame, never the socket.
                logger.exception("binary frame failed")
                await self.send_error("unavailable", "The server could not handle this frame.")
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: nested deeper than the parser goes (a 64 KiB frame can be 30,000
            # levels deep); no frame of the protocol is, so it is no JSON the server takes.
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid_frame", "A frame is a JSON object with a string 'type'.")
            return
        handler = self.handlers.get(frame["type"])
        if handler is None:
            await self.send_error("unknown_type", f"Unknown frame type {frame['type'][:64]!r}.")
            return
        try:
            await handler(self, frame)
        except DomainError as error:
            await self.send_error(error.code, error.detail, frame_ref(frame))
        except Exception:
            # A bug or an outage costs this frame only, never the socket.
            logger.exception("%s frame failed", frame["type"])
            await self.send_error(
                "unavailable",
                "The server could not handle this frame; try again.",
                frame_ref(frame),
            )

    async def receive_bytes(self, data: bytes) -> None:
        await self.send_error("invalid_frame", "Frames are JSON text, not binary.")

    async def refuse_for_rate(self, ref: Any) -> None:
        """Answer `rate_limited`; a socket that keeps going after refusals is closed (4008)."""
        RATE_LIMITED.labels(self.kind).inc()
        now = time.monotonic()
        self.strikes = [t for t in self.strikes if now - t < 60] + [now]
        if len(self.strikes) > settings.SWITCHBOARD_ABUSE_STRIKES:
            await self.close(CloseCode.ABUSE)
            return
        await self.send_error("rate_limited", "Too many frames; slow down.", ref)

    # --- hub events ------------------------------------------------------------------------

    async def hub_event(self, event: dict[str, Any]) -> None:
        """Called by the process hub for every event of a group this socket joined."""
        if event["type"] == "hub.close":
            if event.get("room") is None and event.get("device") is None:
                open_sessions().forget(self.user.pk, event.get("session"))
            if self.closes_while_connecting is not None:
                # Still connecting: which room it is in may not be known yet. `connect`
                # refuses the handshake if one of these applies once it is.
                self.closes_while_connecting.append(event)
            elif self.ends_with(event):
                await self.close(event["code"])
            return
        if event["type"] == RESYNC:
            # The ends of sessions may have been lost with the rest: the process's open
            # sessions are read again by the next sockets (each socket hears this; the first
            # empties the cache).
            open_sessions().forget_all(event.get("number"))
            if not self.is_open:
                # It catches up once it is open (`opened` has set up what a catch-up needs).
                self.resync_when_open = True
                return
        if event.get("exclude_user") == self.user.pk:
            return
        await self.room_event(event)

    def ends_with(self, event: dict[str, Any]) -> bool:
        """Whether a hub.close event addressed to this user applies to this socket."""
        session = self.scope.get("session")
        session_key = session.session_key if session is not None else None
        return close_applies(event, room_id=self.room_id, session_key=session_key)

    async def room_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "hub.frame":
            await self.send_text(event["text"])

    async def send_text(self, text: str) -> None:
        """Deliver a pre-encoded frame (the hot path of every broadcast)."""
        _frames_out(self.kind).inc()
        await self.base_send({"type": "websocket.send", "text": text})

    # --- sending ---------------------------------------------------------------------------

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Daphne (autobahn) takes a plain int only, and a CloseCode is an IntEnum: passed on as
        # it is, Daphne raised, the consumer died and the client saw 1011 instead of the code.
        if isinstance(code, int) and not isinstance(code, bool):
            code = int(code)
        await super().close(code, reason)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode_frame(frame))

    async def send_error(self, code: str, detail: str, ref: Any = None) -> None:
        await self.send_frame({"type": "error", "code": code, "detail": detail, "ref": ref})


@functools.cache
def _frames_out(kind: str):
    """FRAMES_OUT's counter for one kind of socket, looked up once (it is counted per frame)."""
    return FRAMES_OUT.labels(kind)


def validate(serializer_class: type[serializers.Serializer], frame: dict[str, Any]) -> dict:
    """Validate a frame with the serializer the REST API uses; errors keep their codes."""
    serializer = serializer_class(data=frame)
    if serializer.is_valid():
        return serializer.validated_data
    field_name, errors = next(iter(serializer.errors.items()))
    error = errors[0] if isinstance(errors, list) else errors
    code = getattr(error, "code", None)
    if code in {"empty_body", "body_too_long"}:
        return_error = DomainError(str(error), code=code)
    else:
        return_error = DomainError(f"{field_name}: {error}", code="invalid_frame")
    raise return_error


def frame_ref(frame: dict[str, Any]) -> Any:
    ref = frame.get("client_id", frame.get("id"))
    return ref if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None


class NotificationConsumer(LiveConsumer):
    """/ws/notifications/: the user's notifications as they are created."""

    kind = "notifications"

    async def opened(self) -> None:
        await self.join_group(notification_group(self.user.pk))

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {"ping": on_ping}
