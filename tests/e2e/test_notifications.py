"""Notifications on every page: the bell and its count, the dropdown, toasts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    DESKTOP,
    PHONE,
    api_request,
    connection,
    expect_delivered,
    join_room,
    log_in,
    message_items,
    open_home,
    open_room,
    screenshot,
    send_with_enter,
    two_people_in_a_room,
)

pytestmark = pytest.mark.browser


def bell(page: Page):
    return page.get_by_role("button", name=re.compile(r"^Notifications"))


def wait_for_live_notifications(page: Page) -> None:
    """The page's notification socket is connected (pushes from now on reach it)."""
    expect(page.locator("#notif")).to_have_attribute("data-state", "live")


def test_a_mention_raises_a_toast_and_the_bell_count_on_another_page(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Mentions")
    join_room(bob, slug)
    bob.goto("/")
    wait_for_live_notifications(bob)
    expect(bell(bob)).to_have_accessible_name("Notifications")

    open_room(alice, slug)
    send_with_enter(alice, "@bob can you check the release notes?")
    toast = bob.get_by_role("status").filter(has_text="alice mentioned you in Mentions")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("can you check the release notes?")
    expect(bell(bob)).to_have_accessible_name("Notifications, 1 unread")

    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_be_hidden()

    # The dropdown lists it; opening it reads it.
    with bob.expect_response(re.compile(r"/api/notifications/\d+/read/$")) as marked:
        bell(bob).click()
    assert marked.value.ok
    panel = bob.get_by_role("region", name="Notifications")
    entry = panel.get_by_role("link", name=re.compile("alice mentioned you in Mentions"))
    expect(entry).to_be_visible()
    expect(bell(bob)).to_have_accessible_name("Notifications")
    bob.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell(bob)).to_be_focused()

    unread = api_request(bob, "GET", "/api/notifications/?unread=1")
    assert unread.json() == []  # read on the server too
    bob.reload()
    wait_for_live_notifications(bob)
    expect(bell(bob)).to_have_accessible_name("Notifications")
    bell(bob).click()
    entry.click()
    expect(bob).to_have_url(re.compile(rf"/rooms/{slug}/#seq-1$"))
    expect(connection(bob)).to_have_text("Live")
    expect(message_items(bob, "release notes")).to_be_focused()


def test_a_mention_in_the_room_being_read_does_not_raise_a_toast(new_page):
    alice, bob, slug = two_people_in_a_room(new_page, "Quiet")
    join_room(bob, slug)
    open_room(bob, slug)
    wait_for_live_notifications(bob)
    open_room(alice, slug)
    send_with_enter(alice, "@bob you are already here")
    expect_delivered(bob, "you are already here")
    expect(message_items(bob, "you are already here")).to_have_class(re.compile("mentions-me"))
    send_with_enter(alice, "and a later message")
    expect_delivered(bob, "and a later message")
    expect(bob.get_by_role("status").filter(has_text="mentioned you")).to_have_count(0)
    expect(bell(bob)).to_have_accessible_name("Notifications")


def test_desktop_notifications_follow_the_browser_permission(new_page):
    asked = new_page()
    log_in(asked, "carol")
    open_home(asked)
    wait_for_live_notifications(asked)  # the bell's script is running
    bell(asked).click()
    panel = asked.get_by_role("region", name="Notifications")
    expect(panel.get_by_role("button", name="Enable desktop notifications")).to_be_visible()

    allowed = new_page(permissions=["notifications"])
    log_in(allowed, "dave")
    open_home(allowed)
    wait_for_live_notifications(allowed)
    bell(allowed).click()
    panel = allowed.get_by_role("region", name="Notifications")
    expect(panel.get_by_text("Desktop notifications are on")).to_be_visible()
    expect(panel.get_by_role("button", name="Enable desktop notifications")).to_be_hidden()


@pytest.mark.parametrize(
    ("device", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)], ids=["desktop", "phone"]
)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_notifications_fit_the_screen_and_are_captured(new_page, device, viewport, scheme):
    phone = device == "phone"
    options = {"viewport": viewport, "color_scheme": scheme, "is_mobile": phone, "has_touch": phone}
    alice, bob, slug = two_people_in_a_room(new_page, f"Alerts {device} {scheme}", **options)
    join_room(bob, slug)
    bob.goto("/")
    wait_for_live_notifications(bob)
    # Bob may still have unread mentions from the cases before this one (same users, same server):
    # the server's count, and the bell showing it (the page fetches it after the socket is up),
    # before anything new comes.
    listed = api_request(bob, "GET", "/api/notifications/?unread=1")
    assert listed.status == 200, listed.text()
    unread = len(listed.json())
    expect(bell(bob)).to_have_accessible_name(
        f"Notifications, {unread} unread" if unread else "Notifications"
    )
    open_room(alice, slug)
    send_with_enter(alice, "@bob the staging deploy is done, can you smoke-test checkout?")
    send_with_enter(alice, "@bob also: the on-call handover is at 17:00.")
    expect(bob.get_by_role("status").filter(has_text="alice mentioned you")).to_have_count(2)
    expect(bell(bob)).to_have_accessible_name(f"Notifications, {unread + 2} unread")
    assert bob.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(bob, f"toasts-{device}-{scheme}")

    bell(bob).click()
    panel = bob.get_by_role("region", name="Notifications")
    expect(
        panel.get_by_role("listitem").filter(has_text=f"Alerts {device} {scheme}")
    ).to_have_count(2)
    expect(panel).to_be_in_viewport(ratio=1)
    screenshot(bob, f"notifications-{device}-{scheme}")
