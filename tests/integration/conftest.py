"""Real processes for the integration tests: redis-server, PostgreSQL, two Daphnes per stack.

A stack is one database, one redis-server and two `python -m realtime.serve` processes sharing
them. The SQLite and PostgreSQL stacks live for the whole session; the `stack` fixture runs a
test on each. Each stack has its own redis-server: room ids restart at 1 in every database,
so two stacks sharing one Redis would hear each other's room groups.

Stacks with other settings (`tuned_stack`, `roomy_stack`, and `own_stack` for a test that
kills or restarts processes) are derived from the SQLite stack: two more Daphnes and a Redis
of their own, on the same database and users.

Every test logs in users of its own (`await stack.login(n)`), so the per-user limits of the
shipped configuration (send rate, REST write rate, open sockets) apply as they are, and no
test spends another's allowance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.support import procs
from tests.support.clients import Account, login

# Enough users for every test of the suite on one database; created in a single manage.py call.
POOL = tuple(f"user{i:03d}" for i in range(700))

# Limits high enough that a test about something else never meets them (the security tests
# check the shipped limits, or their own, on stacks of their own).
UNLIMITED = {
    "SWITCHBOARD_CHAT_SEND_RATE": "100000/minute",
    "SWITCHBOARD_SOCKET_FRAME_RATE": "100000/minute",
    "SWITCHBOARD_REST_WRITE_RATE": "100000/min",
}


class UserPool:
    """The users of one database no test has used yet (shared by every stack on it)."""

    def __init__(self, names: tuple[str, ...] = POOL) -> None:
        self._unused = list(names)

    def take(self, count: int) -> list[str]:
        assert count <= len(self._unused), "the user pool is spent: enlarge POOL"
        names, self._unused = self._unused[:count], self._unused[count:]
        return names


@dataclass
class Stack:
    database: str
    env: dict[str, str]
    redis: procs.RedisServer
    one: procs.DaphneProcess
    two: procs.DaphneProcess
    pool: UserPool = field(default_factory=UserPool)
    extra: list[procs.DaphneProcess] = field(default_factory=list)

    @property
    def servers(self) -> tuple[procs.DaphneProcess, procs.DaphneProcess]:
        return self.one, self.two

    async def login(self, count: int) -> list[Account]:
        """`count` users no other test has used, logged in through the login page."""
        names = self.pool.take(count)
        return list(await asyncio.gather(*(login(self.one.http, name) for name in names)))

    def start_server(self) -> procs.DaphneProcess:
        """One more Daphne on this stack's database and Redis (stopped with the stack)."""
        server = procs.DaphneProcess(self.env)
        self.extra.append(server)
        return server.start()

    def stop(self) -> None:
        for server in (self.one, self.two, *self.extra):
            server.stop()

    def restart(self) -> None:
        """Stop every Daphne and the redis-server, then start them again on the same ports
        (the database is all that is left of the stack in between)."""
        self.stop()
        self.redis.restart()
        servers = [self.one, self.two, *self.extra]
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(procs.DaphneProcess.start, servers))


def start_daphnes(
    env: dict[str, str], count: int, *options: str, keep_output: bool = False
) -> list[procs.DaphneProcess]:
    """Start `count` Daphne processes at once (each is awaited by its ready line), with more
    Daphne `options`; `keep_output` keeps what each prints (procs.DaphneProcess.output)."""
    servers = [procs.DaphneProcess(env, *options, keep_output=keep_output) for _ in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(procs.DaphneProcess.start, servers))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@contextlib.contextmanager
def running_stack(database: str, database_url: str, *, migrated: bool = False) -> Iterator[Stack]:
    with procs.RedisServer() as redis:
        env = procs.app_env(database_url=database_url, redis_url=redis.url)
        if not migrated:
            procs.manage(env, "migrate", "--noinput")
        procs.create_users(env, *POOL)
        stack = Stack(database, env, redis, *start_daphnes(env, 2))
        try:
            yield stack
        finally:
            stack.stop()


@contextlib.contextmanager
def derived_stack(
    base: Stack, *options: str, keep_output: bool = False, **extra_env: str
) -> Iterator[Stack]:
    """Two more Daphnes and a redis-server of their own, on `base`'s database and users, with
    extra settings (environment variables) and Daphne `options`. Room ids are unique in the
    shared database, and this stack's Redis is its own, so the two stacks never hear each other."""
    with procs.RedisServer() as redis:
        env = procs.app_env(database_url=base.env["DATABASE_URL"], redis_url=redis.url, **extra_env)
        servers = start_daphnes(env, 2, *options, keep_output=keep_output)
        stack = Stack(base.database, env, redis, *servers, pool=base.pool)
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[procs.PostgresServer]:
    with procs.PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_stack() -> Iterator[Stack]:
    with (
        procs.sqlite_database(migrated=True) as url,
        running_stack("sqlite", url, migrated=True) as stack,
    ):
        yield stack


@pytest.fixture(scope="session")
def postgres_stack(postgres: procs.PostgresServer) -> Iterator[Stack]:
    with running_stack("postgres", postgres.url()) as stack:
        yield stack


@pytest.fixture(scope="session")
def tuned_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """Small limits that a test can reach in seconds: 10 sends a minute per user, and socket
    and presence entries that lapse 6 s after their process stops refreshing them."""
    with derived_stack(
        sqlite_stack, SWITCHBOARD_CHAT_SEND_RATE="10/minute", SWITCHBOARD_SOCKET_TTL="6"
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def roomy_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """A stack whose rate limits are out of the way: for load, slow consumers and transports."""
    with derived_stack(sqlite_stack, **UNLIMITED) as stack:
        yield stack


@pytest.fixture
def own_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """A stack for one test, which may kill or restart any of its processes."""
    with derived_stack(sqlite_stack, **UNLIMITED) as stack:
        yield stack


# The soak's keepalive: a peer that vanishes (no FIN, no close frame) is dropped within
# SOAK_PING_SECONDS + SOAK_PING_TIMEOUT + 2 s (Daphne checks its timers every 2 s).
SOAK_PING_SECONDS, SOAK_PING_TIMEOUT = 5, 10
SOAK_SOCKET_TTL = 15


@pytest.fixture
def soak_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """A stack for the soak: the shipped rate limits and socket caps, a keepalive that drops
    vanished peers in seconds, socket and presence entries that lapse 15 s after their
    process stops refreshing them, and Daphnes whose logs the test reads (`server.output`)."""
    ping = ("--ping-interval", str(SOAK_PING_SECONDS), "--ping-timeout", str(SOAK_PING_TIMEOUT))
    with derived_stack(
        sqlite_stack, *ping, keep_output=True, SWITCHBOARD_SOCKET_TTL=str(SOAK_SOCKET_TTL)
    ) as stack:
        yield stack


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest) -> Stack:
    """The test runs once on the SQLite stack and once on the PostgreSQL one."""
    return request.getfixturevalue(f"{request.param}_stack")


@dataclass
class LoneServer:
    redis: procs.RedisServer
    server: procs.DaphneProcess


@pytest.fixture
def lone_server(sqlite_stack: Stack) -> Iterator[LoneServer]:
    """One Daphne with a redis-server of its own, which a test may kill."""
    with (
        procs.RedisServer() as redis,
        procs.DaphneProcess(
            procs.app_env(database_url=sqlite_stack.env["DATABASE_URL"], redis_url=redis.url)
        ) as server,
    ):
        yield LoneServer(redis, server)
