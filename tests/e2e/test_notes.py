"""The room's shared notes as people use them (CONTRACT §8): two real Chromium pages editing one
Yjs document through a real Daphne, named cursors, owners' versions, the phone tabs."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, Page, WebSocketRoute, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.helpers import (
    DESKTOP,
    PHONE,
    api_request,
    create_room,
    join_room,
    log_in,
    messages,
    open_room,
    screenshot,
    send_with_enter,
)

pytestmark = pytest.mark.browser

NOTES_SOCKET = re.compile(r"/ws/rooms/[^/]+/notes/$")

# The editor's text as it is on screen: every line, without the other people's caret labels
# (widgets inside the lines) and the empty editor's placeholder.
SHOWN_TEXT = """() => {
  const content = document.querySelector('#notes-pane .cm-content');
  if (!content) return null;
  const copy = content.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret, .cm-placeholder').forEach((n) => n.remove());
  return [...copy.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\\n');
}"""


def notes_editor(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Notes", exact=True)


def notes_sync(page: Page) -> Locator:
    return page.get_by_role("status", name="Notes sync")


def open_notes(page: Page) -> None:
    """The "Notes" toggle in the room's header; the pane's socket is live after it."""
    toggle = page.get_by_role("button", name="Notes", exact=True)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("region", name="Notes")).to_be_visible()
    expect(notes_sync(page)).to_have_text("Live")


def expect_notes_text(page: Page, text: str) -> None:
    try:
        page.wait_for_function(
            f"expected => ({SHOWN_TEXT})() === expected", arg=text, timeout=10_000
        )
    except PlaywrightTimeoutError:
        raise AssertionError(f"the notes show {shown_text(page)!r}, not {text!r}") from None


def shown_text(page: Page) -> str:
    return page.evaluate(SHOWN_TEXT)


def caret_label(page: Page, username: str) -> Locator:
    """Another person's caret in the editor, labelled with their name (y-codemirror.next)."""
    return notes_editor(page).locator(".cm-ySelectionInfo").filter(has_text=username)


def expect_saved(page: Page, slug: str, text: str) -> None:
    """GET /api/rooms/<slug>/notes/ reads `text`. The Yjs protocol has no acknowledgements, so
    what the server has stored is only seen by asking it, until it says so or 10 s pass.
    (Not `wait_for_function` with an async predicate: Playwright takes the promise itself for
    a truthy answer, so that check passed at once, before anything was stored.)"""
    deadline = time.monotonic() + 10
    while True:
        stored = api_request(page, "GET", f"/api/rooms/{slug}/notes/").json()["text"]
        if stored == text:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the server stored {stored!r}, not {text!r}")
        page.wait_for_timeout(100)  # polling the server: the protocol sends no acknowledgement


def test_two_people_write_the_notes_together_and_see_each_others_cursor(new_page):
    alice = new_page(viewport=DESKTOP, color_scheme="light")
    bob = new_page(viewport=DESKTOP, color_scheme="dark")
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, "Launch plan", topic="Shipping the notes pane")
    join_room(bob, slug)
    open_room(alice, slug)
    open_room(bob, slug)
    send_with_enter(alice, "I started the agenda in the notes, add yours")
    send_with_enter(bob, "On it!")
    expect(messages(alice).get_by_text("On it!")).to_be_visible()

    open_notes(alice)
    open_notes(bob)
    expect(notes_editor(alice)).to_be_focused()  # the toggle hands focus to the editor
    alice.keyboard.type("Agenda\n- demo the shared notes")
    expect_notes_text(bob, "Agenda\n- demo the shared notes")
    expect(caret_label(bob, "alice")).to_be_visible()

    notes_editor(bob).click()
    bob.keyboard.press("Control+End")
    bob.keyboard.type("\n- bob reviews the tests")
    expected = "Agenda\n- demo the shared notes\n- bob reviews the tests"
    expect_notes_text(alice, expected)
    expect(caret_label(alice, "bob")).to_be_visible()
    expect(alice.get_by_role("list", name="Also in the notes")).to_contain_text("bob")

    # At either end, neither waiting for the other's edit to arrive: the pages converge.
    alice.keyboard.press("Control+Home")
    alice.keyboard.type("Launch ")
    bob.keyboard.press("Control+End")
    bob.keyboard.type(" (Friday)")
    expected = "Launch Agenda\n- demo the shared notes\n- bob reviews the tests (Friday)"
    expect_notes_text(alice, expected)
    expect_notes_text(bob, expected)
    assert shown_text(alice) == shown_text(bob) == expected
    expect_saved(alice, slug, expected)
    expect(caret_label(alice, "bob")).to_be_visible()
    expect(caret_label(bob, "alice")).to_be_visible()

    for page in (alice, bob):
        page.mouse.move(0, 0)  # no hover effect in the pictures
    screenshot(alice, "notes-desktop-light")
    screenshot(bob, "notes-desktop-dark")


