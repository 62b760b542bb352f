"""One rule, one answer, every path: the transport matrix of issue 12.

For each rule (who the caller is, or what state they are in) and each transport a room can be
reached by, `MATRIX` says what the caller must get, and `test_matrix` checks every cell on two
Daphne processes sharing a real Redis. The rules themselves live in chat.policy (rooms),
realtime.credentials (what a credential reaches), realtime.store (the one rate limiter) and
realtime.presence (the one cap registry); this test is what keeps every path calling them.

Adding a rule or a transport without filling its row or column fails `test_matrix_is_complete`;
adding a room URL or socket route without naming the transport it behaves as fails
`test_every_room_route_is_in_the_matrix`. Open streams ending when a rule starts to apply are
in `test_open_streams_end_when_the_rule_starts_to_apply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import UNLIMITED, Stack, derived_stack
from tests.support.clients import (
    HTTP_TIMEOUT,
    Account,
    ChatClient,
    Rest,
    close_code,
    connect_socket,
    obtain_token,
    recv_json,
    sse_events,
)
from tests.support.yclient import NotesEditor

pytestmark = pytest.mark.integration

TRANSPORTS = (
    "rest_read",  # GET /api/rooms/<slug>/messages/
    "rest_write",  # POST /api/rooms/<slug>/messages/
    "websocket",  # /ws/rooms/<slug>/: the handshake, then a message.send
    "sse",  # GET /sse/rooms/<slug>/
    "long_poll",  # GET /api/rooms/<slug>/messages/?after_seq=N&wait=S
    "notes_socket",  # /ws/rooms/<slug>/notes/: the handshake, then a Yjs update
    "notes_rest",  # GET /api/rooms/<slug>/notes/
    "game_socket",  # /ws/games/<id>/ of a game of the room: the handshake, then a join
    "upload",  # POST /api/rooms/<slug>/attachments/ (multipart)
    "download",  # GET an attachment's url (a file of the room's history)
    "search",  # GET /api/search/?q=...: is the room's history among the hits?
)

RULES = (
    "member",  # the baseline: a member of a private room reaches everything
    "outsider",  # not a member of a private room: it does not exist for them
    "dm_outsider",  # not one of the people of a direct conversation (CONTRACT.md §9)
    "removed",  # was a member of the private room, then kicked
    "banned",  # banned from a public room
    "muted",  # muted in a public room they belong to
    "archived",  # a member of an archived room
    "device_key",  # the room owner's device key (Api-Key): ingestion only
    "expired_jwt",  # a Bearer token past its expiry
    "logged_out",  # a session cookie after logout
    "over_rate",  # the user's sends spent (over REST and sockets together)
    "over_cap",  # the user's open sockets and streams at the cap
)

# The outcomes, as each transport shows them.
OK = "ok"  # 200/201, an accepted handshake and an applied write
HIDDEN = "404"  # the room is not revealed
FORBIDDEN = "403"
UNAUTHENTICATED = "401"
REFUSED = "handshake 403"  # a socket's refusal: the handshake is answered 403, never accepted
MUTED = "muted"  # write refused as muted: 403 {"code":"muted"}, an error frame, or not applied
READ_ONLY = "read-only"  # write refused in an archived room: 403 forbidden, error, not applied
RATE_LIMITED = "429"  # REST 429 with Retry-After; a socket's `rate_limited` error frame
OVER_CAP = "429 cap"  # a stream or long poll refused as over the cap
NOT_WRITTEN = "update not applied"  # a notes socket's write that the document never shows
NOT_SHOWN = "not in results"  # search answers, without the room's messages


@dataclass(frozen=True)
class NotApplicable:
    """A cell where the rule cannot arise on that transport, and why."""

    why: str


READS_ONLY = NotApplicable("reading is not rate limited; the sends are")
OWN_BUDGET = NotApplicable("uploads and searches have budgets of their own (tests/chat)")
SHORT_LIVED = NotApplicable("one short request holds no socket slot")

MATRIX: dict[str, dict[str, Any]] = {
    "member": dict.fromkeys(TRANSPORTS, OK),
    "outsider": {
        "rest_read": HIDDEN, "rest_write": HIDDEN, "websocket": REFUSED, "sse": HIDDEN,
        "long_poll": HIDDEN, "notes_socket": REFUSED, "notes_rest": HIDDEN,
        "game_socket": REFUSED,
        "upload": HIDDEN, "download": HIDDEN, "search": NOT_SHOWN,
    },
    "dm_outsider": {
        "rest_read": HIDDEN, "rest_write": HIDDEN, "websocket": REFUSED, "sse": HIDDEN,
        "long_poll": HIDDEN, "notes_socket": REFUSED, "notes_rest": HIDDEN,
        "game_socket": REFUSED,
        "upload": HIDDEN, "download": HIDDEN, "search": NOT_SHOWN,
    },
    "removed": {
        "rest_read": HIDDEN, "rest_write": HIDDEN, "websocket": REFUSED, "sse": HIDDEN,
        "long_poll": HIDDEN, "notes_socket": REFUSED, "notes_rest": HIDDEN,
        "game_socket": REFUSED,
        "upload": HIDDEN, "download": HIDDEN, "search": NOT_SHOWN,
    },
    "banned": {
        "rest_read": FORBIDDEN, "rest_write": FORBIDDEN, "websocket": REFUSED,
        "sse": FORBIDDEN, "long_poll": FORBIDDEN, "notes_socket": REFUSED,
        "notes_rest": FORBIDDEN, "game_socket": REFUSED,
        # A file's existence is not revealed to whoever may not read it, a ban included.
        "upload": FORBIDDEN, "download": HIDDEN, "search": NOT_SHOWN,
    },
    "muted": {
        "rest_read": OK, "rest_write": MUTED, "websocket": MUTED, "sse": OK, "long_poll": OK,
        "notes_socket": NOT_WRITTEN, "notes_rest": OK, "game_socket": MUTED,
        "upload": MUTED, "download": OK, "search": OK,
    },
    "archived": {
        "rest_read": OK, "rest_write": READ_ONLY, "websocket": READ_ONLY, "sse": OK,
        "long_poll": OK, "notes_socket": NOT_WRITTEN, "notes_rest": OK,
        "game_socket": READ_ONLY,
        "upload": READ_ONLY, "download": OK, "search": OK,
    },
    "device_key": {
        "rest_read": FORBIDDEN, "rest_write": FORBIDDEN, "websocket": REFUSED,
        "sse": FORBIDDEN, "long_poll": FORBIDDEN, "notes_socket": REFUSED,
        "notes_rest": FORBIDDEN, "game_socket": REFUSED,
        "upload": FORBIDDEN, "download": FORBIDDEN, "search": FORBIDDEN,
    },
    "expired_jwt": {
        "rest_read": UNAUTHENTICATED, "rest_write": UNAUTHENTICATED, "websocket": REFUSED,
        "sse": UNAUTHENTICATED, "long_poll": UNAUTHENTICATED, "notes_socket": REFUSED,
        "notes_rest": UNAUTHENTICATED, "game_socket": REFUSED,
        "upload": UNAUTHENTICATED, "download": UNAUTHENTICATED, "search": UNAUTHENTICATED,
    },
    "logged_out": {
        "rest_read": UNAUTHENTICATED, "rest_write": UNAUTHENTICATED, "websocket": REFUSED,
        "sse": UNAUTHENTICATED, "long_poll": UNAUTHENTICATED, "notes_socket": REFUSED,
        "notes_rest": UNAUTHENTICATED, "game_socket": REFUSED,
        "upload": UNAUTHENTICATED, "download": UNAUTHENTICATED, "search": UNAUTHENTICATED,
    },
    "over_rate": {
        "rest_read": READS_ONLY, "rest_write": RATE_LIMITED, "websocket": RATE_LIMITED,
        "sse": READS_ONLY, "long_poll": READS_ONLY,
        "notes_socket": NotApplicable("notes frames have their own per-socket frame budget"),
        "notes_rest": READS_ONLY,
        "game_socket": NotApplicable(
            "game frames have their own per-socket budget (SWITCHBOARD_GAME_FRAME_RATE): "
            "tests/games and tests/integration/test_games.py check its flood refusal"
        ),
        "upload": OWN_BUDGET, "download": READS_ONLY, "search": OWN_BUDGET,
    },
    "over_cap": {
        "rest_read": SHORT_LIVED, "rest_write": SHORT_LIVED, "websocket": REFUSED,
        "sse": OVER_CAP, "long_poll": OVER_CAP, "notes_socket": REFUSED,
        "notes_rest": SHORT_LIVED, "game_socket": REFUSED,
        "upload": SHORT_LIVED, "download": SHORT_LIVED, "search": SHORT_LIVED,
    },
}  # fmt: skip

# Every room-scoped URL and socket route, and the matrix transport whose answers it shares
# (its view asks the same policy verb). A new route must be placed here, or the test fails.
ROUTES = {
    "api/rooms/<slug:slug>/": "see (the room's metadata): rest_read for private rooms",
    "api/rooms/<slug:slug>/join/": "see, then chat.policy.require_join",
    "api/rooms/<slug:slug>/leave/": "see",
    "api/rooms/<slug:slug>/members/": "rest_read (GET); moderation (POST)",
    "api/rooms/<slug:slug>/messages/": "rest_read, rest_write, long_poll",
    "api/rooms/<slug:slug>/messages/<int:message_id>/": "rest_write (edit and delete)",
    "api/rooms/<slug:slug>/read/": "rest_read",
    "api/rooms/<slug:slug>/notes/": "notes_rest",
    "api/rooms/<slug:slug>/notes/versions/": "notes_rest (GET); owners (POST)",
    "api/rooms/<slug:slug>/notes/versions/<int:version_id>/restore/": "owners",
    r"api/^rooms/(?P<slug>[-\w]+)/(?P<action>ban|unban|kick|mute|unmute|role)/$": (
        "moderation: chat.policy.require_authority_over"
    ),
    "api/rooms/<slug:slug>/messages/<int:message_id>/replies/": "rest_read",
    "api/rooms/<slug:slug>/messages/<int:message_id>/reactions/": (
        "rest_write (the post verb): test_conversation_writes_follow_the_post_rule"
    ),
    "api/rooms/<slug:slug>/attachments/": "upload",
    "api/rooms/<slug:slug>/attachments/<int:attachment_id>/": "download",
    "api/rooms/<slug:slug>/attachments/<int:attachment_id>/thumbnail/": (
        "download (the same view and selector)"
    ),
    "sse/rooms/<slug:slug>/": "sse",
    "rooms/<slug:slug>/": "the page: see, then read (a banned page otherwise)",
    "ws/rooms/<slug:slug>/": "websocket",
    "ws/rooms/<slug:slug>/notes/": "notes_socket",
    "api/rooms/<slug:slug>/games/": (
        "rest_read (GET: chat.policy.room_to_read), rest_write (POST: room_to_post)"
    ),
}

# The routes of a room's games, reached by game id (games.selectors.game_to_read asks
# chat.policy.require_read of the game's room): each placed like a room route.
GAME_ROUTES = {
    "api/games/leaderboard/": "rest_read (?room=<slug>: chat.policy.room_to_read)",
    "api/games/<int:game_id>/": "rest_read of the game's room (game_to_read; hidden: 404)",
    "games/<int:game_id>/": "the page: rest_read of the game's room (404 otherwise)",
    "ws/games/<int:game_id>/": "game_socket (read to connect and watch; post to join and play)",
}


def test_matrix_is_complete():
    """Every rule has an answer for every transport: a new rule or transport fills its row."""
    assert set(MATRIX) == set(RULES)
    for rule, row in MATRIX.items():
        assert set(row) == set(TRANSPORTS), f"{rule}: {set(TRANSPORTS) ^ set(row)}"


def test_every_game_route_is_placed():
    from games.routing import websocket_urlpatterns as games_ws

    routes = _routes(get_resolver().url_patterns) + _routes(games_ws)
    game_routes = {
        route
        for route in routes
        if "games/" in route and "rooms/" not in route and not route.startswith("admin/")
    }
    assert game_routes == set(GAME_ROUTES), (
        f"unplaced game routes: {game_routes ^ set(GAME_ROUTES)}"
    )


def _routes(patterns, prefix: str = "") -> list[str]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append(route)
    return found


def test_every_room_route_is_in_the_matrix():
    from chat.routing import websocket_urlpatterns as chat_ws
    from config.asgi import application  # noqa: F401 - the routes the server really serves

    routes = _routes(get_resolver().url_patterns) + _routes(chat_ws)
    room_routes = {
        route
        for route in routes
        if "rooms/" in route and ("<slug:slug>" in route or "(?P<slug>" in route)
    }
    assert room_routes == set(ROUTES), (
        "room routes not placed in the transport matrix (or placed but gone): "
        f"{room_routes ^ set(ROUTES)}"
    )


# --- the probes ----------------------------------------------------------------------------


@dataclass
class Caller:
    """How one caller authenticates: a browser session, a Bearer token or a device key."""

    account: Account | None = None
    authorization: str | None = None

    def http(self, server) -> httpx.AsyncClient:
        cookies, headers = {}, {"Referer": f"{server.http}/"}
        if self.account is not None:
            cookies = {"sessionid": self.account.sessionid, "csrftoken": self.account.csrftoken}
            headers["X-CSRFToken"] = self.account.csrftoken
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        return httpx.AsyncClient(
            base_url=server.http, cookies=cookies, headers=headers, timeout=HTTP_TIMEOUT,
            trust_env=False,
        )  # fmt: skip

    def socket_headers(self) -> dict[str, str]:
        headers = {}
        if self.account is not None:
            headers["Cookie"] = f"sessionid={self.account.sessionid}"
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        return headers


def _http_outcome(response: httpx.Response) -> str:
    if response.status_code in (200, 201):
        return OK
    if response.status_code == 429:
        code = response.json().get("code")
        assert response.headers.get("Retry-After"), "a 429 says when to retry"
        return OVER_CAP if code == "too_many_connections" else RATE_LIMITED
    if response.status_code == 403:
        code = response.json().get("code")
        return {"muted": MUTED}.get(code, FORBIDDEN)
    return str(response.status_code)


async def game_socket(stack: Stack, caller: Caller, game_id: int) -> str:
    try:
        ws = await connect_socket(
            stack.one, f"/ws/games/{game_id}/", headers=caller.socket_headers()
        )
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return REFUSED
    async with ws:
        assert (await recv_json(ws))["type"] == "state"
        await ws.send(json.dumps({"type": "join"}))
        while True:
            frame = await recv_json(ws)
            if frame["type"] == "state" and frame["you"] is not None:
                return OK
            if frame["type"] == "error":
                if frame["code"] == "forbidden" and "archived" in frame["detail"]:
                    return READ_ONLY
                return {"muted": MUTED}.get(frame["code"], frame["code"])


async def rest_read(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.two) as client:
        return _http_outcome(await client.get(f"/api/rooms/{slug}/messages/"))


async def rest_write(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.one) as client:
        response = await client.post(
            f"/api/rooms/{slug}/messages/", json={"body": "over REST", "client_id": _cid()}
        )
    outcome = _http_outcome(response)
    if outcome == FORBIDDEN and "archived" in response.json()["detail"]:
        return READ_ONLY
    return outcome


async def websocket(stack: Stack, caller: Caller, slug: str) -> str:
    try:
        ws = await connect_socket(stack.two, f"/ws/rooms/{slug}/", headers=caller.socket_headers())
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return REFUSED
    async with ws:
        assert (await recv_json(ws))["type"] == "hello"
        client_id = _cid()
        await ws.send(json.dumps({"type": "message.send", "body": "hi", "client_id": client_id}))
        while True:
            frame = await recv_json(ws)
            if frame["type"] == "message" and frame["message"]["client_id"] == client_id:
                return OK
            if frame["type"] == "error":
                if frame["code"] == "forbidden" and "archived" in frame["detail"]:
                    return READ_ONLY
                return {"muted": MUTED, "rate_limited": RATE_LIMITED}.get(
                    frame["code"], frame["code"]
                )


async def sse(stack: Stack, caller: Caller, slug: str) -> str:
    async with (
        caller.http(stack.one) as client,
        client.stream("GET", f"/sse/rooms/{slug}/", params={"after_seq": 0}) as response,
    ):
        if response.status_code != 200:
            await response.aread()
            return _http_outcome(response)
        async for event in sse_events(response):
            assert event.event == "message"  # the room's history replays first
            return OK
    raise AssertionError("the stream ended before replaying the room's history")


async def long_poll(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.two) as client:
        response = await client.get(
            f"/api/rooms/{slug}/messages/", params={"after_seq": 0, "wait": 1}
        )
    return _http_outcome(response)


async def notes_socket(stack: Stack, caller: Caller, slug: str, reader: Account) -> str:
    marker = f"note-{uuid.uuid4().hex[:8]}"
    try:
        ws = await connect_socket(
            stack.one, f"/ws/rooms/{slug}/notes/", headers=caller.socket_headers()
        )
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return REFUSED
    async with NotesEditor(ws) as editor:
        await editor.y.start()
        await editor.edit(lambda text: text.insert(len(text), marker))
        await editor.flushed()
    # Read back on the other process, by a member: is the write in the stored document?
    async with Rest(stack.two, reader) as rest:
        text = (await rest.notes(slug))["text"]
    return OK if marker in text else NOT_WRITTEN


async def notes_rest(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.two) as client:
        return _http_outcome(await client.get(f"/api/rooms/{slug}/notes/"))


async def upload(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.one) as client:
        response = await client.post(
            f"/api/rooms/{slug}/attachments/", files={"file": ("probe.txt", b"a probe")}
        )
    outcome = _http_outcome(response)
    if outcome == FORBIDDEN and "archived" in response.json()["detail"]:
        return READ_ONLY
    return outcome


async def download(stack: Stack, caller: Caller, slug: str, file_url: str) -> str:
    async with caller.http(stack.two) as client:
        response = await client.get(file_url)
    if response.status_code == 200:
        assert response.content == FILE_CONTENT
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    return _http_outcome(response)


async def search(stack: Stack, caller: Caller, slug: str) -> str:
    async with caller.http(stack.two) as client:
        response = await client.get("/api/search/", params={"q": HISTORY, "limit": 50})
    outcome = _http_outcome(response)
    if outcome != OK:
        return outcome
    return OK if slug in {hit["room"]["slug"] for hit in response.json()} else NOT_SHOWN


def _cid() -> str:
    return str(uuid.uuid4())


# --- the rules: a caller in that situation, in a room with history --------------------------


@dataclass
class Situation:
    slug: str
    caller: Caller
    owner: Account
    reader: Account  # a member who can read the notes back
    file_url: str  # an attachment of the room's history
    held: list[Any] = field(default_factory=list)  # sockets and streams kept open (over_cap)
    game_id: int | None = None  # a game of the room (made before the rule applies)


CAP = 3  # the matrix stack's SWITCHBOARD_MAX_SOCKETS_PER_USER
SEND_RATE = 3  # and its SWITCHBOARD_CHAT_SEND_RATE per minute


@pytest.fixture(scope="module")
def matrix_stack(sqlite_stack: Stack):
    settings = {**UNLIMITED, "SWITCHBOARD_CHAT_SEND_RATE": f"{SEND_RATE}/minute",
                "SWITCHBOARD_MAX_SOCKETS_PER_USER": str(CAP)}  # fmt: skip
    with derived_stack(sqlite_stack, **settings) as stack:
        yield stack


HISTORY = "the history every reader is replayed"
FILE_CONTENT = b"a file of the room's history"


async def _history(rest: Rest, slug: str) -> str:
    """The room's history: one message with a file; returns the file's url."""
    response = await rest.client.post(
        f"/api/rooms/{slug}/attachments/", files={"file": ("history.txt", FILE_CONTENT)}
    )
    assert response.status_code == 201, response.text
    file = response.json()
    response = await rest.client.post(
        f"/api/rooms/{slug}/messages/", json={"body": HISTORY, "attachments": [file["id"]]}
    )
    assert response.status_code == 201, response.text
    return file["url"]


async def _room(stack: Stack, *, private: bool, members: list[Account]) -> tuple[str, Account, str]:
    (owner,) = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        slug = (await rest.create_room(is_private=private))["slug"]
        file_url = await _history(rest, slug)
        for member in members:
            await rest.add_member(slug, member.username)
    return slug, owner, file_url


@contextlib.asynccontextmanager
async def situation(
    stack: Stack, rule: str, *, with_game: bool = False
) -> AsyncIterator[Situation]:
    (subject,) = await stack.login(1)
    if rule == "dm_outsider":
        async with _dm_outsider(stack, subject, with_game=with_game) as s:
            yield s
        return
    private = rule in {"member", "outsider", "removed", "archived", "device_key", "expired_jwt",
                       "logged_out", "over_cap"}  # fmt: skip
    members = [] if rule == "outsider" else [subject]
    slug, owner, file_url = await _room(stack, private=private, members=members)
    caller = Caller(account=subject)
    reader = subject
    held: list[Any] = []
    game_id = None
    async with Rest(stack.one, owner) as rest:
        if with_game:
            game = await rest.post(f"/api/rooms/{slug}/games/", {"kind": "cycles"}, 201)
            game_id = game["id"]
        if rule == "outsider":
            reader = owner
        elif rule == "removed":
            await rest.moderate(slug, "kick", subject.username)
            reader = owner
        elif rule == "banned":
            await rest.moderate(slug, "ban", subject.username)
            reader = owner
        elif rule == "muted":
            await rest.moderate(slug, "mute", subject.username, minutes=10)
        elif rule == "archived":
            response = await rest.client.patch(f"/api/rooms/{slug}/", json={"is_archived": True})
            assert response.status_code == 200, response.text
        elif rule == "device_key":
            device = await rest.create_device("matrix device")
            caller = Caller(authorization=f"Api-Key {device['api_key']}")
            reader = owner
        elif rule == "expired_jwt":
            tokens = await obtain_token(stack.one, subject.username)
            token = AccessToken(tokens["access"])
            token.set_exp(lifetime=-timedelta(minutes=1))
            caller = Caller(authorization=f"Bearer {token}")
        elif rule == "logged_out":
            async with Rest(stack.one, subject) as own:
                response = await own.client.post("/accounts/logout/")
                assert response.status_code in (200, 302)
        elif rule == "over_rate":
            # The budget is spent half over REST and half over a socket: one limiter counts both.
            async with Rest(stack.two, subject) as own:
                await own.post_message(slug, "one")
            async with await ChatClient.open(stack.one, subject, slug) as client:
                for _ in range(SEND_RATE - 1):
                    await client.send_message("more")
                await client.messages(SEND_RATE - 1)
        elif rule == "over_cap":
            for server in (stack.one, stack.two, stack.one)[:CAP]:
                held.append(await ChatClient.open(server, subject, slug))
    try:
        yield Situation(slug, caller, owner, reader, file_url, held, game_id)
    finally:
        for client in held:
            await client.close()


@contextlib.asynccontextmanager
async def _dm_outsider(
    stack: Stack, subject: Account, *, with_game: bool
) -> AsyncIterator[Situation]:
    """A direct conversation of two other people, with history (and a game when asked for);
    `subject` is not in it."""
    owner, partner = await stack.login(2)
    game_id = None
    async with Rest(stack.one, owner) as rest:
        dm = await rest.post("/api/dms/", {"usernames": [partner.username]}, expect=201)
        file_url = await _history(rest, dm["slug"])
        if with_game:
            game = await rest.post(f"/api/rooms/{dm['slug']}/games/", {"kind": "cycles"}, 201)
            game_id = game["id"]
    yield Situation(dm["slug"], Caller(account=subject), owner, owner, file_url, game_id=game_id)


@pytest.mark.parametrize("rule", RULES)
async def test_matrix(matrix_stack: Stack, rule: str):
    """Each rule gives the same answer on every transport, across two processes."""
    got, expected = {}, {}
    for transport in TRANSPORTS:
        cell = MATRIX[rule][transport]
        if isinstance(cell, NotApplicable):
            continue
        expected[transport] = cell
        # A fresh situation per transport: one probe's send must not change the next one's.
        async with situation(matrix_stack, rule, with_game=transport == "game_socket") as s:
            probe = globals()[transport]
            if transport == "game_socket":
                got[transport] = await probe(matrix_stack, s.caller, s.game_id)
            elif transport == "notes_socket":
                got[transport] = await probe(matrix_stack, s.caller, s.slug, s.reader)
            elif transport == "download":
                got[transport] = await probe(matrix_stack, s.caller, s.slug, s.file_url)
            else:
                got[transport] = await probe(matrix_stack, s.caller, s.slug)
    assert got == expected


# --- open streams end when the rule starts to apply ------------------------------------------


async def _stream_ended(response: httpx.Response) -> None:
    async for _ in sse_events(response):
        pass  # replay and keepalives; the loop ends when the server ends the stream


@pytest.mark.parametrize("rule", ["banned", "removed", "logged_out"])
async def test_open_streams_end_when_the_rule_starts_to_apply(roomy_stack: Stack, rule: str):
    """A socket, a notes socket, an SSE stream and a long poll, open on both processes, all
    end within seconds of the ban, the kick or the logout, and reopening them is refused."""
    stack = roomy_stack
    (subject,) = await stack.login(1)
    slug, owner, _ = await _room(stack, private=rule != "banned", members=[subject])
    caller = Caller(account=subject)
    expected_code = 4001 if rule == "logged_out" else 4003
    async with (
        await ChatClient.open(stack.one, subject, slug) as chat,
        await NotesEditor.open(stack.two, subject, slug) as notes,
        caller.http(stack.two) as client,
        client.stream("GET", f"/sse/rooms/{slug}/") as stream,
    ):
        assert stream.status_code == 200
        last_seq = chat.hello["last_seq"]
        poll = asyncio.create_task(
            client.get(f"/api/rooms/{slug}/messages/", params={"after_seq": last_seq, "wait": 25})
        )
        async with Rest(stack.one, owner) as rest:
            await _until_polling(stack, chat.hello["user"]["id"])
            if rule == "banned":
                await rest.moderate(slug, "ban", subject.username)
            elif rule == "removed":
                await rest.moderate(slug, "kick", subject.username)
        if rule == "logged_out":
            async with Rest(stack.one, subject) as own:
                assert (await own.client.post("/accounts/logout/")).status_code in (200, 302)
        async with asyncio.timeout(5):
            assert await close_code(chat.ws) == expected_code
            assert await close_code(notes.ws) == expected_code
            await _stream_ended(stream)
            answered = await poll
    refused = UNAUTHENTICATED if rule == "logged_out" else MATRIX[rule]["long_poll"]
    assert _http_outcome(answered) == refused
    assert await long_poll(stack, caller, slug) == refused
    assert await websocket(stack, caller, slug) == REFUSED


async def _until_polling(stack: Stack, user_id: int) -> None:
    """Wait until the long poll holds its slot: the user's cap entries in Redis say so."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        async with asyncio.timeout(5):
            while True:
                # The chat socket, the notes socket, the SSE stream and the long poll.
                if await client.zcard(f"sb:sockets:user:{user_id}") >= 4:
                    return
                await asyncio.sleep(0.05)  # noqa: sleep-ok (polling Redis, which has no event to await)
    finally:
        await client.aclose()


