"""State shared by every server process: Redis when one is configured (REDIS_URL or
REDIS_SENTINELS, config/redis_options.py), process memory otherwise.

Used for what must hold across processes but is not worth a database row: rate-limit
windows, open-socket counts and presence. Entries carry an expiry time as their score, so the
entries of a process that dies (even by `kill -9`) lapse on their own.
"""

import asyncio
import functools
import time
import weakref
from collections import defaultdict, deque
from dataclasses import dataclass

import limits.storage
import limits.strategies
from django.conf import settings
from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter

from config.redis_options import RedisTarget

LIMITS_PREFIX = "sb-limits"  # the rate limiter's keys, shared by the sync and async callers

_ADD_IF_ROOM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 0
"""

# Presence keeps two sets per room: the users online (member "id|username") and, per user,
# their sockets there. Each script changes both at once, so two processes never both announce
# the same arrival or departure. A change of the online set gets a version that only grows
# (the Redis clock, or the last version + 1): a socket skips a presence frame no newer than
# the last one it passed on, since announcements from two processes may cross on the way.
# (The version key may expire after a quiet day: the clock keeps the next one ahead.)
# Every script answers {changed (0/1), version, online members}; the members are left out
# (nil) when the caller already holds the set at that version and size (its last two ARGV):
# most arrivals are another tab of someone already there, and a crowded room's list, read,
# parsed and sorted on every connect, was a tenth of a reconnect storm's CPU.
_PRESENCE_ANSWER = """
local function answer(changed, users, version_key, known_version, known_count)
  local version = tonumber(redis.call('GET', version_key)) or 0
  if changed then
    local t = redis.call('TIME')
    version = math.max(t[1] * 1000000 + t[2], version + 1)
    -- As text in full: before Redis 7, Lua wrote a number with 14 significant digits.
    redis.call('SET', version_key, string.format('%.0f', version), 'EX', 86400)
  elseif version == tonumber(known_version)
      and redis.call('ZCARD', users) == tonumber(known_count) then
    return {0, version, false}
  end
  return {changed and 1 or 0, version, redis.call('ZRANGE', users, 0, -1)}
end
"""

# KEYS: users, user's sockets, version. ARGV: now, socket, user member, expiry, key ttl,
# known version, known count.
_PRESENCE_JOIN = _PRESENCE_ANSWER + """
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local new = redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return answer(new + dropped > 0, KEYS[1], KEYS[3], ARGV[6], ARGV[7])
"""  # fmt: skip

# A room socket's connect in one round trip: the caps of _ADD_IF_ROOM, then (if admitted) the
# presence join. KEYS: user's caps, address's caps, room users, user's sockets there, version.
# ARGV: now, expiry, socket, user cap, address cap, key ttl, user member, known version, count.
# Answers {refused (0, or 1/2 = which cap was full), changed, version, online members}.
_OPEN_IN_ROOM = _PRESENCE_ANSWER + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return {1} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {2} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[6])
local new = redis.call('ZADD', KEYS[3], ARGV[2], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[6])
local answer = answer(new + dropped > 0, KEYS[3], KEYS[5], ARGV[8], ARGV[9])
return {0, answer[1], answer[2], answer[3]}
"""  # fmt: skip

# KEYS: users, user's sockets, version. ARGV: now, socket, user member, known version, count.
_PRESENCE_LEAVE = _PRESENCE_ANSWER + """
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local gone = 0
if redis.call('ZCARD', KEYS[2]) == 0 then gone = redis.call('ZREM', KEYS[1], ARGV[3]) end
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return answer(gone + dropped > 0, KEYS[1], KEYS[3], ARGV[4], ARGV[5])
"""  # fmt: skip

# KEYS: users, version. ARGV: now, known version, count. Drops the users whose every socket
# lapsed (a process died).
_PRESENCE_SWEEP = _PRESENCE_ANSWER + """
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return answer(dropped > 0, KEYS[1], KEYS[2], ARGV[2], ARGV[3])
"""  # fmt: skip


