"""Conversations in real Chromium (CONTRACT.md §9): a direct message, Markdown, replies from
the side panel and live reactions, between two browsers (alice and bob) kept for the module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import (
    DESKTOP,
    connection,
    expect_delivered,
    log_in,
    message_items,
    send_with_enter,
)

pytestmark = pytest.mark.browser


@dataclass
class People:
    alice: Page
    bob: Page
    errors: list[str] = field(default_factory=list)
    dm: str = ""  # the path of their conversation, once opened


@pytest.fixture(scope="module")
def people(browser: Browser, server) -> Iterator[People]:
    contexts = [browser.new_context(base_url=server.http, viewport=DESKTOP) for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    found = People(*pages)
    for page, name in zip(pages, ("alice", "bob"), strict=True):
        page.on("pageerror", lambda error: found.errors.append(str(error)))
        page.on("dialog", lambda dialog: found.errors.append(f"dialog: {dialog.message}"))
        log_in(page, name)
    yield found
    for context in contexts:
        context.close()
    assert found.errors == [], f"uncaught errors in the pages: {found.errors}"


def in_dm(people: People) -> People:
    """alice and bob, both on the page of their direct conversation."""
    if not people.dm:
        alice = people.alice
        alice.goto("/")
        alice.get_by_role("button", name="New message").click()
        dialog = alice.get_by_role("dialog", name="New message")
        dialog.get_by_label("To").fill("bob")
        dialog.get_by_role("button", name="Open conversation").click()
        expect(alice).to_have_url(re.compile(r"/rooms/dm-[0-9a-f]+/$"))
        people.dm = alice.url.removeprefix(alice.url.split("/rooms/")[0])
    for page in (people.alice, people.bob):
        if not page.url.endswith(people.dm):
            page.goto(people.dm)
        expect(connection(page)).to_have_text("Live")
    return people


def test_two_people_in_a_direct_conversation(people: People):
    alice, bob = people.alice, people.bob
    in_dm(people)
    expect(alice.get_by_role("heading", level=1)).to_contain_text("bob")
    send_with_enter(alice, "hi bob, just us here")
    expect_delivered(alice, "hi bob, just us here")  # stored before Bob looks
    # Bob finds it on his home page, apart from rooms, with its unread count.
    bob.goto("/")
    conversations = bob.get_by_role("list", name="Direct messages")
    link = conversations.get_by_role("link", name=re.compile("alice"))
    expect(link).to_contain_text("1")
    expect(link.get_by_label("1 unread")).to_be_visible()
    link.click()
    expect(connection(bob)).to_have_text("Live")
    expect(bob.get_by_role("heading", level=1)).to_contain_text("alice")
    expect(message_items(bob, "hi bob, just us here")).to_have_count(1)
    # The same set of people is the same conversation, opened from the Online list too.
    bob.get_by_role("list", name="Online").get_by_role("button", name="Message alice").click()
    expect(bob).to_have_url(re.compile(re.escape(people.dm) + "$"))


def test_markdown_renders_and_raw_html_stays_text(people: People):
    alice, bob = people.alice, people.bob
    in_dm(people)
    box = alice.get_by_role("textbox", name="Message")
    alice.get_by_role("button", name="Preview").click()
    box.fill("**previewed**")
    expect(alice.get_by_label("Preview").locator("strong")).to_have_text("previewed")
    send_with_enter(alice, "**bold** and `code()` see [the docs](https://example.com/d) <b>raw</b>")
    item = message_items(bob, "see the docs")
    expect(item.locator(".body strong")).to_have_text("bold")
    expect(item.locator(".body code")).to_have_text("code()")
    link = item.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("href", "https://example.com/d")
    expect(link).to_have_attribute("rel", "noopener nofollow")
    expect(item.get_by_text("<b>raw</b>")).to_be_visible()
    expect(item.locator(".body b")).to_have_count(0)
    alice.get_by_role("button", name="Preview").click()  # off again for the other tests


def test_replying_from_the_side_panel(people: People):
    alice, bob = people.alice, people.bob
    in_dm(people)
    send_with_enter(alice, "Which release goes out Friday?")
    parent = message_items(bob, "Which release goes out Friday?").first
    parent.hover()
    parent.get_by_role("button", name="Reply to alice").click()
    panel = bob.get_by_role("dialog", name="Replies")
    expect(panel).to_be_visible()
    reply_box = panel.get_by_role("textbox", name="Reply")
    expect(reply_box).to_be_focused()
    reply_box.fill("Release 2.4, tagged this morning")
    reply_box.press("Enter")
    expect(panel.get_by_role("list", name="Replies").get_by_role("listitem")).to_have_text(
        re.compile("Release 2.4, tagged this morning")
    )
    bob.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    # Alice sees the reply in the room, quoting its parent, and the parent's count.
    reply = message_items(alice, "Release 2.4")
    expect(reply.locator(".reply-quote")).to_contain_text("Which release goes out Friday?")
    count = message_items(alice, "Which release goes out Friday?").first.get_by_role(
        "button", name="1 reply"
    )
    expect(count).to_be_visible()
    count.click()
    alice_panel = alice.get_by_role("dialog", name="Replies")
    expect(alice_panel.get_by_role("listitem")).to_have_count(1)
    alice.keyboard.press("Escape")
    expect(alice_panel).to_be_hidden()
    expect(count).to_be_focused()


def test_reacting_is_live_in_the_other_browser(people: People):
    alice, bob = people.alice, people.bob
    in_dm(people)
    send_with_enter(alice, "Shipped the fix")
    mine = message_items(alice, "Shipped the fix")
    mine.hover()
    mine.get_by_role("button", name="Add reaction").click()
    picker = alice.get_by_role("dialog", name="Pick a reaction")
    picker.get_by_role("searchbox", name="Find an emoji").fill("rocket")
    expect(picker.get_by_role("gridcell", name="rocket", exact=True)).to_be_visible()
    picker.get_by_role("searchbox", name="Find an emoji").press("ArrowDown")
    expect(picker.get_by_role("gridcell").first).to_be_focused()
    alice.keyboard.press("Enter")
    expect(picker).to_be_hidden()
    theirs = message_items(bob, "Shipped the fix")
    chip = theirs.get_by_role("button", name=re.compile(r"^🚀 1: alice$"))
    expect(chip).to_be_visible()
    expect(chip).to_have_attribute("aria-pressed", "false")
    chip.click()  # bob joins in
    both = mine.get_by_role("button", name="🚀 2: alice, bob")
    expect(both).to_be_visible()
    expect(both).to_have_attribute("aria-pressed", "true")
    theirs.get_by_role("button", name="🚀 2: alice, bob").click()  # and takes it back
    expect(mine.get_by_role("button", name="🚀 1: alice")).to_be_visible()
