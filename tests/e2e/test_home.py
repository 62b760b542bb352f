"""The home page: room cards with their last message, and the search box that filters them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import api_post, create_room, log_in, open_room

pytestmark = pytest.mark.browser


def room_card(page: Page, section: str, name: str) -> Locator:
    """A room's card in "Your rooms" or "Public rooms" (its list item, which search hides)."""
    return page.get_by_role("list", name=section).get_by_role("listitem").filter(has_text=name)


def search_box(page: Page) -> Locator:
    return page.get_by_role("searchbox", name="Search rooms")


def test_a_person_logs_in_with_the_form_and_lands_on_the_home_page(new_page):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    log_in(page, "carol", fresh=True)  # the form: username, password, "Log in"
    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_room_cards_preview_the_last_message(new_page):
    alice, bob = new_page(), new_page()
    log_in(alice, "alice")
    log_in(bob, "bob")
    busy = create_room(alice, "Preview busy", topic="Where the talking happens")
    long_body = "<b>Ripe</b> & ready: " + "the tomatoes on the south side are turning red " * 6
    api_post(alice, f"/api/rooms/{busy}/messages/", {"body": "an older message"})
    api_post(alice, f"/api/rooms/{busy}/messages/", {"body": long_body})
    create_room(alice, "Preview quiet", topic="Nobody said anything yet")
    oops = create_room(alice, "Preview oops", topic="Second thoughts")
    api_post(alice, f"/api/rooms/{oops}/messages/", {"body": "a secret I should not share"})

    # Alice takes the last one back through the room page's message menu.
    open_room(alice, oops)
    item = alice.get_by_role("list", name="Messages").get_by_role("listitem").first
    item.hover()
    item.get_by_role("button", name="Message actions").click()
    alice.get_by_role("menuitem", name="Delete").click()
    alice.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(item).to_contain_text("This message was deleted.")

    for page, section in ((alice, "Your rooms"), (bob, "Public rooms")):
        page.goto("/")
        card = room_card(page, section, "Preview busy")
        preview = card.locator(".preview-text")
        # Text, never markup: the body's tags are shown as typed, not rendered.
        expect(preview).to_contain_text("alice: <b>Ripe</b> & ready: the tomatoes")
        expect(preview.locator("b")).to_have_count(0)
        expect(card).not_to_contain_text("an older message")
        expect(card.locator("time")).to_have_text("just now")
        # One line, cut with an ellipsis rather than wrapping or widening the card.
        expect(preview).to_have_css("text-overflow", "ellipsis")
        expect(preview).to_have_css("white-space", "nowrap")
        assert preview.evaluate("el => el.scrollWidth > el.clientWidth")
        card_box, preview_box = card.bounding_box(), preview.bounding_box()
        assert preview_box["x"] + preview_box["width"] <= card_box["x"] + card_box["width"]

        deleted = room_card(page, section, "Preview oops")
        expect(deleted.locator(".preview-text")).to_have_text("Message deleted")
        expect(deleted).not_to_contain_text("a secret")
        expect(deleted.locator("time")).to_have_text("just now")

        quiet = room_card(page, section, "Preview quiet")
        expect(quiet).to_contain_text("No messages yet")
        expect(quiet.locator("time")).to_have_count(0)


def test_search_filters_the_room_cards_as_you_type(new_page):
    alice, bob = new_page(), new_page()
    log_in(alice, "alice")
    log_in(bob, "bob")
    create_room(alice, "Search cucumbers", topic="Long and green")
    create_room(alice, "Search peppers", topic="Hot ones on the balcony")
    create_room(bob, "Bob's balcony", topic="Herbs")
    alice.goto("/")

    cucumbers = room_card(alice, "Your rooms", "Search cucumbers")
    peppers = room_card(alice, "Your rooms", "Search peppers")
    balcony = room_card(alice, "Public rooms", "Bob's balcony")
    no_match = alice.get_by_role("status").filter(has_text="No rooms match")
    box = search_box(alice)
    expect(box).to_have_attribute("type", "search")
    for card in (cucumbers, peppers, balcony):
        expect(card).to_be_visible()
    expect(no_match).to_be_hidden()

    box.press_sequentially("cucu")  # by name, case-insensitively, as it is typed
    expect(cucumbers).to_be_visible()
    expect(peppers).to_be_hidden()
    expect(balcony).to_be_hidden()

    box.fill("BALCONY")  # by topic, across both lists
    expect(peppers).to_be_visible()
    expect(balcony).to_be_visible()
    expect(cucumbers).to_be_hidden()

    box.fill("no such room anywhere")
    expect(no_match).to_be_visible()
    expect(no_match).to_have_text("No rooms match “no such room anywhere”.")
    for card in (cucumbers, peppers, balcony):
        expect(card).to_be_hidden()
    # Headings and the create form stay: searching does not hide the way to make a room.
    expect(alice.get_by_role("heading", name="Your rooms")).to_be_visible()
    expect(alice.get_by_role("button", name="Create room")).to_be_visible()

    box.press("Escape")
    expect(box).to_have_value("")
    expect(no_match).to_be_hidden()
    for card in (cucumbers, peppers, balcony):
        expect(card).to_be_visible()