class NotesLink:
    """Routes a page's notes sockets through Playwright, so a test can cut the connection the
    way a network failure does and refuse new ones until `restore()`."""

    def __init__(self) -> None:
        self.down = False
        self.live: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def __call__(self, ws: WebSocketRoute) -> None:
        if self.down:
            ws.close(code=1013, reason="the test keeps the network down")
            return
        self.live.append((ws, ws.connect_to_server()))

    def cut(self) -> None:
        self.down = True
        while self.live:
            page_side, server_side = self.live.pop()
            server_side.close()
            page_side.close(code=1012, reason="the test drops the connection")

    def restore(self) -> None:
        self.down = False


def test_edits_made_offline_merge_when_the_connection_is_back(new_page):
    alice, bob = new_page(), new_page()
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, "Flaky network")
    join_room(bob, slug)  # only members edit the notes
    link = NotesLink()
    bob.route_web_socket(NOTES_SOCKET, link)
    for page in (alice, bob):
        open_room(page, slug)
        open_notes(page)
    alice.keyboard.type("Shared start")
    expect_notes_text(bob, "Shared start")
    notes_editor(bob).click()
    bob.keyboard.press("Control+End")
    bob.keyboard.type(".")
    expect(caret_label(alice, "bob")).to_be_visible()

    link.cut()
    expect(notes_sync(bob)).to_have_text("Reconnecting…")
    expect(caret_label(alice, "bob")).to_have_count(0)  # the server cleared bob's cursor
    bob.keyboard.type(" Bob wrote this offline.")
    alice.keyboard.press("Control+Home")
    alice.keyboard.type("Meanwhile: ")
    expect_notes_text(alice, "Meanwhile: Shared start.")
    expect_notes_text(bob, "Shared start. Bob wrote this offline.")

    link.restore()
    expected = "Meanwhile: Shared start. Bob wrote this offline."
    expect(notes_sync(bob)).to_have_text("Live")
    expect_notes_text(bob, expected)
    expect_notes_text(alice, expected)
    expect_saved(alice, slug, expected)


def test_an_owner_saves_views_and_restores_a_version(new_page):
    alice, bob = new_page(color_scheme="dark"), new_page()
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, "Versions")
    join_room(bob, slug)
    for page in (alice, bob):
        open_room(page, slug)
        open_notes(page)
    # Only owners manage versions.
    expect(bob.get_by_role("button", name="Versions")).to_have_count(0)

    alice.keyboard.type("First draft")
    expect_notes_text(bob, "First draft")
    alice.get_by_role("button", name="Versions").click()
    versions = alice.get_by_role("dialog", name="Versions of the notes")
    expect(versions).to_be_visible()
    versions.get_by_label("Save the notes as they are now").fill("Draft one")
    versions.get_by_role("button", name="Save version").click()
    saved = versions.get_by_role("list", name="Saved versions").get_by_role("button")
    expect(saved).to_have_count(1)
    expect(saved).to_contain_text("Draft one")
    versions.get_by_role("button", name="Close versions").click()
    expect(versions).to_be_hidden()

    notes_editor(alice).click()
    alice.keyboard.press("Control+End")
    alice.keyboard.type(", then rewritten")
    expect_notes_text(bob, "First draft, then rewritten")

    alice.get_by_role("button", name="Versions").click()
    saved.filter(has_text="Draft one").click()
    preview = versions.get_by_role("region", name="Draft one")
    expect(preview.get_by_label("Text of this version")).to_have_text("First draft")
    screenshot(alice, "notes-versions-dark")
    preview.get_by_role("button", name="Restore this version").click()
    confirm = alice.get_by_role("dialog", name="Restore “Draft one”?")
    confirm.get_by_role("button", name="Restore").click()
    expect(versions).to_be_hidden()
    expect_notes_text(alice, "First draft")
    expect_notes_text(bob, "First draft")
    expect_saved(bob, slug, "First draft")


