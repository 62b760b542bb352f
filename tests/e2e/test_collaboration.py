"""Working together in a room, as people see it: presence, typing, edits and deletes, mentions,
unread messages, moderation, and a connection that comes and goes. Real Chromium, real Daphne."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.helpers import (
    ROOM_SOCKET,
    HeldSockets,
    api_post,
    api_request,
    connection,
    create_room,
    expect_delivered,
    expect_exactly_once,
    join_room,
    log_in,
    message_items,
    messages,
    open_home,
    open_room,
    send_with_enter,
    two_people_in_a_room,
)

pytestmark = pytest.mark.browser

SENDING = re.compile(r"\bsending\b")


def online_people(page: Page):
    return page.get_by_role("list", name="Online").get_by_role("listitem")


def toast(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def message_menu(page: Page, text: str):
    """The "Message actions" button of the message containing `text`."""
    return message_items(page, text).get_by_role("button", name="Message actions")


def test_presence_lists_who_opens_the_room_and_drops_who_leaves(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Presence")
    open_room(alice, slug)
    expect(online_people(alice)).to_have_count(1)
    expect(online_people(alice).filter(has_text="alice")).to_contain_text("(you)")

    open_room(bob, slug)
    expect(online_people(alice).filter(has_text="bob")).to_be_visible()
    expect(online_people(alice)).to_have_count(2)
    expect(online_people(bob)).to_have_count(2)

    bob.close()
    expect(online_people(alice).filter(has_text="bob")).to_have_count(0)
    expect(online_people(alice)).to_have_count(1)


def test_typing_shows_for_the_others_and_clears(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Typing")
    open_room(alice, slug)
    open_room(bob, slug)
    typing = alice.get_by_text("bob is typing…")
    box = bob.get_by_role("textbox", name="Message")

    box.press_sequentially("Let me th")
    expect(typing).to_be_visible()
    expect(bob.get_by_text("is typing")).to_be_hidden()  # never one's own
    # Nothing more comes: the line goes by itself after about five seconds.
    expect(typing).to_be_hidden()

    box.press_sequentially("ink about it")
    expect(typing).to_be_visible()
    box.press("Enter")
    expect_delivered(alice, "Let me think about it")
    # Bob's message arrived: the line goes at once, well before its timeout.
    expect(typing).to_be_hidden(timeout=2_000)


def test_edit_and_delete_from_the_menu_are_seen_live_and_kept(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Edits")
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(alice, "The deploy is at 3pm")
    send_with_enter(alice, "Oops, wrong room")
    expect_delivered(bob, "Oops, wrong room")
    # Bob is an ordinary member: Alice's messages are not his to change.
    expect(messages(bob).get_by_role("button", name="Message actions")).to_have_count(0)

    # Edit with the keyboard only: the menu button, Enter, Enter on "Edit", type, Enter.
    actions = message_menu(alice, "The deploy is at 3pm")
    actions.focus()
    actions.press("Enter")
    expect(alice.get_by_role("menu")).to_be_visible()
    expect(alice.get_by_role("menuitem", name="Edit")).to_be_focused()
    alice.keyboard.press("Enter")
    editor = alice.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill("The deploy is at 4pm")
    editor.press("Enter")
    expect(editor).to_be_hidden()

    # Delete with the pointer, confirmed in a dialog.
    message_items(alice, "Oops, wrong room").hover()
    message_menu(alice, "Oops, wrong room").click()
    alice.get_by_role("menuitem", name="Delete").click()
    dialog = alice.get_by_role("dialog", name="Delete this message?")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()

    for page in (alice, bob):
        edited = message_items(page, "The deploy is at 4pm")
        expect(edited).to_have_count(1)
        expect(edited).to_contain_text("(edited)")
        expect(message_items(page, "at 3pm")).to_have_count(0)
        expect(message_items(page, "This message was deleted.")).to_have_count(1)
        expect(message_items(page, "wrong room")).to_have_count(0)

    bob.reload()
    expect(connection(bob)).to_have_text("Live")
    expect(message_items(bob)).to_have_count(2)  # the tombstone keeps its place
    expect(message_items(bob).nth(0)).to_contain_text("The deploy is at 4pm")
    expect(message_items(bob).nth(0)).to_contain_text("(edited)")
    expect(message_items(bob).nth(1)).to_contain_text("This message was deleted.")
    expect(messages(bob).get_by_role("separator", name="Today")).to_have_count(1)
    expect(message_items(bob).nth(0).locator("time")).to_have_text("just now")


def test_messages_typed_offline_are_delivered_once_and_missed_edits_arrive(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Offline")
    sockets = HeldSockets(hold=False)
    alice.route_web_socket(ROOM_SOCKET, sockets)
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(bob, "Before the tunnel")
    expect_delivered(alice, "Before the tunnel")

    alice.context.set_offline(True)
    sockets.hold = True  # and the socket to come stays unconnected until release()
    sockets.drop_current()
    expect(connection(alice)).to_have_text("Offline")
    expect(alice.get_by_text("You're offline.")).to_be_visible()
    send_with_enter(alice, "First, typed in the tunnel")
    send_with_enter(alice, "Second, typed in the tunnel")
    expect(message_items(alice, "in the tunnel")).to_have_count(2)
    for text in ("First, typed", "Second, typed"):
        expect(message_items(alice, text)).to_have_class(SENDING)

    # Meanwhile Bob corrects his message; Alice's page must learn of it when she is back.
    message_items(bob, "Before the tunnel").hover()
    message_menu(bob, "Before the tunnel").click()
    bob.get_by_role("menuitem", name="Edit").click()
    editor = bob.get_by_role("textbox", name="Edit message")
    editor.fill("Before the long tunnel")
    editor.press("Enter")
    expect(message_items(bob, "Before the long tunnel")).to_contain_text("(edited)")

    alice.context.set_offline(False)
    expect(connection(alice)).to_have_text("Reconnecting…")
    sockets.release()
    expect(connection(alice)).to_have_text("Live")
    expect(alice.get_by_text("You're offline.")).to_be_hidden()
    expect_exactly_once(alice, bob, "First, typed in the tunnel")
    expect_exactly_once(alice, bob, "Second, typed in the tunnel")
    expect(message_items(bob)).to_contain_text(
        ["Before the long tunnel", "First, typed", "Second, typed"]
    )
    expect(message_items(alice, "Before the long tunnel")).to_contain_text("(edited)")


def test_mention_autocomplete_inserts_the_username(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Autocomplete")
    join_room(bob, slug)
    carol = new_page()
    log_in(carol, "carol")
    join_room(carol, slug)
    open_room(alice, slug)
    box = alice.get_by_role("textbox", name="Message")
    suggestions = alice.get_by_role("listbox", name="People to mention")

    box.press_sequentially("Thanks @b")
    expect(suggestions.get_by_role("option")).to_have_text(["bob"])
    box.press("Enter")  # picks; does not send
    expect(box).to_have_value("Thanks @bob ")
    expect(suggestions).to_be_hidden()

    box.press_sequentially("and @")
    options = suggestions.get_by_role("option")
    expect(options).to_have_text(["bob", "carol"])  # members, not oneself
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("Tab")
    expect(box).to_have_value("Thanks @bob and @carol ")

    box.press_sequentially("@ca")
    expect(suggestions).to_be_visible()
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    expect(message_items(alice)).to_have_count(0)
    box.press("Enter")
    expect_delivered(alice, "Thanks @bob and @carol")
    expect(message_items(alice, "Thanks").locator(".mention")).to_have_text(["@bob", "@carol"])


def test_a_banned_member_sees_that_access_ended(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Bans")
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(bob, "Buy cheap watches")
    expect_delivered(alice, "Buy cheap watches")

    response = api_request(
        alice, "POST", f"/api/rooms/{slug}/ban/", {"username": "bob", "reason": "spam"}
    )
    assert response.status == 204, response.text()

    expect(bob.get_by_text("Your access to this room ended.")).to_be_visible()
    expect(connection(bob)).to_have_text("Access ended")
    expect(bob.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(bob.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    expect(bob.get_by_role("link", name="Back to all rooms")).to_be_visible()
    expect(online_people(alice).filter(has_text="bob")).to_have_count(0)

    bob.reload()
    expect(bob.get_by_role("heading", name="You no longer have access to Bans")).to_be_visible()


def test_moderators_mute_and_ban_from_the_people_list(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Moderation")
    open_room(alice, slug)
    open_room(bob, slug)
    # Bob has no say here: no moderation menus on his page.
    expect(bob.get_by_role("button", name="Moderate alice")).to_have_count(0)

    alice.get_by_role("button", name="Moderate bob").click()
    alice.get_by_role("menuitem", name="Mute for 10 minutes").click()
    expect(toast(alice, "bob is muted for 10 minutes.")).to_be_visible()

    send_with_enter(bob, "Can anyone hear me?")
    notice = bob.get_by_role("alert").filter(has_text="muted")
    expect(notice).to_contain_text("Your message was not sent.")
    expect(message_items(bob, "Can anyone hear me?")).to_contain_text("Not sent")

    alice.get_by_role("button", name="Moderate bob").click()
    alice.get_by_role("menuitem", name="Unmute").click()
    expect(toast(alice, "bob can send messages again.")).to_be_visible()
    message_items(bob, "Can anyone hear me?").get_by_role("button", name="Retry").click()
    expect_exactly_once(bob, alice, "Can anyone hear me?")
    expect(notice).to_be_hidden()

    alice.get_by_role("button", name="Moderate bob").click()
    alice.get_by_role("menuitem", name="Ban from room…").click()
    dialog = alice.get_by_role("dialog", name="Ban bob from Moderation?")
    dialog.get_by_label("Reason").fill("Shouting")
    dialog.get_by_role("button", name="Ban").click()
    expect(bob.get_by_text("Your access to this room ended.")).to_be_visible()
    expect(bob.get_by_role("textbox", name="Message")).to_be_disabled()


def test_unread_messages_are_marked_and_jumped_to_and_read_marks_follow_the_screen(new_page):
    writer = new_page()
    log_in(writer, "carol")
    slug = api_post(writer, "/api/rooms/", {"name": "Catch up"})["slug"]
    reader = new_page()
    log_in(reader, "dave")
    join_room(reader, slug)
    for n in range(1, 71):
        api_post(writer, f"/api/rooms/{slug}/messages/", {"body": f"update {n:02d}"})
    open_home(reader)
    expect(reader.get_by_label("70 unread")).to_be_visible()  # the home page's badge

    with reader.expect_websocket(lambda ws: "/ws/rooms/" in ws.url) as opened:
        reader.goto(f"/rooms/{slug}/")
    reads: list[int] = []

    def on_sent(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "read":
            reads.append(frame["seq"])

    opened.value.on("framesent", on_sent)
    expect(connection(reader)).to_have_text("Live")
    expect(message_items(reader)).to_have_count(50)
    bar = reader.get_by_text("70 unread messages")
    expect(bar).to_be_visible()

    # The newest messages are on screen: the read mark moves to the last one, once.
    if 70 not in reads:
        opened.value.wait_for_event("framesent", predicate=lambda p: '"read"' in str(p))
    assert reads == [70]

    reader.get_by_role("button", name="Jump to first unread").click()
    first = message_items(reader, "update 01")
    expect(first).to_be_in_viewport()
    expect(first).to_be_focused()
    expect(first.get_by_role("separator", name="Unread messages start here")).to_be_visible()
    expect(message_items(reader)).to_have_count(70)
    expect(bar).to_be_hidden()
    # Older messages came into view: the mark does not move back, and nothing more is sent.
    send_with_enter(reader, "All caught up")
    expect_delivered(reader, "All caught up")
    assert reads == [70]


def test_a_message_the_server_refuses_as_too_big_is_not_sent_again(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Too big")
    routes: list[WebSocketRoute] = []

    def server_with_a_smaller_limit(ws: WebSocketRoute) -> None:
        """Passes frames both ways, but closes the socket with 4009 on a frame marked BIG."""
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if "BIG:" in str(message):
                ws.close(code=4009, reason="Frame too big")
                server.close()
            else:
                server.send(message)

        ws.on_message(from_page)
        routes.append(ws)

    alice.route_web_socket(ROOM_SOCKET, server_with_a_smaller_limit)
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(alice, "BIG: " + "lorem ipsum " * 300)
    expect(message_items(alice, "BIG:")).to_contain_text("Not sent")
    expect(alice.get_by_text("This message is too large to send.")).to_be_visible()
    expect(connection(alice)).to_have_text("Live")

    send_with_enter(alice, "A shorter one")
    expect_delivered(bob, "A shorter one")
    expect(message_items(bob, "BIG:")).to_have_count(0)
    assert len(routes) == 2  # one reconnect, and the big frame was not sent on it


def test_signing_out_in_another_tab_ends_the_room_page(new_page):
    page = new_page()
    log_in(page, "carol")
    slug = create_room(page, "Sessions")
    open_room(page, slug)

    other_tab = page.context.new_page()
    other_tab.goto("/")
    other_tab.get_by_role("button", name="Log out").click()

    expect(page.get_by_text("You were signed out.")).to_be_visible()
    expect(connection(page)).to_have_text("Signed out")
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    page.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next=/rooms/{slug}/$"))
