"""Clients that talk to a running Switchboard process the way browsers and scripts do.

Login goes through the real login page; REST calls carry the session cookie, the CSRF header
and a Referer; chat sockets carry the session cookie and an Origin. Every wait has a deadline,
so a lost frame fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.procs import PASSWORD  # procs.create_users' default
from tests.support.timing import within

SAME_ORIGIN = "same-origin"  # connect_chat: send the server's own origin, as its pages would
HTTP_TIMEOUT = 30.0
FRAME_TIMEOUT = 15.0
# Frames a test about messages may meet in between and need not care about.
INCIDENTAL = frozenset({"presence", "typing", "pong"})

_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Server(Protocol):
    """What the helpers need of a server process (procs.DaphneProcess)."""

    @property
    def http(self) -> str: ...

    @property
    def ws(self) -> str: ...


@dataclass(frozen=True)
class Account:
    """A logged-in browser's cookies; the session is in the database, so any process honours it."""

    username: str
    sessionid: str
    csrftoken: str


async def login(base_url: str, username: str, password: str = PASSWORD) -> Account:
    """Log in through the login page: GET it for the CSRF cookie and token, POST the form."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=HTTP_TIMEOUT, trust_env=False
    ) as client:
        page = await client.get("/accounts/login/")
        assert page.status_code == 200, page.text
        token = _CSRF_FIELD.search(page.text)
        assert token, "the login form has no csrfmiddlewaretoken"
        done = await client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        assert done.status_code == 302, f"login of {username} failed: {done.status_code}"
        sessionid = client.cookies.get("sessionid")
        csrftoken = client.cookies.get("csrftoken")
        assert sessionid and csrftoken, "login set no sessionid/csrftoken cookie"
        return Account(username=username, sessionid=sessionid, csrftoken=csrftoken)


class Rest:
    """The REST API as a logged-in browser page calls it; use as `async with Rest(...)`."""

    def __init__(self, server: Server, account: Account) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.http,
            cookies={"sessionid": account.sessionid, "csrftoken": account.csrftoken},
            headers={"Referer": f"{server.http}/", "X-CSRFToken": account.csrftoken},
            timeout=HTTP_TIMEOUT,
            trust_env=False,
        )

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def create_room(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"Room {uuid.uuid4().hex[:8]}")
        fields.setdefault("slug", f"room-{uuid.uuid4().hex[:12]}")
        response = await self.client.post("/api/rooms/", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    async def room(self, slug: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/rooms/{slug}/")
        assert response.status_code == 200, response.text
        return response.json()

    async def post_message(
        self, slug: str, body: str, client_id: str | None = None
    ) -> dict[str, Any]:
        payload = {"body": body} if client_id is None else {"body": body, "client_id": client_id}
        response = await self.client.post(f"/api/rooms/{slug}/messages/", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    async def history(self, slug: str, after_seq: int = 0) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/rooms/{slug}/messages/", params={"after_seq": after_seq, "limit": 200}
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, payload: Any = None, expect: int = 200) -> Any:
        """POST JSON; the answer's JSON (None for an empty one) once its status is `expect`."""
        response = await self.client.post(path, json=payload)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json() if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    async def join(self, slug: str) -> dict[str, Any]:
        return await self.post(f"/api/rooms/{slug}/join/")

    async def add_member(self, slug: str, username: str) -> dict[str, Any]:
        return await self.post(f"/api/rooms/{slug}/members/", {"username": username}, expect=201)

    async def moderate(self, slug: str, action: str, username: str, **fields: Any) -> None:
        """ban, unban, kick, mute (with `minutes`), unmute: 204 expected."""
        await self.post(
            f"/api/rooms/{slug}/{action}/", {"username": username, **fields}, expect=204
        )

    async def notes(self, slug: str) -> dict[str, Any]:
        return await self.get(f"/api/rooms/{slug}/notes/")

    async def create_device(self, name: str) -> dict[str, Any]:
        """{"id", "name", "api_key"}: the only time the key is shown."""
        return await self.post("/api/devices/", {"name": name}, expect=201)

    async def rotate_key(self, device_id: int) -> dict[str, Any]:
        return await self.post(f"/api/devices/{device_id}/rotate-key/")

    async def create_dashboard(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"Dashboard {uuid.uuid4().hex[:8]}")
        fields.setdefault("slug", f"dash-{uuid.uuid4().hex[:12]}")
        return await self.post("/api/dashboards/", fields, expect=201)


def socket_headers(account: Account | None) -> dict[str, str]:
    return {} if account is None else {"Cookie": f"sessionid={account.sessionid}"}


