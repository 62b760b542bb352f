"""Files and search as a person uses them (CONTRACT.md §9): an image pasted into the composer
shows as a thumbnail in both browsers and opens full size; the header's search box finds an
old message and opens the room at it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    api_post,
    expect_delivered,
    message_items,
    open_room,
    send_with_enter,
    two_people_in_a_room,
)

pytestmark = pytest.mark.browser

PASTE_IMAGE = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 120;
  canvas.height = 80;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#e4572e";
  ctx.fillRect(0, 0, 120, 80);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const data = new DataTransfer();
  data.items.add(new File([blob], "screenshot.png", { type: "image/png" }));
  const box = document.getElementById("message-input");
  box.focus();
  const paste = { clipboardData: data, bubbles: true, cancelable: true };
  box.dispatchEvent(new ClipboardEvent("paste", paste));
}"""


def thumbnail(page: Page, name: str):
    return page.get_by_role("button", name=f"Open image {name}")


def expect_image_loaded(page: Page, name: str) -> None:
    """The thumbnail is not just in the page: the browser fetched and decoded it."""
    image = thumbnail(page, name).get_by_role("img")
    expect(image).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


def test_a_pasted_image_shows_as_a_thumbnail_in_both_browsers(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Pictures")
    open_room(alice, slug)
    open_room(bob, slug)

    alice.evaluate(PASTE_IMAGE)
    chips = alice.get_by_role("list", name="Files to send")
    chip = chips.get_by_role("listitem").filter(has_text="screenshot.png")
    expect(chip).to_have_class(re.compile(r"\buploaded\b"))
    box = alice.get_by_role("textbox", name="Message")
    box.fill("the layout bug")
    box.press("Enter")
    expect(chips).to_be_hidden()

    for page in (alice, bob):
        expect_delivered(page, "the layout bug")
        expect_image_loaded(page, "screenshot.png")

    # Full size in an accessible dialog; Escape closes it and focus returns to the thumbnail.
    thumbnail(bob, "screenshot.png").click()
    dialog = bob.get_by_role("dialog", name="screenshot.png")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("img", name="screenshot.png")).to_be_visible()
    bob.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(thumbnail(bob, "screenshot.png")).to_be_focused()

    # A chip can be removed before sending: nothing of it is sent.
    alice.evaluate(PASTE_IMAGE)
    expect(chip).to_have_class(re.compile(r"\buploaded\b"))
    chip.get_by_role("button", name="Remove screenshot.png").click()
    expect(chips).to_be_hidden()
    send_with_enter(alice, "no picture this time")
    expect_delivered(bob, "no picture this time")
    expect(message_items(bob, "no picture this time").get_by_role("img")).to_have_count(0)


def test_searching_opens_the_room_at_the_message(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Archive dig")
    api_post(alice, f"/api/rooms/{slug}/messages/", {"body": "the <b>zanzibar</b> rollout plan"})
    # Enough later messages that the match is not in the room's first page of history.
    for i in range(70):
        api_post(alice, f"/api/rooms/{slug}/messages/", {"body": f"later chatter {i}"})
    bob.goto("/")
    search = bob.get_by_role("searchbox", name="Search messages")
    search.fill("zanzib")  # a prefix, while typing
    results = bob.get_by_role("list", name="Search results")
    hit = results.get_by_role("link").filter(has_text="rollout plan")
    expect(hit).to_have_count(1)
    # The match is marked; the body's markup is shown as text.
    expect(hit.locator("mark")).to_have_text("zanzibar")
    expect(hit).to_contain_text("<b>zanzibar</b> rollout plan")
    expect(hit.locator("b")).to_have_count(0)

    # Keyboard: Down moves into the results, Enter opens the room at the message.
    search.press("ArrowDown")
    expect(hit).to_be_focused()
    bob.keyboard.press("Enter")
    expect(bob).to_have_url(re.compile(rf"/rooms/{slug}/#seq-1$"))
    target = message_items(bob, "rollout plan")
    expect(target).to_be_visible()
    expect(target).to_be_focused()
    expect(target).to_be_in_viewport()
