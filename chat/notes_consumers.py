"""The notes socket (CONTRACT.md §8): y-websocket's sync and awareness protocol over pycrdt."""

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from pycrdt import (
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    write_message,
    write_var_uint,
)

from chat.consumers import RoomSocket
from chat.notes import (
    BrokenUpdate,
    doc_from_state,
    is_panic,
    note_state,
    note_update_append,
    update_apply,
)
from realtime.broadcast import control_event, send_event
from realtime.closecodes import CloseCode
from realtime.errors import Invalid
from realtime.groups import notes_group
from realtime.hub import get_hub

logger = logging.getLogger(__name__)

QUERY_AWARENESS = 3  # y-websocket's "send me everyone's awareness" message
REPLAY_CHUNK_BYTES = 64 * 1024  # awareness replayed to a newcomer, per message
RELEASED_KEPT = 1000  # clocks of gone client ids remembered per document
# y-protocols clients renew their state every 15 s and drop one unheard of for 30 s: so does the
# replay to newcomers (an entry of a process killed with its sockets is not replayed for ever).
AWARENESS_TIMEOUT = 30.0


class Malformed(Exception):
    """A y-websocket message that cannot be parsed."""


Entry = tuple[int, int, str]  # (client id, clock, state JSON); "null" removes the client


@dataclass
class Awareness:
    owner: str | None  # the socket id that set it; None once that socket is gone
    clock: int
    state: str  # JSON; "null" when the client is gone
    heard: float  # time.monotonic() when it was set


class AwarenessBook:
    """Every client id's latest awareness in one document, and which socket owns it.

    A socket owns the client ids it announced first (a y-websocket client has one); only the
    owner's messages change an entry, and the entries go when the socket closes. A gone id keeps
    its clock, so an echo of its last state from another client cannot bring it back.
    Each process keeps one per document, fed by the hub with what the owners' processes allowed.
    """

    def __init__(self) -> None:
        self.entries: dict[int, Awareness] = {}

    def owner(self, client_id: int) -> str | None:
        entry = self.entries.get(client_id)
        return entry.owner if entry else None

    def clock(self, client_id: int) -> int | None:
        entry = self.entries.get(client_id)
        return entry.clock if entry else None

    def apply(self, origin: str, entries: Iterable[Entry]) -> None:
        """Record the entries a socket was allowed to set (here or on another process)."""
        for client_id, clock, state in entries:
            owner = self.owner(client_id)
            if owner is not None and owner != origin:
                continue  # two processes let two sockets claim it at once: the first keeps it
            gone = state == "null"
            self.entries[client_id] = Awareness(
                None if gone else origin, clock, state, time.monotonic()
            )
        self._forget_released()

    def _forget_released(self) -> None:
        if len(self.entries) <= RELEASED_KEPT:
            return
        released = [cid for cid, entry in self.entries.items() if entry.owner is None]
        for client_id in released[: max(len(released) - RELEASED_KEPT, 0)]:
            del self.entries[client_id]

    def live_messages(self) -> list[bytes]:
        """The owned entries heard of lately, as messages of at most REPLAY_CHUNK_BYTES."""
        fresh = time.monotonic() - AWARENESS_TIMEOUT
        live = [
            (cid, e.clock, e.state)
            for cid, e in self.entries.items()
            if e.owner is not None and e.heard > fresh
        ]
        messages, chunk, size = [], [], 0
        for entry in live:
            entry_size = len(entry[2].encode()) + 24  # two varuints and a length, at most
            if chunk and size + entry_size > REPLAY_CHUNK_BYTES:
                messages.append(awareness_message(chunk))
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            messages.append(awareness_message(chunk))
        return messages


class SharedNote:
    """A room's notes document as this process holds it: loaded once from the database, then
    kept current by the hub, whichever process an update came through."""

    def __init__(self, room) -> None:
        self.room = room
        self.doc, self.text = doc_from_state(b"")
        self.users = 0
        self.ready = asyncio.Event()
        self.failed = False
        self.awareness = AwarenessBook()
        self.reloading: asyncio.Task | None = None

    async def hub_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "hub.notes":
            return
        if event["kind"] == "update":
            self.apply(event["data"])
        elif event["kind"] == "awareness":
            self.awareness.apply(event["origin"], event["entries"])

    def apply(self, update: bytes) -> None:
        """Apply a stored update; if this copy cannot take it, load it again from the database."""
        try:
            update_apply(self.doc, update)
        except BrokenUpdate:
            # Stored updates were checked against the stored document; this copy differs from
            # it (a panic mid-apply, or a quarantine since). The database is the truth.
            logger.error("notes of room %s: this process's copy failed; reloading", self.room.pk)
            if self.reloading is None or self.reloading.done():
                self.reloading = asyncio.get_running_loop().create_task(self.reload())

    async def load(self) -> None:
        state = await database_sync_to_async(note_state)(room=self.room)
        doc, text = doc_from_state(state)
        # Whatever the hub delivered while loading is in `state` too, or is applied again below.
        update_apply(doc, self.doc.get_update())
        self.doc, self.text = doc, text

    async def reload(self) -> None:
        try:
            await self.load()
        except Exception:
            logger.exception("notes of room %s: reloading failed", self.room.pk)


