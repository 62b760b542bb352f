"""Idle sockets that stop answering pings are closed by the server (Daphne's keepalive)."""

import asyncio
import base64
import os
import time

import pytest

from tests.support import procs
from tests.support.clients import ChatClient, Rest, login
from tests.support.timing import within

pytestmark = pytest.mark.integration


async def open_silent_socket(server: procs.DaphneProcess, path: str, cookie: str):
    """A WebSocket handshake by hand; afterwards this peer never answers a ping."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.http}\r\nCookie: sessionid={cookie}\r\n\r\n"
        ).encode()
    )
    head = await within(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def test_a_peer_that_stops_answering_pings_is_dropped():
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database)
        procs.create_users(env, "idle0", "idle1")
        # Ping every second, drop after two seconds without a pong (defaults: 20 s and 30 s).
        with procs.DaphneProcess(env, "--ping-interval", "1", "--ping-timeout", "2") as server:
            silent_user = await login(server.http, "idle0")
            live_user = await login(server.http, "idle1")
            async with Rest(server, silent_user) as rest:
                room = await rest.create_room(name="Idle")
            path = f"/ws/rooms/{room['slug']}/"
            reader, writer = await open_silent_socket(server, path, silent_user.sessionid)
            live = await ChatClient.open(server, live_user, room["slug"])  # answers its pings
            # Read what the server sends (hello, pings) until it gives up on us and closes.
            started, received = time.monotonic(), b""
            try:
                async with asyncio.timeout(15):
                    while chunk := await reader.read(65536):
                        received += chunk
            except ConnectionResetError:
                pass  # autobahn aborts the connection of a peer that missed its pongs
            writer.close()
            assert b'"type":"hello"' in received  # it was served first...
            assert time.monotonic() - started >= 1.5  # ...and dropped for silence, not at once
            # The peer that answered its pings is still served.
            await live.send({"type": "resume", "after_seq": 0})
            await live.frames_until(lambda f: f["type"] == "resumed", within=5)
            await live.close()
