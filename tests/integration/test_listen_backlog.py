"""The server listens with a backlog that holds a reconnect storm: with Twisted's default of 50,
the kernel dropped the SYNs of clients coming back together, and TCP retried them 31 or 63 s
later (bench.storm)."""

import asyncio
import contextlib
import signal

import pytest

from realtime.serve import with_backlog
from tests.support import procs

pytestmark = pytest.mark.integration


async def connects_queued(port: int, count: int, within: float) -> int:
    """How many of `count` TCP connects the kernel completes within `within` seconds."""

    async def connect() -> asyncio.StreamWriter | None:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(within):
                return (await asyncio.open_connection("127.0.0.1", port))[1]
        return None

    writers = await asyncio.gather(*(connect() for _ in range(count)))
    for writer in writers:
        if writer is not None:
            writer.transport.abort()
    return sum(writer is not None for writer in writers)


async def test_a_burst_of_connects_waits_in_the_queue_while_the_server_is_busy():
    """The kernel completes handshakes into the listen queue without the process: stopped
    (SIGSTOP, as busy as a server can be), the server still has all 300 queued. With a
    backlog of 50, the rest of the SYNs were dropped and would be retried a second later."""
    with procs.sqlite_database(migrated=True) as database:
        server = procs.DaphneProcess(procs.app_env(database_url=database)).start()
        try:
            server.proc.send_signal(signal.SIGSTOP)
            try:
                assert await connects_queued(server.port, 300, within=0.8) == 300
            finally:
                server.proc.send_signal(signal.SIGCONT)
        finally:
            server.kill()


def test_endpoints_get_the_backlog_unless_they_name_one_or_listen_on_nothing_of_their_own():
    assert with_backlog("tcp:port=8000:interface=127.0.0.1", 99) == (
        "tcp:port=8000:interface=127.0.0.1:backlog=99"
    )
    assert with_backlog("unix:/run/switchboard.sock", 99) == "unix:/run/switchboard.sock:backlog=99"
    assert with_backlog("tcp:port=8000:backlog=10", 99) == "tcp:port=8000:backlog=10"
    assert with_backlog("fd:fileno=3", 99) == "fd:fileno=3"
