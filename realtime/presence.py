"""Who is connected, across every process: socket caps per user and address, room presence.

Each open socket is an entry in shared sorted sets (realtime.store) whose score is an expiry
time. The process that holds the socket refreshes its entries every third of the TTL, so a
crashed process's entries lapse within SWITCHBOARD_SOCKET_TTL seconds; the same heartbeat
sweeps the presence sets of its rooms and announces anyone who lapsed.
"""

import asyncio
import functools
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from realtime.broadcast import broadcast, encode_json
from realtime.groups import room_group
from realtime.services import server_process_beat
from realtime.store import NOT_KNOWN, Known, Opening, PresenceChange, zstore

logger = logging.getLogger(__name__)

# Local sockets in a room per SWITCHBOARD_PRESENCE_INTERVAL between two announcements.
PRESENCE_CROWD = 500


@dataclass(frozen=True)
class SocketRef:
    socket_id: str
    user_id: int
    username: str
    address: str
    # Whose cap the socket counts against: "user:<id>", or "device:<id>" for device sockets.
    principal: str


def _user_key(ref: SocketRef) -> str:
    return f"sb:sockets:{ref.principal}"


def _address_key(ref: SocketRef) -> str:
    return f"sb:sockets:addr:{ref.address}"


def _presence_keys(room_id: int, ref: SocketRef) -> tuple[str, str, str]:
    """The room's online users, this user's sockets in the room, the room's presence version."""
    room = f"sb:presence:room:{room_id}"
    return room, f"{room}:user:{ref.user_id}", f"{room}:version"


def _sweep_keys(room_id: int) -> tuple[str, str]:
    room = f"sb:presence:room:{room_id}"
    return room, f"{room}:version"


def _user_member(ref: SocketRef) -> str:
    return f"{ref.user_id}|{ref.username}"


def _entries(ref: SocketRef, room_id: int | None) -> list[tuple[str, str]]:
    """A socket's (key, member) entries: its caps, and its presence in `room_id` if any."""
    entries = [(_user_key(ref), ref.socket_id), (_address_key(ref), ref.socket_id)]
    if room_id is not None:
        room, sockets, _ = _presence_keys(room_id, ref)
        entries += [(room, _user_member(ref)), (sockets, ref.socket_id)]
    return entries


def online_users(members: list[str]) -> list[dict[str, Any]]:
    """The online set as frames carry it, by username."""
    users = [member.split("|", 1) for member in members]
    return [{"id": int(i), "username": n} for i, n in sorted(users, key=lambda u: u[1])]


@dataclass(frozen=True)
class Online:
    """A room's online set as this process last had it from the shared store."""

    version: int
    size: int
    users: list[dict[str, Any]]  # as frames carry it (online_users); shared, never changed

    @property
    def known(self) -> Known:
        return self.version, self.size

    @functools.cached_property
    def encoded_users(self) -> str:
        """`users` as JSON, encoded once for every hello and announcement of this set (a
        crowded room's list is tens of kilobytes; a reconnect storm sends it thousands of
        times)."""
        return encode_json(self.users)


@dataclass(frozen=True)
class Presence:
    online: Online  # as this socket's join saw it; newer presence frames replace it

    @property
    def version(self) -> int:
        return self.online.version