def test_on_a_phone_notes_are_a_tab_beside_messages(new_page):
    alice = new_page(viewport=PHONE)
    log_in(alice, "alice")
    slug = create_room(alice, "Pocket notes")
    open_room(alice, slug)
    send_with_enter(alice, "Notes are one tab away")
    tabs = alice.get_by_role("tablist", name="Room view")
    notes_tab = tabs.get_by_role("tab", name="Notes")
    messages_tab = tabs.get_by_role("tab", name="Messages")
    expect(messages_tab).to_have_attribute("aria-selected", "true")
    expect(alice.get_by_role("button", name="Notes", exact=True)).to_be_hidden()

    notes_tab.click()
    expect(notes_tab).to_have_attribute("aria-selected", "true")
    expect(notes_sync(alice)).to_have_text("Live")
    expect(messages(alice)).to_be_hidden()
    notes_editor(alice).click()
    alice.keyboard.type("Written on a phone")
    expect_notes_text(alice, "Written on a phone")
    screenshot(alice, "notes-phone-light")

    messages_tab.press("ArrowRight")  # arrow keys move between the tabs
    expect(notes_tab).to_be_focused()
    notes_tab.press("ArrowLeft")
    expect(messages_tab).to_have_attribute("aria-selected", "true")
    expect(messages(alice).get_by_text("Notes are one tab away")).to_be_visible()
    expect(alice.get_by_role("region", name="Notes")).to_be_hidden()
    expect_saved(alice, slug, "Written on a phone")


def test_an_archived_rooms_notes_are_read_only(new_page):
    alice = new_page()
    log_in(alice, "alice")
    slug = create_room(alice, "Old project")
    open_room(alice, slug)
    open_notes(alice)
    alice.keyboard.type("Kept for the record")
    expect_saved(alice, slug, "Kept for the record")
    response = api_request(alice, "PATCH", f"/api/rooms/{slug}/", {"is_archived": True})
    assert response.status == 200, response.text()

    alice.reload()  # the pane was open, so it opens again by itself
    expect(notes_sync(alice)).to_have_text("Live")
    expect(alice.get_by_text("This room is archived: its notes are read-only.")).to_be_visible()
    expect(notes_editor(alice)).to_have_attribute("aria-readonly", "true")
    notes_editor(alice).click()
    alice.keyboard.type("no more")
    expect_notes_text(alice, "Kept for the record")
    expect_saved(alice, slug, "Kept for the record")


def test_a_banned_persons_notes_stop_and_turn_read_only(new_page):
    alice, bob = new_page(), new_page()
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, "Notes bans")
    join_room(bob, slug)
    for page in (alice, bob):
        open_room(page, slug)
        open_notes(page)
    bob.keyboard.type("Buy cheap watches")
    expect(caret_label(alice, "bob")).to_be_visible()

    response = api_request(alice, "POST", f"/api/rooms/{slug}/ban/", {"username": "bob"})
    assert response.status == 204, response.text()
    expect(notes_sync(bob)).to_have_text("Access ended")  # 4003: no reconnecting
    notes = bob.get_by_role("region", name="Notes")
    expect(notes.get_by_text("Your access to this room ended.")).to_be_visible()
    expect(notes_editor(bob)).to_have_attribute("aria-readonly", "true")
    expect(caret_label(alice, "bob")).to_have_count(0)
