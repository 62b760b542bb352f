"""Where WebSockets are blocked, the room page carries on over Server-Sent Events and REST:
the same messages, edits and deletes, each stored once, and a plain word about what is missing.
Real Chromium, real Daphne; the block is Playwright's WebSocket routing, which closes every
socket before the server sees it, as a proxy that refuses upgrades does."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.helpers import (
    api_request,
    connection,
    expect_delivered,
    expect_exactly_once,
    message_items,
    open_room,
    send_with_enter,
    two_people_in_a_room,
)

pytestmark = pytest.mark.browser

ANY_SOCKET = re.compile(r"/ws/")
SENDING = re.compile(r"\bsending\b")
LIMITED = "Live (limited)"


class Firewall:
    """Routes a page's WebSockets through Playwright. `passing`: to the server, except frames
    from the server that `lose` picks (the connection then dies with them); `holding`: the page
    sees the socket open but the server never does, so no hello comes; `blocking`: closed at
    once, before the server sees it."""

    def __init__(self, mode: str = "blocking") -> None:
        self.mode = mode
        self.lose = lambda frame: False
        self.attempts = 0
        self.held: list[WebSocketRoute] = []

    def __call__(self, ws: WebSocketRoute) -> None:
        self.attempts += 1
        if self.mode == "blocking":
            ws.close(code=1011, reason="the test's proxy refuses WebSockets")
        elif self.mode == "holding":
            self.held.append(ws)
        else:
            self.connect(ws)

    def connect(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        alive = True

        def from_server(message: str | bytes) -> None:
            nonlocal alive
            if not alive:
                return
            if not (isinstance(message, str) and self.lose(json.loads(message))):
                ws.send(message)
                return
            # The frame is lost, and the connection with it; the next one is held.
            alive = False
            self.mode = "holding"
            server.close()
            ws.close(code=1012, reason="the test drops the connection")

        server.on_message(from_server)

    def block(self) -> None:
        self.mode = "blocking"
        while self.held:
            self.held.pop().close(code=1011, reason="the test's proxy refuses WebSockets")


def stored(page: Page, slug: str, body: str) -> int:
    """How many messages with this body the server has, as its REST history says."""
    response = api_request(page, "GET", f"/api/rooms/{slug}/messages/?limit=200")
    assert response.status == 200, response.text()
    return sum(message["body"] == body for message in response.json())


def message_menu(page: Page, text: str):
    item = message_items(page, text)
    item.hover()
    return item.get_by_role("button", name="Message actions")


def test_a_page_without_websockets_chats_over_the_fallback(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Behind a proxy")
    open_room(bob, slug)
    send_with_enter(bob, "Said before Alice came")
    expect_delivered(bob, "Said before Alice came")
    firewall = Firewall("blocking")
    alice.route_web_socket(ANY_SOCKET, firewall)

    with alice.expect_request(lambda request: f"/sse/rooms/{slug}/?after_seq=" in request.url):
        alice.goto(f"/rooms/{slug}/")
    expect(connection(alice)).to_have_text(LIMITED)
    expect(alice.get_by_text("Live updates via a fallback connection")).to_be_visible()
    expect(alice.get_by_text("Typing indicators and who's online are unavailable.")).to_be_visible()
    expect(alice.get_by_text("Who else is online is unavailable")).to_be_visible()
    expect_delivered(alice, "Said before Alice came")  # the backlog, over REST
    assert firewall.attempts >= 3

    with alice.expect_request(
        lambda request: (
            request.method == "POST" and request.url.endswith(f"/api/rooms/{slug}/messages/")
        )
    ):
        send_with_enter(alice, "Hello over plain HTTP")
    expect_delivered(alice, "Hello over plain HTTP")
    expect_delivered(bob, "Hello over plain HTTP")
    assert stored(bob, slug, "Hello over plain HTTP") == 1

    send_with_enter(bob, "Bob, on a socket")
    send_with_enter(bob, "Bob, about to be deleted")
    expect_delivered(alice, "Bob, on a socket")
    expect_delivered(alice, "Bob, about to be deleted")
    bobs = {
        m["body"]: m["id"] for m in api_request(bob, "GET", f"/api/rooms/{slug}/messages/").json()
    }
    edited = api_request(
        bob,
        "PATCH",
        f"/api/rooms/{slug}/messages/{bobs['Bob, on a socket']}/",
        {"body": "Bob, edited"},
    )
    assert edited.status == 200, edited.text()
    deleted = api_request(
        bob, "DELETE", f"/api/rooms/{slug}/messages/{bobs['Bob, about to be deleted']}/"
    )
    assert deleted.status == 204, deleted.text()
    expect(message_items(alice, "Bob, edited")).to_contain_text("(edited)")
    expect(message_items(alice, "Bob, on a socket")).to_have_count(0)
    expect(message_items(alice, "This message was deleted.")).to_have_count(1)
    expect(message_items(alice, "about to be deleted")).to_have_count(0)

    # Alice's own edit and delete go out over REST too.
    send_with_enter(alice, "Alice, with a typo")
    send_with_enter(alice, "Alice, wrong room")
    expect_delivered(bob, "Alice, wrong room")
    message_menu(alice, "Alice, with a typo").click()
    alice.get_by_role("menuitem", name="Edit").click()
    editor = alice.get_by_role("textbox", name="Edit message")
    editor.fill("Alice, without a typo")
    editor.press("Enter")
    expect(editor).to_be_hidden()
    message_menu(alice, "Alice, wrong room").click()
    alice.get_by_role("menuitem", name="Delete").click()
    alice.get_by_role("dialog", name="Delete this message?").get_by_role(
        "button", name="Delete"
    ).click()
    for page in (alice, bob):
        expect(message_items(page, "Alice, without a typo")).to_contain_text("(edited)")
        expect(message_items(page, "This message was deleted.")).to_have_count(2)
    expect_exactly_once(alice, bob, "Hello over plain HTTP")

    # When WebSockets get through again, the page goes back to one without losing anything.
    firewall.mode = "passing"
    expect(connection(alice)).to_have_text("Live", timeout=45_000)  # tried every 10 s or so
    expect(alice.get_by_text("Live updates via a fallback connection")).to_be_hidden()
    send_with_enter(bob, "Back on a socket")
    expect_delivered(alice, "Back on a socket")
    expect_exactly_once(alice, bob, "Alice, without a typo")
    expect(message_items(alice)).to_have_count(9)  # 7 sent above, and 2 markers


def test_messages_from_before_the_fallback_are_delivered_once(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Proxy arrives")
    firewall = Firewall("passing")
    alice.route_web_socket(ANY_SOCKET, firewall)
    open_room(alice, slug)
    open_room(bob, slug)

    # The first message reaches the server, but its acknowledgement is lost with the connection:
    # the page cannot tell it went out, and sends it again later with its client_id.
    unacknowledged = "Sent as the connection died"
    firewall.lose = lambda frame: frame.get("message", {}).get("body") == unacknowledged
    send_with_enter(alice, unacknowledged)
    expect(connection(alice)).not_to_have_text("Live")
    expect_delivered(bob, unacknowledged)
    expect(message_items(alice, unacknowledged)).to_have_class(SENDING)
    # The second is typed while the page is still trying its WebSocket.
    send_with_enter(alice, "Typed while reconnecting")
    expect(message_items(alice, "Typed while reconnecting")).to_have_class(SENDING)
    expect(connection(alice)).to_have_text(re.compile("Reconnecting|Connecting"))

    firewall.block()  # from here on every WebSocket is refused
    expect(connection(alice)).to_have_text(LIMITED)
    for text in (unacknowledged, "Typed while reconnecting"):
        expect_exactly_once(alice, bob, text)
        assert stored(bob, slug, text) == 1
    expect(message_items(bob)).to_contain_text([unacknowledged, "Typed while reconnecting"])