_shared_notes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, SharedNote]]" = (
    weakref.WeakKeyDictionary()
)


async def shared_note_acquire(room) -> SharedNote:
    notes = _shared_notes.setdefault(asyncio.get_running_loop(), {})
    shared = notes.get(room.pk)
    if shared is None:
        shared = notes[room.pk] = SharedNote(room)
        try:
            # Subscribed before loading: an update committed meanwhile is in one or the other.
            await get_hub().subscribe(notes_group(room.pk), shared)
            await shared.load()
        except BaseException:
            # Never leave a half-loaded document for the next socket to wait on for ever.
            shared.failed = True
            del notes[room.pk]
            await get_hub().unsubscribe(notes_group(room.pk), shared)
            raise
        finally:
            shared.ready.set()
    await shared.ready.wait()
    if shared.failed:
        raise RuntimeError(f"the notes of room {room.pk} could not be loaded")
    shared.users += 1
    return shared


async def shared_note_release(room_id: int, shared: SharedNote) -> None:
    shared.users -= 1
    notes = _shared_notes.get(asyncio.get_running_loop(), {})
    if shared.users == 0 and notes.get(room_id) is shared:
        del notes[room_id]
        await get_hub().unsubscribe(notes_group(room_id), shared)


class NotesConsumer(RoomSocket):
    """/ws/rooms/<slug>/notes/: the y-websocket sync and awareness protocol (binary frames).

    Same handshake as the chat socket. A client's update is applied to a copy of the notes and
    stored before it is passed on; a visitor's, a muted user's or an archived room's is dropped,
    and one that does not apply, or would take the notes over SWITCHBOARD_MAX_NOTE_BYTES, closes
    the socket with 4010 (UPDATE_REFUSED). Awareness is relayed, never stored: each client id is
    owned by the socket that announced it first, and bounded in size and number per socket.
    """

    kind = "notes"
    frame_rate_setting = "SWITCHBOARD_NOTES_FRAME_RATE"

    async def opened(self) -> None:
        self.owned: dict[int, int] = {}  # the client ids this socket owns -> their last clock
        self.refused = False
        self.shared = await shared_note_acquire(self.room)
        await self.join_group(notes_group(self.room.pk))
        # Our state vector: the client answers with whatever we lack (its offline edits).
        await self.send(bytes_data=create_sync_message(self.shared.doc))
        await self.send_awareness()

    async def closing(self) -> None:
        if getattr(self, "shared", None) is None:
            return
        await shared_note_release(self.room.pk, self.shared)
        if self.owned:
            # Remove this socket's cursors from everyone's view at once, not after a timeout.
            removal = [(cid, clock + 1, "null") for cid, clock in self.owned.items()]
            self.shared.awareness.apply(self.ref.socket_id, removal)  # even if the layer is down
            await self.publish_awareness(removal)

    async def publish_awareness(self, entries: list[Entry]) -> None:
        """To every process: the entries for its book, and the message for its sockets."""
        await send_event(
            control_event(notes_group(self.room.pk), "hub.notes", kind="awareness",
                          origin=self.ref.socket_id, entries=entries,
                          data=awareness_message(entries))
        )  # fmt: skip

    async def receive_bytes(self, data: bytes) -> None:
        if self.refused:
            return  # closing: what the client sent after the refused update is not looked at
        try:
            message_type, at = read_var_uint(data, 0)
            if message_type == YMessageType.SYNC:
                sync_type, at = read_var_uint(data, at)
                payload, _ = read_payload(data, at)
            elif message_type == YMessageType.AWARENESS:
                entries = awareness_entries(read_payload(data, at)[0])
        except Malformed:
            logger.info("notes: malformed message dropped")
            return
        if message_type == YMessageType.SYNC:
            await self.on_sync(sync_type, payload)
        elif message_type == YMessageType.AWARENESS:
            await self.on_awareness(entries)
        elif message_type == QUERY_AWARENESS:
            await self.send_awareness()

    async def on_sync(self, sync_type: int, payload: bytes) -> None:
        if sync_type == YSyncMessageType.SYNC_STEP1:
            try:
                update = self.shared.doc.get_update(payload)
            except BaseException as error:
                if not isinstance(error, Exception) and not is_panic(error):
                    raise
                logger.info("notes: malformed state vector dropped")
                return
            await self.send(bytes_data=create_sync_step2(update))
            return
        if sync_type not in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
            return
        if payload in (b"", b"\x00\x00"):
            return  # an empty update: nothing to store
        try:
            stored = await database_sync_to_async(note_update_append)(
                room=self.room, author=self.user, update=payload, origin=self.ref.socket_id
            )
        except Invalid as refusal:
            # A y-websocket client cannot read an error frame, and would send the same update
            # again with its next sync: the socket closes with a code that says so.
            logger.info("notes update refused: %s", refusal.code)
            self.refused = True
            await self.close(CloseCode.UPDATE_REFUSED)
            return
        if stored:
            self.shared.apply(payload)
        else:
            # A visitor's, a muted user's, or an archived room's: not applied (CONTRACT §8).
            logger.info("notes update from a user who may not write dropped")

    async def on_awareness(self, entries: list[Entry]) -> None:
        allowed = self.awareness_allowed(entries)
        if not allowed:
            return
        self.shared.awareness.apply(self.ref.socket_id, allowed)  # at once, for our next check
        await self.publish_awareness(allowed)

    def awareness_allowed(self, entries: list[Entry]) -> list[Entry]:
        """The entries this socket may set: its own client ids (the first it announces, up to
        SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET), a JSON object or null within
        SWITCHBOARD_NOTES_AWARENESS_BYTES, and newer than what the document knows.

        A y-websocket client also echoes the entries it heard from others: those are dropped.
        """
        book = self.shared.awareness
        allowed = []
        for client_id, clock, state in entries:
            if len(state.encode()) > settings.SWITCHBOARD_NOTES_AWARENESS_BYTES:
                continue
            if not is_awareness_state(state):
                continue
            if client_id not in self.owned:
                if book.owner(client_id) not in (None, self.ref.socket_id):
                    continue  # another socket's
                if state == "null" or (book.clock(client_id) or -1) >= clock:
                    continue  # an echo of a gone client, or an old state of it
                if len(self.owned) >= settings.SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET:
                    continue
            elif clock < self.owned[client_id]:
                continue
            self.owned[client_id] = clock
            allowed.append((client_id, clock, state))
        return allowed

    async def send_awareness(self) -> None:
        """Everyone's live cursors, so a newcomer sees them at once."""
        for message in self.shared.awareness.live_messages():
            await self.send(bytes_data=message)

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