async def connect_socket(
    server: Server,
    path: str,
    account: Account | None = None,
    *,
    origin: str | None = SAME_ORIGIN,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> ClientConnection:
    """Open any socket of the server (`/ws/...`): the session cookie of `account` if given,
    any other `headers` (say `Authorization`), and an Origin as `connect_chat` explains."""
    options.setdefault("open_timeout", HTTP_TIMEOUT)
    return await connect(
        f"{server.ws}{path}",
        origin=server.http if origin == SAME_ORIGIN else origin,
        additional_headers={**socket_headers(account), **(headers or {})},
        proxy=None,
        **options,
    )


async def connect_chat(
    server: Server,
    account: Account | None,
    slug: str,
    *,
    origin: str | None = SAME_ORIGIN,
    **options: Any,
) -> ClientConnection:
    """Open `/ws/rooms/<slug>/` like a browser tab on `server` (Origin: the page's own origin).

    `origin=None` sends no Origin header; any other string is sent as it is.
    """
    return await connect_socket(server, f"/ws/rooms/{slug}/", account, origin=origin, **options)


class ChatClient:
    """An open chat socket whose first frame, `hello`, has been read."""

    def __init__(self, ws: ClientConnection, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello

    @classmethod
    async def open(cls, server: Server, account: Account, slug: str, **options: Any) -> ChatClient:
        ws = await connect_chat(server, account, slug, **options)
        try:
            first = await recv_json(ws)
            assert first["type"] == "hello", f"first frame is not hello: {first}"
        except BaseException:
            await ws.close()
            raise
        return cls(ws, first)

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_message(self, body: str, client_id: str | None = None) -> str:
        """Send `message.send` without waiting for anything; returns the client_id used."""
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message.send", "body": body, "client_id": client_id})
        return client_id

    async def next_frame(self, within: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The next frame that is not merely incidental (presence, typing, pong)."""
        async with asyncio.timeout(within):
            while True:
                frame = await recv_json(self.ws, within=None)
                if frame["type"] not in INCIDENTAL:
                    return frame

    async def frames_until(
        self, stop: Callable[[dict[str, Any]], bool], within: float = FRAME_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Every frame (incidental ones too) up to and including the first one `stop` accepts."""
        frames: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(within):
                while not frames or not stop(frames[-1]):
                    frames.append(await recv_json(self.ws, within=None))
        except TimeoutError:
            raise AssertionError(
                f"{self.hello['user']['username']}: the awaited frame did not come within "
                f"{within}s; got {[f['type'] for f in frames]}"
            ) from None
        return frames

    async def messages(self, count: int, within: float = FRAME_TIMEOUT) -> list[dict[str, Any]]:
        """The next `count` messages (the payloads of `message` frames), in arrival order.

        Any other frame but an incidental one fails: the caller expects messages only.
        """
        received: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(within):
                while len(received) < count:
                    frame = await self.next_frame(within=within)
                    assert frame["type"] == "message", f"expected a message, got {frame}"
                    received.append(frame["message"])
        except TimeoutError:
            seqs = [m["seq"] for m in received]
            raise AssertionError(
                f"{self.hello['user']['username']} got {len(received)} of {count} messages "
                f"within {within}s (seqs {seqs})"
            ) from None
        return received


async def recv_json(ws: ClientConnection, within: float | None = FRAME_TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(within):
        return json.loads(await ws.recv())


async def close_code(ws: ClientConnection, within: float = FRAME_TIMEOUT) -> int | None:
    """Read until the server closes the socket; the close code it sent (None: it sent none)."""
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


async def obtain_token(server: Server, username: str, password: str = PASSWORD) -> dict[str, str]:
    """`POST /api/auth/token/` as a script does: {"access", "refresh"}."""
    async with httpx.AsyncClient(base_url=server.http, timeout=HTTP_TIMEOUT, trust_env=False) as c:
        credentials = {"username": username, "password": password}
        response = await c.post("/api/auth/token/", json=credentials)
    assert response.status_code == 200, response.text
    return response.json()


async def ingest(server: Server, api_key: str, readings: list[dict[str, Any]]) -> httpx.Response:
    """`POST /api/ingest/` as a device does (`Authorization: Api-Key`)."""
    async with httpx.AsyncClient(base_url=server.http, timeout=HTTP_TIMEOUT, trust_env=False) as c:
        return await c.post(
            "/api/ingest/",
            json={"readings": readings},
            headers={"Authorization": f"Api-Key {api_key}"},
        )


@dataclass(frozen=True)
class SseEvent:
    event: str
    id: str | None
    data: Any


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a streaming `text/event-stream` response (comments and retry skipped)."""
    assert response.status_code == 200, response.status_code
    assert response.headers["content-type"].startswith("text/event-stream")
    event, event_id, data = "message", None, []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield SseEvent(event, event_id, json.loads("\n".join(data)))
            event, event_id, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)


async def open_silent_socket(
    server: Server, path: str, account: Account
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake by hand on `server` (a procs.DaphneProcess): a peer that then never
    answers a ping nor closes, as one whose network vanished. The caller may read the raw
    bytes the server sends; EOF (or a reset) means the server gave up on it."""
    port = int(server.http.rpartition(":")[2])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await handshake_by_hand(reader, writer, server, path, account)
    return reader, writer


async def handshake_by_hand(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    server: Server,
    path: str,
    account: Account,
) -> None:
    """Write a WebSocket upgrade on an open connection and read the server's 101."""
    port = int(server.http.rpartition(":")[2])
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.http}\r\nCookie: sessionid={account.sessionid}\r\n\r\n"
        ).encode()
    )
    try:
        head = await within(reader.readuntil(b"\r\n\r\n"), HTTP_TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
    except BaseException:
        writer.close()
        raise


async def metric_by_label(server: Server, name: str) -> dict[str, float]:
    """Every sample of one metric of the server process (`/metrics`), by its label text
    (`kind="room"`; "" for a metric without labels)."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        response = await http.get(f"{server.http}/metrics")
    assert response.status_code == 200, response.text
    samples = {}
    for line in response.text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name or sample.startswith(name + "{"):
            samples[sample.removeprefix(name).strip("{}")] = float(value)
    return samples


async def metric(server: Server, name: str, **labels: str) -> float:
    """One sample of the server process's Prometheus metrics (`/metrics`), 0 if absent."""
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    wanted = f"{name}{{{selector}}}" if labels else name
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        response = await http.get(f"{server.http}/metrics")
    assert response.status_code == 200, response.text
    for line in response.text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == wanted:
            return float(value)
    return 0.0
