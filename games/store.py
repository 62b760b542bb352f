"""Where a running game lives beyond its process: its lease, tick log and input queue.

In Redis (REDIS_URL set) under `sb:game:<id>:*`:
- `lease`: the token of the one process running the game (SET NX PX); renewed by every tick's
  commit, compared before it is renewed or deleted (Lua), so a runner that lost it can neither
  extend nor drop the new holder's;
- `log`: one entry per tick, the inputs that tick applied; with the game's setup (database) it
  rebuilds the match exactly (games.engine.Match.replay): the checkpoint;
- `inputs`: inputs from sockets on any process, in arrival order, drained by the runner just
  before each tick;
- `pending`: inputs drained but not yet applied by a committed tick, so a takeover keeps them.
A commit appends tick N only if the log holds N - 1 entries and the lease is still the
committer's: a runner that was presumed dead and comes back is fenced out.

Without Redis (the in-memory layer: one process) the same in this process's memory.
"""

import asyncio
import json
import os
import time
import uuid
import weakref
from typing import Any

import redis.asyncio as redis
from django.conf import settings

from config.redis_options import client_options

LEASE_MS = 700  # a dead runner's game is free again after this; renewed every tick (50 ms)
KEEP_SECONDS = 3600  # a finished game's log and queue are dropped after this

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: inputs, pending. Moves the queued inputs to pending; answers all pending.
_DRAIN = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
for _, item in ipairs(items) do redis.call('RPUSH', KEYS[2], item) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# KEYS: lease, log, pending. ARGV: token, tick, entry, lease ms, keep seconds. The tick applied
# what was pending: it is no longer.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) - 1 then return false end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('DEL', KEYS[3])
return 1
"""


def _key(game_id: int, part: str) -> str:
    return f"sb:game:{game_id}:{part}"


def new_token() -> str:
    """A lease token, unique, that names the process holding it (for logs and tests)."""
    return f"{os.getpid()}-{uuid.uuid4().hex}"


class RedisGameStore:
    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True, **client_options())
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._drain = self.redis.register_script(_DRAIN)
        self._commit = self.redis.register_script(_COMMIT)

    async def acquire(self, game_id: int, token: str) -> bool:
        return bool(await self.redis.set(_key(game_id, "lease"), token, nx=True, px=LEASE_MS))

    async def held(self, game_ids: list[int]) -> list[bool]:
        """Whether each game's lease is held by some process now."""
        if not game_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for game_id in game_ids:
                pipe.exists(_key(game_id, "lease"))
            return [bool(n) for n in await pipe.execute()]

    async def renew(self, game_id: int, token: str) -> bool:
        return bool(await self._renew(keys=[_key(game_id, "lease")], args=[token, LEASE_MS]))

    async def release(self, game_id: int, token: str) -> None:
        await self._release(keys=[_key(game_id, "lease")], args=[token])

    async def push_input(self, game_id: int, item: list[Any]) -> None:
        key = _key(game_id, "inputs")
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps(item))
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def log_entries(self, game_id: int, start: int = 0) -> list[dict]:
        """The log's entries from tick `start` + 1 on."""
        return [json.loads(e) for e in await self.redis.lrange(_key(game_id, "log"), start, -1)]

    async def drain(self, game_id: int) -> list[list[Any]]:
        pending = await self._drain(
            keys=[_key(game_id, "inputs"), _key(game_id, "pending")], args=[KEEP_SECONDS]
        )
        return [json.loads(i) for i in pending]

    async def commit(self, game_id: int, token: str, tick: int, entry: dict) -> bool:
        keys = [_key(game_id, part) for part in ("lease", "log", "pending")]
        args = [token, tick, json.dumps(entry, separators=(",", ":")), LEASE_MS, KEEP_SECONDS]
        return bool(await self._commit(keys=keys, args=args))


class MemoryGameStore:
    """The same in this process (the in-memory layer serves one process)."""

    def __init__(self) -> None:
        self.leases: dict[int, tuple[str, float]] = {}
        self.logs: dict[int, list[str]] = {}
        self.inputs: dict[int, list[str]] = {}
        self.pending: dict[int, list[str]] = {}

    def _holder(self, game_id: int) -> str | None:
        token, until = self.leases.get(game_id, (None, 0.0))
        return token if until > time.monotonic() else None

    def _lease(self, game_id: int, token: str) -> None:
        self.leases[game_id] = (token, time.monotonic() + LEASE_MS / 1000)

    async def acquire(self, game_id: int, token: str) -> bool:
        if self._holder(game_id) is not None:
            return False
        self._lease(game_id, token)
        return True

    async def held(self, game_ids: list[int]) -> list[bool]:
        return [self._holder(game_id) is not None for game_id in game_ids]

    async def renew(self, game_id: int, token: str) -> bool:
        if self._holder(game_id) != token:
            return False
        self._lease(game_id, token)
        return True

    async def release(self, game_id: int, token: str) -> None:
        if self._holder(game_id) == token:
            del self.leases[game_id]

    async def push_input(self, game_id: int, item: list[Any]) -> None:
        self.inputs.setdefault(game_id, []).append(json.dumps(item))

    async def log_entries(self, game_id: int, start: int = 0) -> list[dict]:
        return [json.loads(e) for e in self.logs.get(game_id, [])[start:]]

    async def drain(self, game_id: int) -> list[list[Any]]:
        pending = self.pending.setdefault(game_id, [])
        pending += self.inputs.pop(game_id, [])
        return [json.loads(i) for i in pending]

    async def commit(self, game_id: int, token: str, tick: int, entry: dict) -> bool:
        log = self.logs.setdefault(game_id, [])
        if self._holder(game_id) != token or len(log) != tick - 1:
            return False
        log.append(json.dumps(entry, separators=(",", ":")))
        self._lease(game_id, token)
        self.pending.pop(game_id, None)
        return True


_stores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()


def game_store() -> RedisGameStore | MemoryGameStore:
    """The store of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    store = _stores.get(loop)
    if store is None:
        url = settings.REDIS_URL
        store = _stores[loop] = RedisGameStore(url) if url else MemoryGameStore()
    return store
