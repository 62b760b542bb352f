"""The chat socket (CONTRACT.md §4): a transport adapter over chat.services and chat.selectors."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat import conversations, policy, selectors, services
from chat.frames import message_change_frame, message_frame
from chat.serializers import (
    MessageEditSerializer,
    MessageRefSerializer,
    MessageSendSerializer,
    ReactionFrameSerializer,
    ReadSerializer,
    ResumeSerializer,
    RoomSerializer,
)
from realtime.broadcast import encode_frame
from realtime.closecodes import CloseCode
from realtime.consumers import LiveConsumer, frame_ref, validate
from realtime.groups import room_group
from realtime.hub import RESYNC
from realtime.presence import get_registry
from realtime.reads import JoinedReads
from realtime.store import rate_allows

logger = logging.getLogger(__name__)

EDIT_MARGIN_SECONDS = 5


class RoomSocket(LiveConsumer):
    """A socket of one room (chat or notes): open to whoever chat.policy lets read it, and
    ended (4003) by a ban or kick there."""

    async def authorize(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.room = await database_sync_to_async(policy.room_to_read)(slug=slug, user=self.user)
        self.room_id = self.room.pk


# slug -> room id, as this process last read it: lets a room socket subscribe before it reads
# the room (see RoomConsumer.authorize). Bounded; a stale entry only costs a second query.
_room_ids: dict[str, int] = {}
_ROOM_IDS_MAX = 10_000
_room_data = RoomSerializer().to_representation  # one serializer for every hello's `room`


class RoomConsumer(RoomSocket):
    """One browser tab (or script) in one room.

    The socket keeps `high_seq`, the last seq it has sent without a gap, so that whatever order
    room events arrive in, the client sees seq in order: late duplicates are dropped and a gap
    is filled from the database before anything after it is sent.
    """

    kind = "room"
    present = False  # in the room's presence (from `register` until `closing`)
    # time.monotonic() once the hello's last_seq was read (after the socket subscribed): a
    # read begun since has every message up to it, and whatever the hello's `last_seq`
    # leaves out comes live. So a resume may take any such read (JoinedReads' `since`).
    # Not the moment it subscribed: live frames up to the hello's last_seq are dropped at the
    # hello, and a read begun before that read may not have them (bench.storm lost 7).
    seq_read_at: float | None = None
    change_sent_at = 0.0  # time.monotonic() of the last message change sent live (`_send_live`)
    subscribed_early = False
    resync_due = False  # a RESYNC came while holding: read again before going live

    async def authorize(self) -> None:
        self.high_seq = 0
        self.held: list[dict[str, Any]] = []
        self.holding = True  # until hello is out, room events wait in `held`
        self.presence_version = 0
        # The room group must be joined before last_seq is read, so that nothing committed in
        # between is missed. When this process knows the slug's room, it joins first and the
        # policy's read of the room is that read: one query for the connect, not two.
        slug = self.scope["url_route"]["kwargs"]["slug"]
        known = _room_ids.get(slug)
        if known is not None:
            await self.join_group(room_group(known))
        # Refused, or the database failed: LiveConsumer.connect leaves the groups joined.
        await super().authorize()
        self.seq_read_at = time.monotonic()
        self.subscribed_early = known == self.room.pk
        if not self.subscribed_early:
            if known is not None:
                await self.leave_group(room_group(known))  # a slug that now names another room
            if len(_room_ids) >= _ROOM_IDS_MAX:
                _room_ids.clear()
            _room_ids[slug] = self.room.pk

    async def register(self, ref) -> bool:
        """The caps and the room's presence in one round trip (realtime.presence)."""
        presence = await get_registry().open_in_room(ref, self.room.pk)
        if presence is None:
            return False
        self.present = True
        self.presence = presence
        return True

    async def opened(self) -> None:
        self.catching_up = asyncio.Lock()
        if not self.subscribed_early:
            await self.join_group(room_group(self.room.pk))
        async with self.catching_up:
            if not self.subscribed_early:
                # The room as `authorize` read it, but up to date now that it is subscribed.
                self.room.last_seq = await database_sync_to_async(selectors.room_last_seq)(
                    room=self.room
                )
                self.seq_read_at = time.monotonic()
            last_seq = self.room.last_seq
            online = self.presence.online
            self.presence_version = online.version
            hello = {
                "type": "hello",
                "room": _room_data(self.room),
                "user": {"id": self.user.pk, "username": self.user.get_username()},
                "last_seq": last_seq,
            }
            await self.send_text(encode_frame(hello, {"online": online.encoded_users}))
            self.presence = None  # the hello has it; the socket need not hold the list
            self.high_seq = last_seq
            await self._release_held()

    async def closing(self) -> None:
        if self.present:
            await get_registry().leave_room(self.room.pk, self.ref)

    # --- client frames ---------------------------------------------------------------------

    async def on_message_send(self, frame: dict[str, Any]) -> None:
        data = validate(MessageSendSerializer, frame)
        if not await rate_allows(settings.SWITCHBOARD_CHAT_SEND_RATE, "send", str(self.user.pk)):
            await self.refuse_for_rate(frame_ref(frame))
            return
        message, created = await database_sync_to_async(services.message_create)(
            room=self.room,
            author=self.user,
            body=data["body"],
            client_id=data["client_id"],
            reply_to=data["reply_to"],
            attachments=data["attachments"],
        )
        if not created:
            # A retry: answer the sender alone with the original; the room already has it.
            await self.send_frame(await database_sync_to_async(message_frame)(message))

    async def on_resume(self, frame: dict[str, Any]) -> None:
        data = validate(ResumeSerializer, frame)
        after_seq = data["after_seq"]
        # A fresh read (one row): one shared with others could be older than what this
        # client already has (a page that moved from SSE to a socket), and answer `reload`.
        last_seq = await _last_seqs(self.room.pk, self.room)
        behind = last_seq - after_seq
        if behind < 0 or behind > settings.SWITCHBOARD_RESUME_MAX:
            # Too far behind (or ahead: a reset database) to replay over a socket: say so
            # plainly rather than send part of it. The client reloads history over REST.
            await self.send_frame(
                {"type": "reload", "last_seq": last_seq, "after_seq": after_seq,
                 "detail": "Too much to replay; fetch history over REST and resume from there."}
            )  # fmt: skip
            return
        async with self._catching_up():
            if "updated_since" in data:
                # Edits race their broadcast by a little; the margin makes sure none is missed.
                since = data["updated_since"] - timedelta(seconds=EDIT_MARGIN_SECONDS)
                for text in await database_sync_to_async(_encoded_changes)(
                    self.room, after_seq, since
                ):
                    await self.send_text(text)
            await self._replay(after_seq, since=self._shared_since())
            await self.send_frame({"type": "resumed", "last_seq": self.high_seq})

    async def on_message_edit(self, frame: dict[str, Any]) -> None:
        data = validate(MessageEditSerializer, frame)
        await database_sync_to_async(services.message_edit)(
            room=self.room, actor=self.user, message_id=data["id"], body=data["body"]
        )

    async def on_message_delete(self, frame: dict[str, Any]) -> None:
        data = validate(MessageRefSerializer, frame)
        await database_sync_to_async(services.message_delete)(
            room=self.room, actor=self.user, message_id=data["id"]
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await services.room_typing(room=self.room, user=self.user)

    async def on_read(self, frame: dict[str, Any]) -> None:
        seq = validate(ReadSerializer, frame)["seq"]
        await database_sync_to_async(services.room_mark_read)(
            room=self.room, user=self.user, seq=seq
        )

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    async def on_reaction(self, frame: dict[str, Any]) -> None:
        """reaction.add / reaction.remove: the room gets `reactions` if anything changed."""
        data = validate(ReactionFrameSerializer, frame)
        if not await rate_allows(settings.SWITCHBOARD_CHAT_SEND_RATE, "react", str(self.user.pk)):
            await self.refuse_for_rate(frame_ref(frame))
            return
        change = (
            conversations.reaction_add
            if frame["type"] == "reaction.add"
            else conversations.reaction_remove
        )
        await database_sync_to_async(change)(
            room=self.room, user=self.user, message_id=data["id"], emoji=data["emoji"]
        )

    handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "resume": on_resume,
        "typing": on_typing,
        "read": on_read,
        "ping": on_ping,
        "reaction.add": on_reaction,
        "reaction.remove": on_reaction,
    }

    # --- room events -----------------------------------------------------------------------

    async def room_event(self, event: dict[str, Any]) -> None:
        if event["type"] == RESYNC:
            # Broadcasts may have been lost: catch up from the database as for a gap. A socket
            # holding (hello, resume, gap fill) may have read before that message was stored:
            # it reads again once its hold is over (`_release_held`).
            if self.holding:
                self.resync_due = True
            else:
                self.holding = True
                asyncio.get_running_loop().create_task(self._fill_gap())
            return
        if event["type"] != "hub.frame":
            return
        if self.holding:
            self.held.append(event)
            return
        seq = event["seq"]
        if seq is None or seq == self.high_seq + 1:
            await self._send_live(event)
            if seq is not None:
                self.high_seq = seq
        elif seq > self.high_seq:
            # An earlier seq has not arrived (another process committed it, or the layer
            # dropped it): hold this one and fill the gap from the database.
            self.holding = True
            self.held.append(event)
            asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        async with self._catching_up():
            await self._replay(self.high_seq)

    @contextlib.asynccontextmanager
    async def _catching_up(self) -> AsyncIterator[None]:
        """Catch up from the database (a resume, a gap), one at a time, holding live events
        meanwhile; then send what was held and go live. Holding starts here, under the lock: a
        gap fill queued behind a resume that has since gone live would otherwise read unheld,
        and send a message that came live meanwhile twice. If the database fails meanwhile, the
        socket cannot keep its order (what it holds would wait for ever): it closes with 4011,
        and the client resumes."""
        async with self.catching_up:
            self.holding = True
            try:
                yield
                await self._release_held()
            except Exception:
                logger.exception("catching up from the database failed; closing the socket")
                await self.close(CloseCode.SERVER_ERROR)

    async def _replay(self, after_seq: int, since: float | None = None) -> None:
        """Send every stored message above `after_seq`, in order, from the database: as of
        now, or as of any moment after `since` (see JoinedReads)."""
        batch = settings.SWITCHBOARD_RESUME_BATCH
        cursor = after_seq
        while True:
            key = (self.room.pk, cursor, batch)
            texts = await _replays(key, self.room, cursor, batch, since=since)
            for seq, text in texts:
                await self.send_text(text)
                cursor = seq
            if len(texts) == batch:
                continue
            if since is None or cursor >= self.high_seq:
                break
            # A shared read that ended below a seq this socket already sent live (between its
            # hello and this resume, or in a gap fill). A resume sends every message above its
            # seq in order (CONTRACT.md §4), and a client ahead of its replay may have dropped
            # that frame: read on as of now (everything up to high_seq is committed).
            since = None
        self.high_seq = max(self.high_seq, cursor)

    async def _release_held(self) -> None:
        """Send what arrived while holding, skipping what was already sent, then go live; after
        a RESYNC that came meanwhile, read what is stored above `high_seq` first."""
        while self.held or self.resync_due:
            if self.resync_due:
                self.resync_due = False
                await self._replay(self.high_seq)  # as of now
            held, self.held = self.held, []
            for event in held:
                seq = event["seq"]
                if seq is not None and seq > self.high_seq + 1:
                    await self._replay(self.high_seq)
                if seq is None or seq == self.high_seq + 1:
                    await self._send_live(event)
                    if seq is not None:
                        self.high_seq = seq
        self.holding = False

    async def _send_live(self, event: dict[str, Any]) -> None:
        if not self._current(event):
            return
        await self.send_text(event["text"])
        if event["seq"] is None and event.get("version") is None:
            # A change to a stored message (an edit, a delete, a reaction) reached the client:
            # a replay read begun before now may hold the message as it was, and would undo
            # it. A resume takes only reads begun after this (`_shared_since`).
            self.change_sent_at = time.monotonic()

    def _shared_since(self) -> float | None:
        """From when a resume may take a replay read begun for others (JoinedReads): after
        the hello's last_seq was read and after the last change this socket was sent."""
        if self.seq_read_at is None:
            return None
        return max(self.seq_read_at, self.change_sent_at)

    def _current(self, event: dict[str, Any]) -> bool:
        """False for a presence frame no newer than the set this socket last sent (in its hello
        or a presence frame): announcements from two processes can cross on the way."""
        version = event.get("version")
        if version is None:
            return True
        if version <= self.presence_version:
            return False
        self.presence_version = version
        return True


def _encoded_changes(room, up_to_seq: int, since) -> list[str]:
    messages = selectors.messages_changed_since(room=room, up_to_seq=up_to_seq, since=since)
    return [encode_frame(message_change_frame(m)) for m in messages]


def _encoded_messages_after(room, after_seq: int, limit: int) -> list[tuple[int, str]]:
    messages = selectors.message_list(room=room, after_seq=after_seq, limit=limit)
    return [(m.seq, encode_frame(message_frame(m))) for m in messages]


# The sockets of a room that come back together (a restarted process's, a network's) resume
# from the same seq: each read, and each page of a replay, is done once for all who asked
# before it began.
_last_seqs = JoinedReads(lambda room: selectors.room_last_seq(room=room))
_replays = JoinedReads(_encoded_messages_after)
