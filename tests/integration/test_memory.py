"""What an open room socket costs a server process in memory (issue 17): at most
RSS_KIB_PER_SOCKET under `python -m realtime.serve`, measured on a real process.

Sockets are opened in two equal batches and only the second is counted: the first pays for
what is allocated once (the room's hub group, the allocator's growth, caches), as a process
that has served for a while already has. `bench/connect.py` measures the same at 5,000.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.procstat import cpu_seconds
from tests.integration.conftest import UNLIMITED, derived_stack
from tests.support.clients import ChatClient, Rest
from tests.support.procs import vm_rss_bytes

pytestmark = pytest.mark.integration

BATCH = 300  # sockets per batch, all on one process
SOCKETS_PER_USER = 10
RSS_KIB_PER_SOCKET = 30  # the target (issue 17)
NOISE_KIB = 3  # RSS moves by pages and malloc's trims: 3 KiB a socket is ~900 KiB here
CALM_CORES = 0.05


@pytest.fixture(scope="module")
def memory_stack(sqlite_stack):
    with derived_stack(
        sqlite_stack, SWITCHBOARD_MAX_SOCKETS_PER_IP=str(3 * BATCH), **UNLIMITED
    ) as stack:
        yield stack


async def calm(pid: int, at_most: float = 60) -> None:
    """Until the process uses less than CALM_CORES for a whole second (what the connects set
    off, presence announcements for one, is done)."""
    deadline = time.monotonic() + at_most
    while time.monotonic() < deadline:
        before, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(1)  # noqa: sleep-ok measuring CPU use over a second
        if (cpu_seconds(pid) - before) / (time.monotonic() - t0) < CALM_CORES:
            return


async def open_batch(server, accounts, slug: str) -> list[ChatClient]:
    gate = asyncio.Semaphore(25)

    async def one(account) -> ChatClient:
        async with gate:
            return await ChatClient.open(server, account, slug)

    return list(await asyncio.gather(*(one(a) for a in accounts)))


async def test_an_open_room_socket_holds_at_most_30_kib(memory_stack):
    stack = memory_stack
    server = stack.two  # untouched by the logins (stack.one): no freed memory to reuse
    users = await stack.login(2 * BATCH // SOCKETS_PER_USER)
    async with Rest(stack.one, users[0]) as rest:
        slug = (await rest.create_room())["slug"]
    first = [users[i // SOCKETS_PER_USER] for i in range(BATCH)]
    second = [users[BATCH // SOCKETS_PER_USER + i // SOCKETS_PER_USER] for i in range(BATCH)]
    clients: list[ChatClient] = []
    try:
        clients += await open_batch(server, first, slug)
        await calm(server.pid)
        before = vm_rss_bytes(server.pid)
        clients += await open_batch(server, second, slug)
        await calm(server.pid)
        after = vm_rss_bytes(server.pid)
        # Every socket is live: each heard its hello (ChatClient.open) and still answers.
        probe = clients[-1]
        await probe.send({"type": "ping"})
        await probe.frames_until(lambda frame: frame["type"] == "pong", within=30)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    per_socket = (after - before) / BATCH / 1024
    print(f"RSS per open room socket: {per_socket:.1f} KiB")
    assert per_socket <= RSS_KIB_PER_SOCKET + NOISE_KIB, (
        f"{per_socket:.1f} KiB of RSS per open room socket (target {RSS_KIB_PER_SOCKET})"
    )
