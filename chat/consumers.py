"""The chat socket (CONTRACT.md §4): a transport adapter over chat.services and chat.selectors."""

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework import serializers

from chat import selectors, services
from chat.frames import error_frame, message_frame
from chat.serializers import MessageSendSerializer, ResumeSerializer, RoomSerializer
from realtime.broadcast import encode_frame
from realtime.errors import DomainError
from realtime.groups import room_group
from realtime.hub import get_hub

logger = logging.getLogger(__name__)

CLOSE_FRAME_TOO_BIG = 4009


class RoomConsumer(AsyncWebsocketConsumer):
    """One browser tab (or script) in one room.

    Room events reach the socket through the process hub, not through a layer channel of its
    own. The socket keeps `high_seq`, the last seq it has sent without a gap, so that whatever
    order events arrive in, the client sees seq in order: late duplicates are dropped and a
    gap is filled from the database before anything after it is sent.
    """

    # No layer channel per socket: the hub holds the process's single one (realtime.hub).
    channel_layer_alias = None

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.room = None
        if not self.user.is_authenticated:
            await self.close()
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        try:
            self.room = await database_sync_to_async(selectors.room_get_for_socket)(
                slug=slug, user=self.user
            )
        except DomainError:
            await self.close()
            return
        self.group = room_group(self.room.pk)
        self.high_seq = 0
        self.held: list[dict[str, Any]] = []
        self.holding = True  # until hello is out, events wait in `held`
        self.catching_up = asyncio.Lock()
        await self.accept()
        # Subscribe before reading last_seq, so nothing committed in between is missed.
        await get_hub().subscribe(self.group, self)
        async with self.catching_up:
            hello = await database_sync_to_async(self._hello)()
            await self.send_frame(hello)
            self.high_seq = hello["last_seq"]
            await self._release_held()

    def _hello(self) -> dict[str, Any]:
        room = selectors.room_get_for_user(slug=self.room.slug, user=self.user)
        return {
            "type": "hello",
            "room": RoomSerializer(room).data,
            "user": {"id": self.user.pk, "username": self.user.get_username()},
            "last_seq": room.last_seq,
            "online": [],
        }

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            await get_hub().unsubscribe(self.group, self)

    # --- client frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            if len(bytes_data) > settings.SWITCHBOARD_MAX_FRAME_BYTES:
                await self.close(CLOSE_FRAME_TOO_BIG)
                return
            await self.send_error("invalid_frame", "Frames are JSON text, not binary.")
            return
        if len(text_data) * 4 > settings.SWITCHBOARD_MAX_FRAME_BYTES and (
            len(text_data.encode()) > settings.SWITCHBOARD_MAX_FRAME_BYTES
        ):
            # Daphne normally refuses such a frame itself (1009); this guards other servers.
            await self.close(CLOSE_FRAME_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
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
            await self.send_error(error.code, error.detail, _ref(frame))
        except Exception:
            # A bug or an outage must cost this frame only, never the socket.
            logger.exception("chat frame %s failed", frame["type"])
            await self.send_error(
                "unavailable", "The server could not handle this frame; try again.", _ref(frame)
            )

    async def on_message_send(self, frame: dict[str, Any]) -> None:
        data = validate(MessageSendSerializer, frame)
        message, created = await database_sync_to_async(services.message_create)(
            room=self.room, author=self.user, body=data["body"], client_id=data["client_id"]
        )
        if not created:
            # A retry: answer the sender alone with the original; the room already has it.
            await self.send_frame(await database_sync_to_async(message_frame)(message))

    async def on_resume(self, frame: dict[str, Any]) -> None:
        after_seq = validate(ResumeSerializer, frame)["after_seq"]
        async with self.catching_up:
            self.holding = True
            await self._replay(after_seq)
            await self.send_frame({"type": "resumed", "last_seq": self.high_seq})
            await self._release_held()

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {
        "message.send": on_message_send,
        "resume": on_resume,
        "ping": on_ping,
    }

    # --- hub events ------------------------------------------------------------------------

    async def hub_event(self, event: dict[str, Any]) -> None:
        """Called by the process hub for every event of this room."""
        if event["type"] != "hub.frame":
            return
        if self.holding:
            self.held.append(event)
            return
        seq = event["seq"]
        if seq is None or seq == self.high_seq + 1:
            await self.base_send({"type": "websocket.send", "text": event["text"]})
            if seq is not None:
                self.high_seq = seq
        elif seq > self.high_seq:
            # An earlier seq has not arrived (another process committed it, or the layer
            # dropped it): hold this one and fill the gap from the database.
            self.holding = True
            self.held.append(event)
            asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        async with self.catching_up:
            await self._replay(self.high_seq)
            await self._release_held()

    async def _replay(self, after_seq: int) -> None:
        """Send every stored message above `after_seq`, in order, from the database."""
        batch = settings.SWITCHBOARD_RESUME_BATCH
        cursor = after_seq
        while True:
            texts = await database_sync_to_async(_encoded_messages_after)(self.room, cursor, batch)
            for seq, text in texts:
                await self.base_send({"type": "websocket.send", "text": text})
                cursor = seq
            if len(texts) < batch:
                break
        self.high_seq = max(self.high_seq, cursor)

    async def _release_held(self) -> None:
        """Send what arrived while holding, skipping what was already sent, then go live."""
        while self.held:
            held, self.held = self.held, []
            for event in held:
                seq = event["seq"]
                if seq is None:
                    await self.base_send({"type": "websocket.send", "text": event["text"]})
                elif seq == self.high_seq + 1:
                    await self.base_send({"type": "websocket.send", "text": event["text"]})
                    self.high_seq = seq
                elif seq > self.high_seq:
                    await self._replay(self.high_seq)
                    if seq == self.high_seq + 1:
                        await self.base_send({"type": "websocket.send", "text": event["text"]})
                        self.high_seq = seq
        self.holding = False

    # --- sending ---------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode_frame(frame))

    async def send_error(self, code: str, detail: str, ref: Any = None) -> None:
        await self.send_frame(error_frame(code, detail, ref))


def _encoded_messages_after(room, after_seq: int, limit: int) -> list[tuple[int, str]]:
    messages = selectors.message_list(room=room, after_seq=after_seq, limit=limit)
    return [(m.seq, encode_frame(message_frame(m))) for m in messages]


def validate(serializer_class: type[serializers.Serializer], frame: dict[str, Any]) -> dict:
    """Validate a frame with the same serializer the REST API uses; errors keep their codes."""
    serializer = serializer_class(data=frame)
    if serializer.is_valid():
        return serializer.validated_data
    raise frame_error(serializer.errors, serializer.errors.keys())


def frame_error(errors: dict, fields) -> DomainError:
    """The first validation error as a DomainError carrying the contract's code."""
    field_name = next(iter(fields))
    error = errors[field_name][0]
    code = getattr(error, "code", None)
    if code in {"empty_body", "body_too_long"}:
        return DomainError(str(error), code=code)
    return DomainError(f"{field_name}: {error}", code="invalid_frame")


def _ref(frame: dict[str, Any]) -> Any:
    ref = frame.get("client_id", frame.get("id"))
    return ref if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None
