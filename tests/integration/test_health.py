"""/healthz on real processes (issue 12, finding 17): green while sockets are open and traffic
flows, red, naming the part, only when Redis or the database is really down."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import procs
from tests.support.clients import ChatClient, Rest, login
from tests.support.scale import scaled

pytestmark = [pytest.mark.integration, pytest.mark.scale]

SOCKETS = scaled(quick=300, full=1000)
BATCH = 100


async def health(server: procs.DaphneProcess) -> tuple[int, dict]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        response = await http.get(f"{server.http}/healthz")
    return response.status_code, response.json()


@pytest.fixture
def postgres_server():
    with procs.PostgresServer() as server:
        yield server


async def test_healthz_stays_green_under_open_sockets_and_goes_red_with_redis(postgres_server):
    with procs.RedisServer() as redis:
        env = procs.app_env(
            database_url=postgres_server.url(),
            redis_url=redis.url,
            SWITCHBOARD_MAX_SOCKETS_PER_USER=str(SOCKETS * 2),
            SWITCHBOARD_CHAT_SEND_RATE="100000/minute",
            SWITCHBOARD_REST_WRITE_RATE="100000/min",
        )
        procs.manage(env, "migrate", "-v0")
        procs.create_users(env, "healthy")
        with procs.DaphneProcess(env) as server:
            assert await health(server) == (
                200, {"status": "ok", "db": "ok", "channel_layer": "ok"}
            )  # fmt: skip
            account = await login(server.http, "healthy")
            async with Rest(server, account) as rest:
                room = await rest.create_room(name="Busy")
                clients = []
                for _ in range(SOCKETS // BATCH):
                    # Asked while a batch of handshakes queues on the server's sync thread.
                    (status, body), *opened = await asyncio.gather(
                        health(server),
                        *(ChatClient.open(server, account, room["slug"]) for _ in range(BATCH)),
                    )
                    clients += opened
                    assert status == 200, body
                for i in range(10):
                    sent = rest.post_message(room["slug"], f"traffic {i}")
                    (status, body), _ = await asyncio.gather(health(server), sent)
                    assert status == 200, body
                for client in clients:  # every socket got all the traffic
                    assert len(await client.messages(10)) == 10

                redis.kill()
                status, body = await health(server)
                assert status == 503
                assert (body["channel_layer"], body["db"]) == ("error", "ok")
                assert body["failing"] == ["channel_layer"]

                redis.start()  # same port: the layer reconnects by itself
                status, body = await health(server)
                assert status == 200, body

                postgres_server.stop()
                status, body = await health(server)
                assert status == 503
                assert (body["db"], body["channel_layer"]) == ("error", "ok")
                assert body["failing"] == ["db"]
                for client in clients:
                    await client.close()
