"""Who is connected, across every process: socket caps per user and address, room presence.

Each open socket is an entry in shared sorted sets (realtime.store) whose score is an expiry
time. The process that holds the socket refreshes its entries every third of the TTL, so a
crashed process's entries lapse within SWITCHBOARD_SOCKET_TTL seconds; the same heartbeat
sweeps the presence sets of its rooms and announces anyone who lapsed.
"""

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from realtime.broadcast import broadcast
from realtime.groups import room_group
from realtime.services import server_process_beat
from realtime.store import zstore

logger = logging.getLogger(__name__)


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


def _room_key(room_id: int) -> str:
    return f"sb:presence:room:{room_id}"


def _presence_member(ref: SocketRef) -> str:
    return f"{ref.user_id}|{ref.socket_id}|{ref.username}"


def online_users(members: list[str]) -> list[dict[str, Any]]:
    """One entry per user however many sockets they hold, by username."""
    users = {}
    for member in members:
        user_id, _, username = member.split("|", 2)
        users[int(user_id)] = username
    return [{"id": i, "username": n} for i, n in sorted(users.items(), key=lambda u: u[1])]


class Registry:
    """This process's view: which entries it owns and must keep alive."""

    def __init__(self) -> None:
        self.owned: dict[str, list[tuple[str, str]]] = {}  # socket_id -> [(key, member)]
        self.rooms: dict[int, int] = {}  # room_id -> local sockets present
        self._heartbeat: asyncio.Task | None = None

    async def open(self, ref: SocketRef) -> bool:
        """Count a new socket against the caps; False (and nothing recorded) if over either."""
        caps = (settings.SWITCHBOARD_MAX_SOCKETS_PER_USER, settings.SWITCHBOARD_MAX_SOCKETS_PER_IP)
        keys = (_user_key(ref), _address_key(ref))
        if await zstore().add_if_room(keys, ref.socket_id, caps) != 0:
            return False
        self.owned[ref.socket_id] = [(key, ref.socket_id) for key in keys]
        self._start()
        return True

    async def close(self, ref: SocketRef) -> None:
        for key, member in self.owned.pop(ref.socket_id, []):
            await zstore().remove(key, member)

    async def join_room(self, room_id: int, ref: SocketRef) -> list[dict[str, Any]]:
        """Mark `ref` present in the room; announce the new online set if the user is new there."""
        key, member = _room_key(room_id), _presence_member(ref)
        before, _ = await zstore().live_members(key)
        await zstore().add(key, member)
        self.owned.setdefault(ref.socket_id, []).append((key, member))
        self.rooms[room_id] = self.rooms.get(room_id, 0) + 1
        online = online_users([*before, member])
        if all(not m.startswith(f"{ref.user_id}|") for m in before):
            await broadcast_presence(room_id, online)
        return online

    async def leave_room(self, room_id: int, ref: SocketRef) -> None:
        key, member = _room_key(room_id), _presence_member(ref)
        entries = self.owned.get(ref.socket_id, [])
        if (key, member) in entries:
            entries.remove((key, member))
        await zstore().remove(key, member)
        self.rooms[room_id] -= 1
        if not self.rooms[room_id]:
            del self.rooms[room_id]
        after, _ = await zstore().live_members(key)
        if all(not m.startswith(f"{ref.user_id}|") for m in after):
            await broadcast_presence(room_id, online_users(after))

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
                entries = [entry for owned in self.owned.values() for entry in owned]
                if entries:
                    await zstore().refresh(entries)
                for room_id in list(self.rooms):
                    members, dropped = await zstore().live_members(_room_key(room_id))
                    if dropped:  # a process died with sockets in this room
                        await broadcast_presence(room_id, online_users(members))
            except Exception:
                logger.warning("presence heartbeat failed; retrying", exc_info=True)


async def broadcast_presence(room_id: int, online: list[dict[str, Any]]) -> None:
    await broadcast(room_group(room_id), {"type": "presence", "online": online})


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry]" = (
    weakref.WeakKeyDictionary()
)


def get_registry() -> Registry:
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = Registry()
    return registry
