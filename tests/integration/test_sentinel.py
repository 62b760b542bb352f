"""Redis behind Sentinel (issue 17): the primary dies under chat traffic, Sentinel promotes its
replica, and both server processes go on with the new primary, without a restart and without
losing a message any client was told was stored.

A real primary, replica and Sentinel (`redis-server --sentinel`), each on a free port, and two
Daphnes configured with REDIS_SENTINELS alone (no REDIS_URL): the channel layer, the rate
limiter, presence and the socket caps all find the primary through Sentinel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as redis

from tests.integration.conftest import UNLIMITED, Stack, start_daphnes
from tests.integration.test_resilience import assert_same_as_history
from tests.support import procs
from tests.support.clients import HTTP_TIMEOUT, Rest
from tests.support.transports import ResumingChat, all_reach

pytestmark = pytest.mark.integration

MASTER = "switchboard"


async def until(check, within: float, what: str) -> None:
    """Poll `check` (async, truthy when done) until it holds, or fail after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.1)  # noqa: sleep-ok polling Redis's own view, to a deadline
    except TimeoutError:
        raise AssertionError(f"not within {within}s: {what}") from None


async def primary_port(sentinel: procs.SentinelServer) -> int:
    async with redis.Redis(port=sentinel.port, decode_responses=True) as client:
        _, port = await client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
    return int(port)


async def promoted(sentinel: procs.SentinelServer, replica: procs.RedisServer) -> bool:
    return await primary_port(sentinel) == replica.port


async def replica_ready(sentinel: procs.SentinelServer, replica: procs.RedisServer) -> bool:
    """The replica is in sync, and Sentinel knows it (else it has no one to promote)."""
    async with redis.Redis(port=replica.port, decode_responses=True) as client:
        if (await client.info("replication")).get("master_link_status") != "up":
            return False
    async with redis.Redis(port=sentinel.port, decode_responses=True) as client:
        replicas = await client.execute_command("SENTINEL", "replicas", MASTER)
    return any(str(replica.port) in str(entry) for entry in replicas)


@pytest.fixture(scope="module")
def sentinel_stack(
    sqlite_stack: Stack,
) -> Iterator[tuple[Stack, procs.RedisServer, procs.SentinelServer]]:
    """Two Daphnes on the SQLite stack's database, over a primary, a replica and a Sentinel."""
    with (
        procs.RedisServer() as primary,
        procs.RedisServer(replica_of=primary.port) as replica,
        procs.SentinelServer(primary.port, MASTER) as sentinel,
    ):
        asyncio.run(until(lambda: replica_ready(sentinel, replica), 30, "the replica is in sync"))
        env = procs.app_env(
            database_url=sqlite_stack.env["DATABASE_URL"],
            REDIS_SENTINELS=f"127.0.0.1:{sentinel.port}",
            REDIS_SENTINEL_MASTER=MASTER,
            **UNLIMITED,
        )
        stack = Stack(
            sqlite_stack.database, env, primary, *start_daphnes(env, 2), pool=sqlite_stack.pool
        )
        try:
            yield stack, replica, sentinel
        finally:
            stack.stop()


async def healthz(server: procs.DaphneProcess) -> int:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        return (await http.get(f"{server.http}/healthz")).status_code


async def test_a_primary_killed_under_traffic_is_replaced_without_a_restart(sentinel_stack):
    stack, replica, sentinel = sentinel_stack
    one, two = stack.servers
    pids = (one.pid, two.pid)
    alice, bob, carol = await stack.login(3)
    async with Rest(one, carol) as rest:
        slug = (await rest.create_room())["slug"]
        # Alice sends on process one, Bob only listens on process two: what reaches Bob has
        # crossed Redis, so it shows the layer found the new primary.
        sender = ResumingChat([one, two], alice, slug)
        listener = ResumingChat([two, one], bob, slug)
        clients = [sender, listener]
        await asyncio.gather(*(c.open() for c in clients))
        sent = 0
        try:
            for _ in range(3):
                await sender.send_and_wait(f"before {sent}")
                sent += 1
            await all_reach(clients, 3, within=10)

            stack.redis.kill()  # the primary dies; the sender keeps its pace of 10 a second
            failed_over = asyncio.Event()

            async def keep_sending() -> None:
                nonlocal sent
                after = 0
                while after < 20:
                    await sender.send(f"message {sent}")
                    sent += 1
                    after += failed_over.is_set()
                    await asyncio.sleep(0.1)  # noqa: sleep-ok the sender's pace

            sending = asyncio.create_task(keep_sending())
            await until(lambda: promoted(sentinel, replica), 30, "Sentinel promotes the replica")
            failed_over.set()
            await sending
            await sender.wait_acked(30)
            last = await rest.post_message(slug, "REST after the failover")
            await all_reach(clients, last["seq"], within=20)
        finally:
            await asyncio.gather(*(c.stop() for c in clients))
        history = await rest.history(slug)

    acknowledged = set(sender.bodies)
    stored = [m["client_id"] for m in history if m["client_id"]]
    assert len(stored) == len(set(stored)), "a retried send was stored twice"
    assert acknowledged <= set(stored), f"lost: {sorted(acknowledged - set(stored))}"
    assert len(history) == sent + 1
    assert_same_as_history(clients, history)
    # The same processes, never restarted, serve and are healthy with the new primary.
    assert (one.pid, two.pid) == pids and all(s.proc.poll() is None for s in stack.servers)
    assert [await healthz(one), await healthz(two)] == [200, 200]
