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
committer's: a runner that was presumed dead and comes back is fenced out. A process drains and
commits all the games it runs in one script call each per tick (games.engine.Clock); under a
Redis Cluster those calls would have to be split by hash slot.

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
from games.engine import Checkpoint

LEASE_MS = 700  # a dead runner's game is free again after this; renewed every tick (50 ms)
HOST_MS = 2000  # a process that has not said it is alive for this long hosts no new games
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

# The two calls of a tick, each for all the games a process runs (one round trip, one command).
# KEYS: inputs and pending of each game, in pairs. ARGV: keep seconds. Moves each game's queued
# inputs to its pending list; answers every game's pending list.
_DRAIN = """
local drained = {}
for i = 1, #KEYS, 2 do
  local items = redis.call('LRANGE', KEYS[i], 0, -1)
  if #items > 0 then
    -- Copied before they are deleted, at most 1,000 at a time (Lua's unpack stops near 8,000).
    for first = 1, #items, 1000 do
      redis.call('RPUSH', KEYS[i + 1], unpack(items, first, math.min(first + 999, #items)))
    end
    redis.call('DEL', KEYS[i])
    redis.call('EXPIRE', KEYS[i + 1], ARGV[1])
  end
  drained[#drained + 1] = redis.call('LRANGE', KEYS[i + 1], 0, -1)
end
return drained
"""

# KEYS: lease, log and pending of each game, in threes. ARGV: lease ms, keep seconds, then
# token, tick and entry of each game. Each game's tick is appended only with its lease and only
# after the tick before it; it applied what was pending, which is no longer. A tick already
# appended with the same entry (the client retried a call whose answer was lost) counts as
# committed. Answers 1 or 0 per game.
_COMMIT = """
local done = {}
for g = 0, #KEYS / 3 - 1 do
  local lease, log, pending = KEYS[g * 3 + 1], KEYS[g * 3 + 2], KEYS[g * 3 + 3]
  local token, tick, entry = ARGV[g * 3 + 3], tonumber(ARGV[g * 3 + 4]), ARGV[g * 3 + 5]
  local committed = 0
  if redis.call('GET', lease) == token then
    local length = redis.call('LLEN', log)
    if length == tick - 1 then
      redis.call('RPUSH', log, entry)
      redis.call('EXPIRE', log, ARGV[2])
      redis.call('DEL', pending)
      committed = 1
    elseif length == tick and redis.call('LINDEX', log, -1) == entry then
      committed = 1
    end
    if committed == 1 then redis.call('PEXPIRE', lease, ARGV[1]) end
  end
  done[#done + 1] = committed
end
return done
"""


# KEYS: the hosts' sorted set. ARGV: this host, how long its word holds (ms). Scored by
# Redis's clock, not each process's: one process's clock running ahead would drop the others.
_HOSTS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
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
        self._hosts = self.redis.register_script(_HOSTS)

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

    async def clock_number(self) -> int:
        return await self.redis.incr("sb:games:clocks")

    async def hosts(self, host: str) -> list[str]:
        """Note that process `host` is alive, and answer every process alive (itself too)."""
        return sorted(await self._hosts(keys=["sb:games:hosts"], args=[host, HOST_MS]))

    async def push_input(self, game_id: int, item: list[Any]) -> None:
        key = _key(game_id, "inputs")
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps(item))
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def log_entries(self, game_id: int, start: int = 0) -> list[dict]:
        """The log's entries from tick `start` + 1 on."""
        return [json.loads(e) for e in await self.redis.lrange(_key(game_id, "log"), start, -1)]

    async def drain(self, game_ids: list[int]) -> list[list[list[Any]]]:
        """Each game's pending inputs, for all of them in one call."""
        if not game_ids:
            return []
        keys = [_key(g, part) for g in game_ids for part in ("inputs", "pending")]
        drained = await self._drain(keys=keys, args=[KEEP_SECONDS])
        return [[json.loads(item) for item in pending] for pending in drained]

    async def commit(self, checkpoints: list[Checkpoint]) -> list[bool]:
        """Each game's tick, fenced by its lease, for all of them in one call."""
        if not checkpoints:
            return []
        keys = [_key(c.game_id, part) for c in checkpoints for part in ("lease", "log", "pending")]
        args: list[Any] = [LEASE_MS, KEEP_SECONDS]
        for c in checkpoints:
            args += [c.token, c.tick, json.dumps(c.entry, separators=(",", ":"))]
        return [bool(ok) for ok in await self._commit(keys=keys, args=args)]


class MemoryGameStore:
    """The same in this process (the in-memory layer serves one process)."""

    def __init__(self) -> None:
        self.leases: dict[int, tuple[str, float]] = {}
        self.logs: dict[int, list[str]] = {}
        self.inputs: dict[int, list[str]] = {}
        self.pending: dict[int, list[str]] = {}
        self.clocks = 0
        self.alive: dict[str, float] = {}

    async def hosts(self, host: str) -> list[str]:
        now = time.monotonic()
        self.alive[host] = now + HOST_MS / 1000
        self.alive = {h: until for h, until in self.alive.items() if until > now}
        return sorted(self.alive)

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

    async def clock_number(self) -> int:
        self.clocks += 1
        return self.clocks

    async def push_input(self, game_id: int, item: list[Any]) -> None:
        self.inputs.setdefault(game_id, []).append(json.dumps(item))

    async def log_entries(self, game_id: int, start: int = 0) -> list[dict]:
        return [json.loads(e) for e in self.logs.get(game_id, [])[start:]]

    async def drain(self, game_ids: list[int]) -> list[list[list[Any]]]:
        drained = []
        for game_id in game_ids:
            pending = self.pending.setdefault(game_id, [])
            pending += self.inputs.pop(game_id, [])
            drained.append([json.loads(i) for i in pending])
        return drained

    async def commit(self, checkpoints: list[Checkpoint]) -> list[bool]:
        return [self._commit(c) for c in checkpoints]

    def _commit(self, c: Checkpoint) -> bool:
        log = self.logs.setdefault(c.game_id, [])
        if self._holder(c.game_id) != c.token or len(log) != c.tick - 1:
            return False
        log.append(json.dumps(c.entry, separators=(",", ":")))
        self._lease(c.game_id, c.token)
        self.pending.pop(c.game_id, None)
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