# --- conversation writes (CONTRACT.md §9) follow the post rule on every path -----------------


async def _target_message(stack: Stack, s: Situation) -> int:
    async with Rest(stack.one, s.owner) as rest:
        return (await rest.history(s.slug))[0]["id"]


async def reaction_rest(stack: Stack, s: Situation, message_id: int) -> str:
    async with s.caller.http(stack.two) as client:
        response = await client.post(
            f"/api/rooms/{s.slug}/messages/{message_id}/reactions/", json={"emoji": "👍"}
        )
    outcome = _http_outcome(response)
    if outcome == FORBIDDEN and "archived" in response.json()["detail"]:
        return READ_ONLY
    return outcome


async def reaction_socket(stack: Stack, s: Situation, message_id: int) -> str:
    try:
        ws = await connect_socket(stack.one, f"/ws/rooms/{s.slug}/",
                                  headers=s.caller.socket_headers())  # fmt: skip
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return REFUSED
    async with ws:
        assert (await recv_json(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "reaction.add", "id": message_id, "emoji": "🎉"}))
        while True:
            frame = await recv_json(ws)
            if frame["type"] == "reactions" and frame["id"] == message_id:
                return OK
            if frame["type"] == "error":
                if frame["code"] == "forbidden" and "archived" in frame["detail"]:
                    return READ_ONLY
                return {"muted": MUTED}.get(frame["code"], frame["code"])


