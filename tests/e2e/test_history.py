"""A long room history, read back to its first message in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import create_room, log_in, message_items, messages, open_room, seed_messages

pytestmark = pytest.mark.browser

HISTORY = 500


def body(seq: int) -> str:
    return f"History message {seq:03d}"  # zero-padded: no body is a prefix of another


def test_scrolling_back_through_500_messages_reaches_the_first(new_page, server):
    page = new_page()
    log_in(page, "carol")
    slug = create_room(page, "Long history", topic="Five hundred messages deep")
    seqs = seed_messages(server, slug, "carol", [body(seq) for seq in range(1, HISTORY + 1)])
    assert seqs == list(range(1, HISTORY + 1))

    open_room(page, slug)
    items = message_items(page)
    newest = messages(page).locator(f"#seq-{HISTORY}")
    expect(newest).to_contain_text(body(HISTORY))
    expect(newest).to_be_in_viewport()  # the room opens at its newest message
    first = messages(page).locator("#seq-1")
    expect(first).to_have_count(0)  # not all of history is on the page yet

    earlier = page.get_by_role("button", name="Show earlier messages")
    intro = page.get_by_text("This is the very beginning of Long history")
    for _ in range(HISTORY):  # bounded: each round must load something, or the test fails
        lowest = items.first.get_attribute("data-seq")
        if lowest == "1":
            break
        # Scroll up the way a reader does: reaching the top loads the page above by itself.
        messages(page).hover()
        page.mouse.wheel(0, -100_000)
        expect(items.first).not_to_have_attribute("data-seq", lowest)
        # The reader keeps their place: the message that was oldest is still where they were.
        expect(messages(page).locator(f"#seq-{lowest}")).to_be_in_viewport()

    expect(first).to_contain_text(body(1))
    messages(page).hover()
    page.mouse.wheel(0, -100_000)
    expect(first).to_be_in_viewport()
    expect(intro).to_be_visible()
    expect(earlier).to_be_hidden()

    # Every message exactly once, in order.
    expect(items).to_have_count(HISTORY)
    seqs = items.evaluate_all("items => items.map((item) => Number(item.dataset.seq))")
    assert seqs == list(range(1, HISTORY + 1))
    bodies = items.locator(".body").all_text_contents()
    assert bodies == [body(seq) for seq in range(1, HISTORY + 1)]
