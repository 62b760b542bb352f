"""Where Redis is, and how every Redis client of the project reaches it.

One setting names Redis for everything shared between processes (the channel layer, the rate
limiter, presence and socket caps): `REDIS_URL` for a single server, or `REDIS_SENTINELS`
("host:port,host:port") with `REDIS_SENTINEL_MASTER` for a primary that Sentinel watches and
replaces. Through Sentinel each client asks for the current primary when it (re)connects, so a
failover needs no restart.

Each client gives up after SWITCHBOARD_REDIS_RETRIES quick retries (0.1-0.5 s apart), not
redis-py's default of 3 retries up to 10 s apart: while Redis is down, a send is refused with
`unavailable` (503 over REST) within a second, and the client retries with its client_id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import limits.aio.storage
import limits.storage
import redis
import redis.asyncio
import redis.asyncio.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.driver_info import DriverInfo
from redis.retry import Retry as SyncRetry

from config.env import env_int, env_list


def client_options(retry_class: type = AsyncRetry) -> dict:
    """Keyword arguments for a Redis client or connection pool (async unless `retry_class` is
    redis.retry.Retry); a fresh Retry each time, since clients may adjust theirs."""
    retries = env_int("SWITCHBOARD_REDIS_RETRIES", 1)
    backoff = ExponentialWithJitterBackoff(base=0.1, cap=0.5)
    return {
        "retry": retry_class(backoff, retries),
        "socket_connect_timeout": 2,
        "driver_info": DriverInfo(lib_version=_REDIS_PY_VERSION),
    }


# redis-py otherwise reads its own version from the installed packages' metadata for every
# connection it opens (scanning sys.path): a reconnect storm's burst of new pool connections
# spent 3% of a server's CPU there.
_REDIS_PY_VERSION = DriverInfo().lib_version


# Asking a sentinel is quick or that sentinel is gone: the next one is tried.
_SENTINEL_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}


@dataclass(frozen=True)
class RedisTarget:
    """One Redis server (`url`), or the primary that Sentinel names (`sentinels`, `master`)."""

    url: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = "mymaster"
    db: int = 0

    def __bool__(self) -> bool:
        return bool(self.url or self.sentinels)

    def channel_layer_host(self) -> dict:
        """A `hosts` entry for channels_redis."""
        if self.sentinels:
            return {
                "sentinels": list(self.sentinels),
                "master_name": self.master,
                "sentinel_kwargs": _SENTINEL_OPTIONS,
                "db": self.db,
                **client_options(),
            }
        return {"address": self.url, **client_options()}

    def async_client(self, **options) -> redis.asyncio.Redis:
        """An asyncio client (bound to the running event loop once it connects)."""
        if self.sentinels:
            sentinel = redis.asyncio.sentinel.Sentinel(
                list(self.sentinels), sentinel_kwargs=_SENTINEL_OPTIONS
            )
            return sentinel.master_for(self.master, db=self.db, **client_options(), **options)
        return redis.asyncio.Redis.from_url(self.url, **client_options(), **options)

    def limits_storage(self, *, key_prefix: str, asynchronous: bool) -> limits.storage.Storage:
        """Storage for the `limits` rate limiter: counts on the primary only (no replica reads,
        which could lag behind a burst)."""
        retry = AsyncRetry if asynchronous else SyncRetry
        scheme = "async+redis" if asynchronous else "redis"
        extra = {"implementation": "redispy"} if asynchronous else {}
        if self.sentinels:
            hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            storage_class = (
                limits.aio.storage.RedisSentinelStorage
                if asynchronous
                else limits.storage.RedisSentinelStorage
            )
            return storage_class(
                f"{scheme}+sentinel://{hosts}/{self.master}",
                use_replicas=False,
                sentinel_kwargs=_SENTINEL_OPTIONS,
                key_prefix=key_prefix,
                db=self.db,
                **extra,
                **client_options(retry),
            )
        storage_class = (
            limits.aio.storage.RedisStorage if asynchronous else limits.storage.RedisStorage
        )
        return storage_class(
            f"{scheme}://{self.url.split('://', 1)[1]}",
            key_prefix=key_prefix,
            **extra,
            **client_options(retry),
        )


def target_from_env() -> RedisTarget:
    """REDIS_SENTINELS (with REDIS_SENTINEL_MASTER, REDIS_SENTINEL_DB) wins over REDIS_URL."""
    sentinels = []
    for entry in env_list("REDIS_SENTINELS", ""):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {entry!r} is not host:port")
        sentinels.append((host, int(port)))
    if sentinels:
        return RedisTarget(
            sentinels=tuple(sentinels),
            master=os.environ.get("REDIS_SENTINEL_MASTER", "mymaster"),
            db=env_int("REDIS_SENTINEL_DB", 0),
        )
    return RedisTarget(url=os.environ.get("REDIS_URL", ""))