async def reply_rest(stack: Stack, s: Situation, message_id: int) -> str:
    async with s.caller.http(stack.one) as client:
        response = await client.post(
            f"/api/rooms/{s.slug}/messages/", json={"body": "re", "reply_to": message_id}
        )
    outcome = _http_outcome(response)
    if outcome == FORBIDDEN and "archived" in response.json()["detail"]:
        return READ_ONLY
    return outcome


async def replies_rest(stack: Stack, s: Situation, message_id: int) -> str:
    async with s.caller.http(stack.two) as client:
        return _http_outcome(
            await client.get(f"/api/rooms/{s.slug}/messages/{message_id}/replies/")
        )


CONVERSATION_PROBES = (reaction_rest, reaction_socket, reply_rest, replies_rest)
CONVERSATION_MATRIX = {
    "member": (OK, OK, OK, OK),
    "dm_outsider": (HIDDEN, REFUSED, HIDDEN, HIDDEN),
    "muted": (MUTED, MUTED, MUTED, OK),
    "archived": (READ_ONLY, READ_ONLY, READ_ONLY, OK),
}


@pytest.mark.parametrize("rule", list(CONVERSATION_MATRIX))
async def test_conversation_writes_follow_the_post_rule(matrix_stack: Stack, rule: str):
    """Reactions (REST and socket) and replies are posts; the replies list is a read."""
    async with situation(matrix_stack, rule) as s:
        message_id = await _target_message(matrix_stack, s)
        got = tuple([await probe(matrix_stack, s, message_id) for probe in CONVERSATION_PROBES])
    assert got == CONVERSATION_MATRIX[rule]


