"""State shared by every server process: Redis when REDIS_URL is set, process memory otherwise.

Used for what must hold across processes but is not worth a database row: rate-limit
windows, open-socket counts and presence. Entries carry an expiry time as their score, so the
entries of a process that dies (even by `kill -9`) lapse on their own.
"""

import asyncio
import time
import weakref
from collections import defaultdict

import redis.asyncio as redis
from django.conf import settings
from limits import parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

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


class RedisZStore:
    """Sorted sets of member -> expiry time in Redis."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self._add_if_room = self.redis.register_script(_ADD_IF_ROOM)

    async def add_if_room(self, keys: tuple[str, str], member: str, caps: tuple[int, int]) -> int:
        """Add `member` to both sets unless either is full: 0 added, 1 or 2 = which was full."""
        now = time.time()
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        return int(
            await self._add_if_room(keys=list(keys), args=[now, now + ttl, member, *caps, ttl * 2])
        )

    async def add(self, key: str, member: str) -> None:
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member: time.time() + ttl})
            pipe.expire(key, ttl * 2)
            await pipe.execute()

    async def remove(self, key: str, member: str) -> None:
        await self.redis.zrem(key, member)

    async def live_members(self, key: str) -> tuple[list[str], int]:
        """Members not yet expired, and how many expired ones were just dropped."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.zrange(key, 0, -1)
            dropped, members = await pipe.execute()
        return members, dropped

    async def refresh(self, entries: list[tuple[str, str]]) -> None:
        """Push the expiry of live entries forward (the heartbeat of a healthy process)."""
        ttl = settings.SWITCHBOARD_SOCKET_TTL
        expiry = time.time() + ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, member in entries:
                pipe.zadd(key, {member: expiry}, xx=True)
                pipe.expire(key, ttl * 2)
            await pipe.execute()


class MemoryZStore:
    """The same sets in this process's memory, for the single-process in-memory setup."""

    def __init__(self) -> None:
        self.sets: dict[str, dict[str, float]] = defaultdict(dict)

    def _prune(self, key: str) -> int:
        now = time.time()
        members = self.sets[key]
        expired = [m for m, expiry in members.items() if expiry <= now]
        for member in expired:
            del members[member]
        return len(expired)

    async def add_if_room(self, keys: tuple[str, str], member: str, caps: tuple[int, int]) -> int:
        for index, (key, cap) in enumerate(zip(keys, caps, strict=True), start=1):
            self._prune(key)
            if len(self.sets[key]) >= cap:
                return index
        for key in keys:
            self.sets[key][member] = time.time() + settings.SWITCHBOARD_SOCKET_TTL
        return 0

    async def add(self, key: str, member: str) -> None:
        self.sets[key][member] = time.time() + settings.SWITCHBOARD_SOCKET_TTL

    async def remove(self, key: str, member: str) -> None:
        self.sets[key].pop(member, None)
        if not self.sets[key]:
            del self.sets[key]

    async def live_members(self, key: str) -> tuple[list[str], int]:
        dropped = self._prune(key)
        return list(self.sets.get(key, {})), dropped

    async def refresh(self, entries: list[tuple[str, str]]) -> None:
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
        local["zstore"] = RedisZStore(settings.REDIS_URL) if settings.REDIS_URL else MemoryZStore()
    return local["zstore"]


def _limiter() -> MovingWindowRateLimiter:
    local = _loop_local()
    if "limiter" not in local:
        if settings.REDIS_URL:
            storage = RedisStorage(
                "async+" + settings.REDIS_URL, implementation="redispy", key_prefix="sb-limits"
            )
        else:
            storage = MemoryStorage()
        local["limiter"] = MovingWindowRateLimiter(storage)
    return local["limiter"]


async def rate_allows(rates: str, *identifiers: str) -> bool:
    """Count one hit against every limit in `rates` ("20/5second;100/minute"); False if over any."""
    limiter = _limiter()
    allowed = True
    for item in parse_many(rates):
        # Every limit is counted, so a burst also uses up the sustained allowance.
        allowed = await limiter.hit(item, *identifiers) and allowed
    return allowed