@dataclass(frozen=True)
class PresenceChange:
    """What a presence script answers: whether it changed the online set, the set's version
    and the set itself (None: the same as the caller's `known` set)."""

    changed: bool
    version: int
    members: list[str] | None

    @classmethod
    def of(cls, answer: list) -> "PresenceChange":
        return cls(bool(answer[0]), int(answer[1]), answer[2])


# The online set a caller already holds: (version, size). NOT_KNOWN always gets the members.
Known = tuple[int, int]
NOT_KNOWN: Known = (-1, -1)


@dataclass(frozen=True)
class Opening:
    """A room socket's connect, as `open_in_room` takes it."""

    socket: str
    user: str
    caps: tuple[int, int]  # (sockets per user, sockets per address)
    known: Known = NOT_KNOWN


Opened = tuple[int, PresenceChange | None]  # (0 or the cap that was full, the presence change)


class RedisZStore:
    """Sorted sets of member -> expiry time in Redis."""

    def __init__(self, target: RedisTarget) -> None:
        self.redis = target.async_client(decode_responses=True)
        self._add_if_room = self.redis.register_script(_ADD_IF_ROOM)
        self._presence_join = self.redis.register_script(_PRESENCE_JOIN)
        self._presence_leave = self.redis.register_script(_PRESENCE_LEAVE)
        self._presence_sweep = self.redis.register_script(_PRESENCE_SWEEP)
        self._open_in_room = self.redis.register_script(_OPEN_IN_ROOM)

    async def add_if_room(self, keys: tuple[str, str], member: str, caps: tuple[int, int]) -> int:
        """Add `member` to both sets unless either is full: 0 added, 1 or 2 = which was full."""
        now = time.time()
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        return int(
            await self._add_if_room(keys=list(keys), args=[now, now + ttl, member, *caps, ttl * 2])
        )

    async def remove(self, key: str, member: str) -> None:
        await self.redis.zrem(key, member)

    async def remove_many(self, entries: list[tuple[str, str]]) -> None:
        """`remove` each (key, member), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, member in entries:
                pipe.zrem(key, member)
            await pipe.execute()

    async def open_in_room(self, keys: tuple[str, ...], opening: Opening) -> Opened:
        """`add_if_room` on keys[:2], then `presence_join` on keys[2:], in one round trip:
        (0, the presence change) if admitted, else (which cap was full, None)."""
        now = time.time()
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        args = [
            now,
            now + ttl,
            opening.socket,
            *opening.caps,
            ttl * 2,
            opening.user,
            *opening.known,
        ]
        answer = await self._open_in_room(keys=list(keys), args=args)
        if answer[0] != 0:
            return int(answer[0]), None
        return 0, PresenceChange.of(answer[1:])

    async def presence_join(
        self, keys: tuple[str, str, str], socket: str, user: str, known: Known = NOT_KNOWN
    ) -> PresenceChange:
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        now = time.time()
        args = [now, socket, user, now + ttl, ttl * 2, *known]
        return PresenceChange.of(await self._presence_join(keys=list(keys), args=args))

    async def presence_leave(
        self, keys: tuple[str, str, str], socket: str, user: str, known: Known = NOT_KNOWN
    ) -> PresenceChange:
        args = [time.time(), socket, user, *known]
        return PresenceChange.of(await self._presence_leave(keys=list(keys), args=args))

    async def presence_sweep(
        self, keys: tuple[str, str], known: Known = NOT_KNOWN
    ) -> PresenceChange:
        args = [time.time(), *known]
        return PresenceChange.of(await self._presence_sweep(keys=list(keys), args=args))

    async def refresh(self, entries: set[tuple[str, str]]) -> None:
        """Push the expiry of live entries forward (the heartbeat of a healthy process)."""
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        expiry = time.time() + ttl
        by_key: dict[str, dict[str, float]] = defaultdict(dict)
        for key, member in entries:
            by_key[key][member] = expiry
        # Two commands per key, not per entry: a process's sockets share their address's key,
        # their users' keys and their rooms' (20,000 entries were 40,000 commands a beat).
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, members in by_key.items():
                pipe.zadd(key, members, xx=True)
                pipe.expire(key, ttl * 2)
            await pipe.execute()


class MemoryZStore:
    """The same sets in this process's memory, for the single-process in-memory setup."""

    def __init__(self) -> None:
        self.sets: dict[str, dict[str, float]] = defaultdict(dict)
        self.versions: dict[str, int] = {}

    def _prune(self, key: str) -> int:
        members = self.sets.get(key)
        if not members:
            return 0
        now = time.time()
        expired = [m for m, expiry in members.items() if expiry <= now]
        for member in expired:
            del members[member]
        if not members:
            del self.sets[key]
        return len(expired)

    async def add_if_room(self, keys: tuple[str, str], member: str, caps: tuple[int, int]) -> int:
        for index, (key, cap) in enumerate(zip(keys, caps, strict=True), start=1):
            self._prune(key)
            if len(self.sets.get(key, ())) >= cap:
                return index
        for key in keys:
            self.sets[key][member] = time.time() + settings.SWITCHBOARD_SOCKET_TTL
        return 0

    async def open_in_room(self, keys: tuple[str, ...], opening: Opening) -> Opened:
        refused = await self.add_if_room(keys[:2], opening.socket, opening.caps)
        if refused:
            return refused, None
        return 0, await self.presence_join(keys[2:], opening.socket, opening.user, opening.known)

    async def remove(self, key: str, member: str) -> None:
        self.sets[key].pop(member, None)
        if not self.sets[key]:
            del self.sets[key]

    async def remove_many(self, entries: list[tuple[str, str]]) -> None:
        for key, member in entries:
            if key in self.sets:
                await self.remove(key, member)

    def _answer(self, changed: bool, users: str, version_key: str, known: Known) -> PresenceChange:
        version = self.versions.get(version_key, 0)
        if changed:
            version = self.versions[version_key] = max(time.time_ns() // 1000, version + 1)
        elif known == (version, len(self.sets.get(users, ()))):
            return PresenceChange(False, version, None)
        return PresenceChange(changed, version, list(self.sets.get(users, {})))

    async def presence_join(
        self, keys: tuple[str, str, str], socket: str, user: str, known: Known = NOT_KNOWN
    ) -> PresenceChange:
        users, sockets, version_key = keys
        dropped = self._prune(users)
        self._prune(sockets)
        expiry = time.time() + settings.SWITCHBOARD_SOCKET_TTL
        self.sets[sockets][socket] = expiry
        new = user not in self.sets[users]
        self.sets[users][user] = expiry
        return self._answer(bool(new or dropped), users, version_key, known)

    async def presence_leave(
        self, keys: tuple[str, str, str], socket: str, user: str, known: Known = NOT_KNOWN
    ) -> PresenceChange:
        users, sockets, version_key = keys
        await self.remove(sockets, socket)
        self._prune(sockets)
        gone = False
        if not self.sets.get(sockets):
            gone = self.sets.get(users, {}).pop(user, None) is not None
            if users in self.sets and not self.sets[users]:
                del self.sets[users]
        dropped = self._prune(users)
        return self._answer(bool(gone or dropped), users, version_key, known)

    async def presence_sweep(
        self, keys: tuple[str, str], known: Known = NOT_KNOWN
    ) -> PresenceChange:
        users, version_key = keys
        return self._answer(bool(self._prune(users)), users, version_key, known)

    async def refresh(self, entries: set[tuple[str, str]]) -> None:
        expiry = time.time() + settings.SWITCHBOARD_SOCKET_TTL
        for key, member in entries:
            if member in self.sets.get(key, {}):
                self.sets[key][member] = expiry


# Without Redis there is one server process with one event loop, so per-loop state is the
# process's shared state. (Tests get a fresh loop, and so fresh state, per test.)
_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = (
    weakref.WeakKeyDictionary()
)


def _loop_local() -> dict:
    # Redis clients and limiter storages hold connections bound to one event loop.
    return _per_loop.setdefault(asyncio.get_running_loop(), {})


def zstore() -> RedisZStore | MemoryZStore:
    local = _loop_local()
    if "zstore" not in local:
        local["zstore"] = RedisZStore(settings.REDIS) if settings.REDIS else MemoryZStore()
    return local["zstore"]


class _InProcessLimiter:
    """The in-memory limiter behind the async interface: in-process, so a hit blocks nothing,
    and sync callers (REST views) and async ones (sockets) count against the same windows."""

    def __init__(self, limiter: limits.strategies.MovingWindowRateLimiter) -> None:
        self.limiter = limiter

    async def hit(self, item, *identifiers: str) -> bool:
        return self.limiter.hit(item, *identifiers)


_sync_limiter: limits.strategies.MovingWindowRateLimiter | None = None


def _limiter_sync() -> limits.strategies.MovingWindowRateLimiter:
    """One per process, for the sync callers; in Redis it shares keys with the async one."""
    global _sync_limiter
    if _sync_limiter is None:
        if settings.REDIS:
            storage = settings.REDIS.limits_storage(key_prefix=LIMITS_PREFIX, asynchronous=False)
        else:
            storage = limits.storage.MemoryStorage()
        _sync_limiter = limits.strategies.MovingWindowRateLimiter(storage)
    return _sync_limiter


def _limiter() -> MovingWindowRateLimiter | _InProcessLimiter:
    if not settings.REDIS:
        return _InProcessLimiter(_limiter_sync())
    local = _loop_local()
    if "limiter" not in local:
        storage = settings.REDIS.limits_storage(key_prefix=LIMITS_PREFIX, asynchronous=True)
        local["limiter"] = MovingWindowRateLimiter(storage)
    return local["limiter"]


@functools.lru_cache(maxsize=64)
def _parsed(rates: str) -> tuple:
    """The limits of a rate setting, parsed once: every frame a socket sends is counted."""
    return tuple(parse_many(rates))


async def rate_allows(rates: str, *identifiers: str) -> bool:
    """Count one hit against every limit in `rates` ("20/5second;100/minute"); False if over any.

    The one rate limiter of every transport: sockets call this, REST views `rate_allows_sync`,
    and both count in the same windows (Redis across processes, else this process)."""
    limiter = _limiter()
    allowed = True
    for item in _parsed(rates):
        # Every limit is counted, so a burst also uses up the sustained allowance.
        allowed = await limiter.hit(item, *identifiers) and allowed
    return allowed


class FrameBudget:
    """One socket's frame budget (`rates` as for `rate_allows`), counted where its frames come.

    Every frame of a socket reaches the process that holds it, so the budget needs no shared
    store: one Redis round trip per frame was 6-8 % of a process's CPU in a reconnect storm
    (bench.storm, py-spy: a resume frame per returning socket), and a Redis outage refused every
    frame, pings included. The windows move as `limits`' moving windows do (its in-memory
    store sweeps every key from a thread a hundred times a second; these die with their
    socket). As in `rate_allows`, each limit counts a hit it has room for, so a burst also
    uses up the sustained allowance."""

    __slots__ = ("windows",)

    def __init__(self, rates: str) -> None:
        self.windows = [(item.amount, item.get_expiry(), deque()) for item in _parsed(rates)]

    def allows(self) -> bool:
        now = time.monotonic()
        allowed = True
        for amount, seconds, hits in self.windows:
            while hits and hits[0] < now - seconds:  # as `limits`: a hit `seconds` old counts
                hits.popleft()
            if len(hits) < amount:
                hits.append(now)
            else:
                allowed = False
        return allowed


def rate_limits_reset() -> None:
    """Forget every in-process count (tests: each starts with fresh windows)."""
    global _sync_limiter
    _sync_limiter = None


def rate_allows_sync(rates: str, *identifiers: str) -> bool:
    """`rate_allows` for sync code (DRF views, services); the same windows."""
    limiter = _limiter_sync()
    allowed = True
    for item in _parsed(rates):
        allowed = limiter.hit(item, *identifiers) and allowed
    return allowed