# --- owner-only resources that are not rooms ---------------------------------------------------

# Alert channels (CONTRACT.md §11): their owner reaches them; anyone else finds nothing (404, as
# a private room); a device key, which reaches ingestion only, is refused; a caller without
# credentials is asked for them. A new alert-channel route must be placed here.
OWNER_ROUTES = {
    "api/alert-channels/": "the caller's own (GET, POST)",
    "api/alert-channels/<int:channel_id>/": "owner (GET, DELETE)",
    "api/alert-channels/<int:channel_id>/deliveries/": "owner (GET)",
    "api/alert-channels/<int:channel_id>/test/": "owner (POST)",
}


def test_every_alert_channel_route_is_placed():
    routes = {
        route
        for route in _routes(get_resolver().url_patterns)
        if route.startswith("api/alert-channels")  # the page, /alert-channels/, is a page's
    }
    assert routes == set(OWNER_ROUTES), routes ^ set(OWNER_ROUTES)


async def test_alert_channels_answer_their_owner_only(matrix_stack: Stack):
    owner, stranger = await matrix_stack.login(2)
    async with Rest(matrix_stack.one, owner) as rest:
        channel = await rest.post(
            "/api/alert-channels/", {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, 201
        )
        device = await rest.create_device("matrix sensor")
    base = f"/api/alert-channels/{channel['id']}/"
    probes = [("GET", base), ("GET", base + "deliveries/"), ("POST", base + "test/")]
    callers = {
        "owner": Caller(owner),
        "stranger": Caller(stranger),
        "device_key": Caller(authorization=f"Api-Key {device['api_key']}"),
        "anonymous": Caller(),
    }
    expected = {"owner": {200, 202}, "stranger": {404}, "device_key": {403}, "anonymous": {401}}
    got = {}
    for name, caller in callers.items():
        for server, (method, path) in zip(matrix_stack.servers * 2, probes, strict=False):
            async with caller.http(server) as client:
                got[name, method, path] = (await client.request(method, path)).status_code
    wrong = {key: code for key, code in got.items() if code not in expected[key[0]]}
    assert not wrong, wrong
    async with callers["stranger"].http(matrix_stack.two) as client:
        assert (await client.get("/api/alert-channels/")).json() == []
        assert (await client.delete(base)).status_code == 404
