"""How every Redis client of the project behaves when Redis is unreachable.

Each client gives up after SWITCHBOARD_REDIS_RETRIES quick retries (0.1-0.5 s apart), not
redis-py's default of 3 retries up to 10 s apart: while Redis is down, a send is refused with
`unavailable` (503 over REST) within a second, and the client retries with its client_id.
"""

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff

from config.env import env_int


def client_options(retry_class: type = AsyncRetry) -> dict:
    """Keyword arguments for a Redis client or connection pool (async unless `retry_class` is
    redis.retry.Retry); a fresh Retry each time, since clients may adjust theirs."""
    retries = env_int("SWITCHBOARD_REDIS_RETRIES", 1)
    backoff = ExponentialWithJitterBackoff(base=0.1, cap=0.5)
    return {"retry": retry_class(backoff, retries), "socket_connect_timeout": 2}
