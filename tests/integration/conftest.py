"""Real processes for the integration tests: redis-server, PostgreSQL, two Daphnes per stack.

A stack is one database, one redis-server and two `python -m realtime.serve` processes sharing
them. The SQLite and PostgreSQL stacks live for the whole session; the `stack` fixture runs a
test on each. Each stack has its own redis-server: room ids restart at 1 in every database,
so two stacks sharing one Redis would hear each other's room groups.

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

# Enough users for every test of the module on one stack; created in a single manage.py call.
POOL = tuple(f"user{i:03d}" for i in range(80))


@dataclass
class Stack:
    database: str
    env: dict[str, str]
    redis: procs.RedisServer
    one: procs.DaphneProcess
    two: procs.DaphneProcess
    _unused: list[str] = field(default_factory=lambda: list(POOL))

    @property
    def servers(self) -> tuple[procs.DaphneProcess, procs.DaphneProcess]:
        return self.one, self.two

    async def login(self, count: int) -> list[Account]:
        """`count` users no other test has used, logged in through the login page."""
        assert count <= len(self._unused), "the user pool is spent: enlarge POOL"
        names, self._unused = self._unused[:count], self._unused[count:]
        return list(await asyncio.gather(*(login(self.one.http, name) for name in names)))


def start_daphnes(env: dict[str, str], count: int) -> list[procs.DaphneProcess]:
    """Start `count` Daphne processes at once (each is awaited by its ready line)."""
    servers = [procs.DaphneProcess(env) for _ in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(procs.DaphneProcess.start, servers))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@contextlib.contextmanager
def running_stack(database: str, database_url: str) -> Iterator[Stack]:
    with procs.RedisServer() as redis:
        env = procs.app_env(database_url=database_url, redis_url=redis.url)
        procs.manage(env, "migrate", "--noinput")
        procs.create_users(env, *POOL)
        servers = start_daphnes(env, 2)
        try:
            yield Stack(database, env, redis, *servers)
        finally:
            for server in servers:
                server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[procs.PostgresServer]:
    with procs.PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_stack() -> Iterator[Stack]:
    with procs.sqlite_database() as url, running_stack("sqlite", url) as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_stack(postgres: procs.PostgresServer) -> Iterator[Stack]:
    with running_stack("postgres", postgres.url()) as stack:
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
