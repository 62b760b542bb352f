"""A person's view of chat: two real browsers talking through a real Daphne process."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    DESKTOP,
    PASSWORD,
    PHONE,
    ROOM_SOCKET,
    HeldSockets,
    api_post,
    connection,
    create_room,
    expect_delivered,
    expect_exactly_once,
    log_in,
    message_items,
    messages,
    open_home,
    open_room,
    screenshot,
    send_with_button,
    send_with_enter,
    two_people_in_a_room,
)

pytestmark = pytest.mark.browser


def test_two_people_see_each_others_messages_live(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Live chat")
    open_room(alice, slug)
    open_room(bob, slug)
    for page, me in ((alice, "alice"), (bob, "bob")):
        online = page.get_by_role("list", name="Online")
        expect(online).to_have_count(1)
        expect(online.get_by_role("listitem").filter(has_text=me)).to_be_visible()

    send_with_enter(alice, "Hello from Alice")
    expect_delivered(bob, "Hello from Alice")
    expect_delivered(alice, "Hello from Alice")

    send_with_enter(bob, "Hi Alice, Bob here")
    expect_delivered(alice, "Hi Alice, Bob here")
    expect_delivered(bob, "Hi Alice, Bob here")

    send_with_button(bob, "This one went with the Send button")
    expect_delivered(alice, "This one went with the Send button")

    in_order = ["Hello from Alice", "Hi Alice, Bob here", "This one went with the Send button"]
    for page in (alice, bob):
        expect(message_items(page)).to_have_count(3)
        expect(message_items(page)).to_contain_text(in_order)
        expect(message_items(page).nth(0)).to_contain_text("alice")
        expect(message_items(page).nth(1)).to_contain_text("bob")


def test_markup_in_a_body_is_shown_as_text(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Markup")
    dialogs: list[str] = []
    for page in (alice, bob):
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        open_room(page, slug)

    payloads = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script><b>bold?</b>"]
    for payload in payloads:
        send_with_enter(alice, payload)
    for payload in payloads:
        item = message_items(bob, payload)
        expect(item).to_have_count(1)
        expect(item.get_by_text(payload, exact=True)).to_be_visible()
    # A message after them has arrived, so an <img> would have failed to load by now.
    expect_exactly_once(alice, bob, payloads[-1])
    for page in (alice, bob):
        for tag in ("img", "script", "b"):
            expect(messages(page).locator(tag)).to_have_count(0)
    assert dialogs == []


def test_a_message_typed_before_the_socket_is_ready_is_sent_once(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Queue")
    open_room(bob, slug)
    sockets = HeldSockets(hold=True)
    alice.route_web_socket(ROOM_SOCKET, sockets)
    alice.goto(f"/rooms/{slug}/")
    status = connection(alice)
    expect(status).to_have_text("Connecting…")

    text = "typed before the socket was ready"
    send_with_enter(alice, text)
    expect(message_items(alice, text)).to_have_class(re.compile(r"\bsending\b"))
    expect(status).to_have_text("Connecting…")

    sockets.release()
    expect(status).to_have_text("Live")
    expect_exactly_once(alice, bob, text)
    assert len(sockets.opened) == 1


def test_a_message_typed_right_after_navigation_is_sent_once(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Hurry")
    open_room(bob, slug)
    alice.goto(f"/rooms/{slug}/")
    # No waiting for "Live": the page queues whatever it gets before the server says hello.
    text = "typed the moment the page loaded"
    send_with_enter(alice, text)
    expect(connection(alice)).to_have_text("Live")
    expect_exactly_once(alice, bob, text)


def test_after_a_dropped_connection_the_page_catches_up_and_sends_what_was_typed(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Flaky network")
    sockets = HeldSockets(hold=False)
    alice.route_web_socket(ROOM_SOCKET, sockets)
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(bob, "before the drop")
    expect_delivered(alice, "before the drop")

    sockets.hold = True  # the reconnect waits until release()
    sockets.drop_current()
    status = connection(alice)
    expect(status).not_to_have_text("Live")
    send_with_enter(bob, "said while Alice was away")
    send_with_enter(alice, "typed while offline")
    expect(message_items(alice, "typed while offline")).to_have_class(re.compile(r"\bsending\b"))

    sockets.release()
    expect(status).to_have_text("Live")
    expect_delivered(alice, "said while Alice was away")
    expect_exactly_once(alice, bob, "typed while offline")
    expect(message_items(alice)).to_contain_text(
        ["before the drop", "said while Alice was away", "typed while offline"]
    )
    assert len(sockets.opened) == 2


def test_earlier_messages_load_on_request_above_the_recent_ones(new_page):
    writer = new_page()
    log_in(writer, "carol")
    slug = create_room(writer, "Long history", topic="Sixty messages deep")
    for n in range(1, 61):
        api_post(writer, f"/api/rooms/{slug}/messages/", {"body": f"history message {n:02d}"})

    reader = new_page()
    log_in(reader, "dave")
    open_room(reader, slug)
    items = message_items(reader)
    expect(items).to_have_count(50)  # the page starts from the recent backlog
    expect(items.first).to_contain_text("history message 11")
    expect(items.last).to_contain_text("history message 60")
    intro = reader.get_by_text("This is the very beginning of Long history")
    expect(intro).to_be_hidden()

    # Scrolling up to the top of the list loads what is above (infinite scroll).
    reader.get_by_role("list", name="Messages").hover()
    reader.mouse.wheel(0, -100_000)
    expect(items).to_have_count(60)
    expect(items.first).to_contain_text("history message 01")
    expect(items).to_contain_text([f"history message {n:02d}" for n in range(1, 61)])
    expect(intro).to_be_visible()
    expect(reader.get_by_role("button", name="Show earlier messages")).to_be_hidden()


def test_a_room_needs_login_and_login_returns_to_it(new_page):
    owner = new_page()
    log_in(owner, "alice")
    slug = create_room(owner, "Members only")

    visitor = new_page()
    visitor.goto(f"/rooms/{slug}/")
    expect(visitor).to_have_url(re.compile(rf"/accounts/login/\?next=/rooms/{slug}/$"))
    visitor.get_by_label("Username").fill("carol")
    visitor.get_by_label("Password").fill(PASSWORD)
    visitor.get_by_role("button", name="Log in").click()
    expect(visitor).to_have_url(re.compile(rf"/rooms/{slug}/$"))
    expect(visitor.get_by_role("heading", level=1)).to_contain_text("Members only")
    expect(connection(visitor)).to_have_text("Live")


def test_a_room_created_on_the_home_page_opens_and_is_listed(new_page):
    page = new_page()
    log_in(page, "dave")
    open_home(page)
    page.get_by_role("textbox", name="Name").fill("Design reviews")
    page.get_by_role("textbox", name="Topic").fill("Mockups and feedback")
    page.get_by_role("button", name="Create room").click()
    expect(page).to_have_url(re.compile(r"/rooms/[\w-]+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Design reviews")
    expect(connection(page)).to_have_text("Live")
    page.get_by_role("link", name="All rooms").first.click()
    mine = page.get_by_role("list", name="Your rooms")
    expect(mine.get_by_role("link").filter(has_text="Design reviews")).to_be_visible()


@pytest.mark.parametrize(
    ("device", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)], ids=["desktop", "phone"]
)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_the_screen_and_are_captured(new_page, device, viewport, scheme):
    phone = device == "phone"
    options = {"viewport": viewport, "color_scheme": scheme, "is_mobile": phone, "has_touch": phone}
    alice, bob, slug = two_people_in_a_room(new_page, f"Tour {device} {scheme}", **options)
    for page in (alice, bob):
        open_room(page, slug)
    send_with_enter(alice, "Morning! Is the deploy still on for 3pm?")
    expect_delivered(bob, "Is the deploy still on")
    send_with_enter(bob, "Yes. @alice I'll post the checklist here first.")
    send_with_enter(bob, "Release notes: https://example.com/releases/42")
    expect_delivered(alice, "Release notes")

    for page in (alice, bob):
        expect(page.get_by_role("textbox", name="Message")).to_be_visible()
        expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
        expect(page.get_by_role("list", name="Online")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(alice, f"room-{device}-{scheme}")

    alice.goto("/")
    expect(alice.get_by_role("list", name="Your rooms")).to_be_visible()
    assert alice.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(alice, f"home-{device}-{scheme}")