class Registry:
    """This process's view: which entries it owns and must keep alive."""

    def __init__(self) -> None:
        # socket_id -> (its ref, the room it is present in): its entries in the shared sets
        # are derived from these (`_entries`), not held per socket.
        self.owned: dict[str, tuple[SocketRef, int | None]] = {}
        self.rooms: dict[int, int] = {}  # room_id -> local sockets present
        # room_id -> its online set as last answered, for the rooms with local sockets: the
        # store leaves the members out of an answer when they are what the caller holds.
        self.online: dict[int, Online] = {}
        # room_id -> whether the online set changed again since this process last announced it
        self._announcing: dict[int, bool] = {}
        self._announcers: set[asyncio.Task] = set()  # held here: the loop keeps weak references
        self._heartbeat: asyncio.Task | None = None

    async def open(self, ref: SocketRef) -> bool:
        """Count a new socket against the caps; False (and nothing recorded) if over either."""
        caps = (settings.SWITCHBOARD_MAX_SOCKETS_PER_USER, settings.SWITCHBOARD_MAX_SOCKETS_PER_IP)
        keys = (_user_key(ref), _address_key(ref))
        if await zstore().add_if_room(keys, ref.socket_id, caps) != 0:
            return False
        self.owned[ref.socket_id] = (ref, None)
        self._start()
        return True

    async def open_in_room(self, ref: SocketRef, room_id: int) -> Presence | None:
        """`open` and `join_room` in one round trip to the shared store: a room socket's
        connect. None (and nothing recorded) if over either cap."""
        caps = (settings.SWITCHBOARD_MAX_SOCKETS_PER_USER, settings.SWITCHBOARD_MAX_SOCKETS_PER_IP)
        caps_keys = (_user_key(ref), _address_key(ref))
        keys = _presence_keys(room_id, ref)
        held = self.online.get(room_id)
        opening = Opening(ref.socket_id, _user_member(ref), caps, _known(held))
        refused, change = await zstore().open_in_room((*caps_keys, *keys), opening)
        if refused:
            return None
        self.owned[ref.socket_id] = (ref, room_id)
        self.rooms[room_id] = self.rooms.get(room_id, 0) + 1
        self._start()
        online = self._online(room_id, change, held)
        if change.changed:
            await self._announce(room_id, online)
        return Presence(online)

    async def close(self, ref: SocketRef) -> None:
        owned = self.owned.pop(ref.socket_id, None)
        if owned is not None:
            await zstore().remove_many(_entries(*owned))

    async def join_room(self, room_id: int, ref: SocketRef) -> Presence:
        """Mark `ref` present in the room; announce the new online set if the user is new there."""
        keys = _presence_keys(room_id, ref)
        held = self.online.get(room_id)
        change = await zstore().presence_join(keys, ref.socket_id, _user_member(ref), _known(held))
        self.owned[ref.socket_id] = (ref, room_id)
        self.rooms[room_id] = self.rooms.get(room_id, 0) + 1
        online = self._online(room_id, change, held)
        if change.changed:
            await self._announce(room_id, online)
        return Presence(online)

    async def leave_room(self, room_id: int, ref: SocketRef) -> None:
        keys = _presence_keys(room_id, ref)
        if ref.socket_id in self.owned:
            self.owned[ref.socket_id] = (ref, None)
        self.rooms[room_id] -= 1
        held = self.online.get(room_id)
        if not self.rooms[room_id]:
            del self.rooms[room_id]
            self.online.pop(room_id, None)
        change = await zstore().presence_leave(keys, ref.socket_id, _user_member(ref), _known(held))
        if change.changed:
            await self._announce(room_id, self._online(room_id, change, held))

    def _online(self, room_id: int, change: PresenceChange, held: Online | None) -> Online:
        """The online set an answer stands for: its members, or, when the store left them out,
        the set the question was asked with (`held`). Kept for the room's next question while
        it has local sockets."""
        if change.members is None:
            assert held is not None and held.version == change.version, (held, change)
            return held
        latest = self.online.get(room_id)
        if latest is not None and latest.known == (change.version, len(change.members)):
            # The same set, which a connect that asked at the same time has parsed already:
            # when users arrive together, each of their sockets was answered with the members
            # (and parsed and encoded them: a sixth of a connect's CPU with 200 users online).
            return latest
        online = Online(change.version, len(change.members), online_users(change.members))
        if room_id in self.rooms and (latest is None or latest.version <= online.version):
            self.online[room_id] = online
        return online

    async def _announce(self, room_id: int, online: Online) -> None:
        """Send the room's new online set at once, then at most once per
        SWITCHBOARD_PRESENCE_INTERVAL from this process while it keeps changing, with the set
        as it is by then: a burst of arrivals (a class logging in, a restarted process's
        clients coming back) is a few announcements, not one full online list to every socket
        per arrival."""
        if room_id in self._announcing:
            self._announcing[room_id] = True
            return
        self._announcing[room_id] = False
        try:
            await broadcast_presence(room_id, online)
        finally:
            task = asyncio.get_running_loop().create_task(self._announce_later(room_id))
            self._announcers.add(task)
            task.add_done_callback(self._announcers.discard)

    async def _announce_later(self, room_id: int) -> None:
        try:
            while True:
                # Each announcement is a full online list to every local socket of the room:
                # past PRESENCE_CROWD local sockets in the room, the interval grows in proportion.
                crowd = self.rooms.get(room_id, 0) / PRESENCE_CROWD
                await asyncio.sleep(settings.SWITCHBOARD_PRESENCE_INTERVAL * max(1.0, crowd))
                if not self._announcing[room_id]:
                    return
                self._announcing[room_id] = False
                held = self.online.get(room_id)
                latest = await zstore().presence_sweep(_sweep_keys(room_id), _known(held))
                await broadcast_presence(room_id, self._online(room_id, latest, held))
        except Exception:
            logger.warning("presence announcement failed", exc_info=True)
        finally:
            del self._announcing[room_id]

    def _start(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        interval = settings.SWITCHBOARD_SOCKET_TTL / 3
        while True:
            try:
                await database_sync_to_async(server_process_beat)(sockets=len(self.owned))
            except Exception:
                logger.warning("could not record the process heartbeat", exc_info=True)
            await asyncio.sleep(interval)
            try:
                # A user's sockets share their room entry: each is refreshed once.
                entries = {entry for owned in self.owned.values() for entry in _entries(*owned)}
                if entries:
                    await zstore().refresh(entries)
                for room_id in list(self.rooms):
                    held = self.online.get(room_id)
                    change = await zstore().presence_sweep(_sweep_keys(room_id), _known(held))
                    online = self._online(room_id, change, held)
                    if change.changed:  # a process died with sockets in this room
                        await self._announce(room_id, online)
            except Exception:
                logger.warning("presence heartbeat failed; retrying", exc_info=True)


async def broadcast_presence(room_id: int, online: Online) -> None:
    frame = {"type": "presence"}
    await broadcast(
        room_group(room_id), frame, version=online.version, encoded={"online": online.encoded_users}
    )


def _known(held: Online | None) -> Known:
    return NOT_KNOWN if held is None else held.known


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry]" = (
    weakref.WeakKeyDictionary()
)


def get_registry() -> Registry:
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = Registry()
    return registry
