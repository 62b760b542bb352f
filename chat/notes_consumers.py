"""The notes socket (CONTRACT.md §8): y-websocket's sync and awareness protocol over pycrdt."""

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from pycrdt import (
    Decoder,
    Encoder,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
    write_message,
)

from chat import policy
from chat.notes import doc_from_state, note_state, note_update_append
from realtime.broadcast import control_event, send_event
from realtime.consumers import LiveConsumer
from realtime.groups import notes_group
from realtime.hub import get_hub

logger = logging.getLogger(__name__)


class SharedNote:
    """A room's notes document as this process holds it: loaded once from the database, then
    kept current by the hub, whichever process an update came through."""

    def __init__(self) -> None:
        self.doc, self.text = doc_from_state(b"")
        self.users = 0
        self.ready = asyncio.Event()
        # The latest awareness message of each editor (client id -> message), so a newcomer
        # sees everyone's cursor at once; a client's "gone" message removes it.
        self.awareness: dict[int, bytes] = {}

    async def hub_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "hub.notes":
            return
        if event["kind"] == "update":
            self.doc.apply_update(event["data"])
        elif event["kind"] == "awareness":
            self.remember_awareness(event["data"])

    def remember_awareness(self, message: bytes) -> None:
        for client_id, (_, state) in awareness_states(message).items():
            if state == "null":
                self.awareness.pop(client_id, None)
            else:
                self.awareness[client_id] = message


_shared_notes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, SharedNote]]" = (
    weakref.WeakKeyDictionary()
)


async def shared_note_acquire(room) -> SharedNote:
    notes = _shared_notes.setdefault(asyncio.get_running_loop(), {})
    shared = notes.get(room.pk)
    if shared is None:
        shared = notes[room.pk] = SharedNote()
        # Subscribed before loading: an update committed meanwhile is in one or the other.
        await get_hub().subscribe(notes_group(room.pk), shared)
        state = await database_sync_to_async(note_state)(room=room)
        if state:
            shared.doc.apply_update(state)
        shared.ready.set()
    shared.users += 1
    await shared.ready.wait()
    return shared


async def shared_note_release(room_id: int, shared: SharedNote) -> None:
    shared.users -= 1
    notes = _shared_notes.get(asyncio.get_running_loop(), {})
    if shared.users == 0 and notes.get(room_id) is shared:
        del notes[room_id]
        await get_hub().unsubscribe(notes_group(room_id), shared)


class NotesConsumer(LiveConsumer):
    """/ws/rooms/<slug>/notes/: the y-websocket sync and awareness protocol (binary frames).

    Same handshake as the chat socket. A client's updates are stored before they are passed on;
    a muted user's (or an archived room's) updates are not applied. Awareness (cursors, names)
    is relayed, never stored.
    """

    kind = "notes"
    frame_rate_setting = "SWITCHBOARD_NOTES_FRAME_RATE"

    async def authorize(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.room = await database_sync_to_async(policy.room_to_read)(slug=slug, user=self.user)
        self.room_id = self.room.pk

    async def opened(self) -> None:
        self.awareness_clients: dict[int, int] = {}
        self.shared = await shared_note_acquire(self.room)
        await self.join_group(notes_group(self.room.pk))
        # Our state vector: the client answers with whatever we lack (its offline edits).
        await self.send(bytes_data=create_sync_message(self.shared.doc))
        for message in set(self.shared.awareness.values()):
            await self.send(bytes_data=message)

    async def closing(self) -> None:
        if getattr(self, "shared", None) is not None:
            await shared_note_release(self.room.pk, self.shared)
        if getattr(self, "awareness_clients", None):
            # Remove this socket's cursors from everyone's view at once, not after a timeout.
            await send_event(
                control_event(notes_group(self.room.pk), "hub.notes", kind="awareness",
                              data=awareness_removal(self.awareness_clients),
                              origin=self.ref.socket_id)
            )  # fmt: skip

    async def receive_bytes(self, data: bytes) -> None:
        if len(data) < 2:
            return
        if data[0] == YMessageType.SYNC:
            if data[1] == YSyncMessageType.SYNC_STEP1:
                await self.send(bytes_data=handle_sync_message(data[1:], self.shared.doc))
                return
            update = read_message(data[2:])
            if update in (b"", b"\x00\x00"):
                return
            stored = await database_sync_to_async(note_update_append)(
                room=self.room, author=self.user, update=update, origin=self.ref.socket_id
            )
            if stored:
                self.shared.doc.apply_update(update)
        elif data[0] == YMessageType.AWARENESS:
            states = awareness_states(data)
            self.awareness_clients.update({cid: clock for cid, (clock, _) in states.items()})
            await send_event(
                control_event(notes_group(self.room.pk), "hub.notes", kind="awareness",
                              data=data, origin=self.ref.socket_id)
            )  # fmt: skip

    async def room_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "hub.notes" or event["origin"] == self.ref.socket_id:
            return
        if event["kind"] == "update":
            await self.send(bytes_data=create_update_message(event["data"]))
        elif event["kind"] == "awareness":
            await self.send(bytes_data=event["data"])

    async def send_error(self, code: str, detail: str, ref: Any = None) -> None:
        # A y-websocket client cannot read a JSON frame: refusals are logged, not sent. A
        # dropped update comes back with the client's next sync (its state vector).
        logger.info("notes frame refused: %s", code)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {"ping": on_ping}


def awareness_states(message: bytes) -> dict[int, tuple[int, str]]:
    """{client id: (clock, state JSON)} of a y-protocols awareness message."""
    states = {}
    entries = Decoder(Decoder(message[1:]).read_message())
    for _ in range(entries.read_var_uint()):
        client_id, clock = entries.read_var_uint(), entries.read_var_uint()
        states[client_id] = (clock, entries.read_var_string())
    return states


def awareness_removal(clocks: dict[int, int]) -> bytes:
    """The awareness message that says these clients are gone (state null, next clock)."""
    entries = Encoder()
    entries.write_var_uint(len(clocks))
    for client_id, clock in clocks.items():
        entries.write_var_uint(client_id)
        entries.write_var_uint(clock + 1)
        entries.write_var_string("null")
    return bytes([YMessageType.AWARENESS]) + write_message(entries.to_bytes())
