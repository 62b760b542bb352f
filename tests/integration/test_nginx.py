"""deploy/nginx.conf, for real: nginx balances sockets over two Daphne processes, and when one
process dies its clients come back through the same address and resume with nothing lost."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import start_daphnes
from tests.support import procs
from tests.support.clients import ChatClient, Rest, close_code, login

pytestmark = pytest.mark.integration

CONFIG = procs.ROOT / "deploy" / "nginx.conf"


class Nginx(procs.Loopback):
    """nginx in the foreground with deploy/nginx.conf filled in for loopback ports."""

    def __init__(self, upstream_ports: list[int]) -> None:
        self.port = procs.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-nginx-"))
        servers = "\n        ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"
                                     for p in upstream_ports)  # fmt: skip
        config = (
            CONFIG.read_text()
            .replace("@LISTEN@", f"127.0.0.1:{self.port}")
            .replace("@SERVER_NAME@", "127.0.0.1")
            .replace("@DAPHNE_SERVERS@", servers)
            .replace("@STATIC_ROOT@", str(self.dir / "static"))
            .replace("@PID_FILE@", str(self.dir / "nginx.pid"))
            .replace("@ERROR_LOG@", "stderr notice")
        )
        (self.dir / "nginx.conf").write_text(config)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Nginx:
        self.proc = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(self.dir),
                "-c",
                str(self.dir / "nginx.conf"),
                "-g",
                "daemon off;",
            ],  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs._wait_for_line(self.proc, "start worker process", 20, "nginx")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def balanced():
    with procs.RedisServer() as redis, procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database, redis_url=redis.url)
        procs.create_users(env, *(f"nginx{i}" for i in range(4)))
        one, two = start_daphnes(env, 2)
        try:
            with Nginx([one.port, two.port]) as nginx:
                yield nginx, one, two
        finally:
            one.stop()
            two.stop()


def open_sockets(server: procs.DaphneProcess) -> float:
    text = httpx.get(f"{server.http}/metrics").text
    for line in text.splitlines():
        if line.startswith('switchboard_open_sockets{kind="room"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_one_process_killed_clients_resume_through_nginx(balanced):
    nginx, one, two = balanced
    accounts = [await login(nginx.http, f"nginx{i}") for i in range(4)]
    async with Rest(nginx, accounts[0]) as rest:
        room = await rest.create_room(name="Failover")
        clients = [await ChatClient.open(nginx, a, room["slug"]) for a in accounts]
        # least_conn spread the sockets over both processes.
        assert open_sockets(one) >= 1 and open_sockets(two) >= 1
        for i in range(5):
            await rest.post_message(room["slug"], f"before {i}")
        seen = {id(c): [m["seq"] for m in await c.messages(5)] for c in clients}
        one.kill()  # SIGKILL: no goodbye to its sockets
        survivors, reconnected = [], []
        for client in clients:
            try:
                # A live socket answers a resume (of nothing) with `resumed`.
                await client.send({"type": "resume", "after_seq": seen[id(client)][-1]})
                await client.frames_until(lambda f: f["type"] == "resumed", within=3)
                survivors.append(client)
                continue
            except (AssertionError, ConnectionClosed):
                code = await close_code(client.ws, within=5)
            assert code in {None, 1006, 1011, 1001}, code
            # The page's client: reconnect to the same address, resume from the last seq.
            account = accounts[clients.index(client)]
            again = await ChatClient.open(nginx, account, room["slug"])
            await again.send({"type": "resume", "after_seq": seen[id(client)][-1]})
            await again.frames_until(lambda f: f["type"] == "resumed")
            seen[id(again)] = seen.pop(id(client))
            reconnected.append(again)
        assert reconnected, "no client was on the killed process"
        for i in range(5):
            await rest.post_message(room["slug"], f"after {i}")
        history = [m["seq"] for m in await rest.history(room["slug"])]
        for client in survivors + reconnected:
            seen[id(client)] += [m["seq"] for m in await client.messages(5)]
            assert seen[id(client)] == history  # no loss, no duplicate, in order
            await client.close()