def read_var_uint(data: bytes, at: int) -> tuple[int, int]:
    """lib0's variable-length unsigned integer at `at`: (value, the position after it)."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise Malformed
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def read_payload(data: bytes, at: int) -> tuple[bytes, int]:
    """A length-prefixed byte string at `at`: (its bytes, the position after it)."""
    length, at = read_var_uint(data, at)
    if length > len(data) - at:
        raise Malformed
    return bytes(data[at : at + length]), at + length


def awareness_entries(payload: bytes) -> list[Entry]:
    """The (client id, clock, state JSON) entries of an awareness update, or Malformed."""
    count, at = read_var_uint(payload, 0)
    entries = []
    for _ in range(count):
        client_id, at = read_var_uint(payload, at)
        clock, at = read_var_uint(payload, at)
        state, at = read_payload(payload, at)
        try:
            entries.append((client_id, clock, state.decode()))
        except UnicodeDecodeError as error:
            raise Malformed from error
    return entries


def is_awareness_state(state: str) -> bool:
    """A y-protocols client JSON.parses each state: only an object or null may be relayed."""
    try:
        value = json.loads(state)
    except (ValueError, RecursionError):
        return False
    return value is None or isinstance(value, dict)


def awareness_message(entries: Iterable[Entry]) -> bytes:
    """A y-protocols awareness message of these entries."""
    entries = list(entries)
    parts = [write_var_uint(len(entries))]
    for client_id, clock, state in entries:
        parts += [write_var_uint(client_id), write_var_uint(clock), write_message(state.encode())]
    return create_awareness_message(b"".join(parts))


def create_sync_step2(update: bytes) -> bytes:
    return bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2]) + write_message(update)
