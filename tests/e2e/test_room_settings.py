"""An owner renames a room, sets its topic, promotes a moderator and archives the room."""

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api_post, log_in

pytestmark = pytest.mark.browser


def test_owner_changes_settings_and_roles(new_page):
    owner = new_page()
    log_in(owner, "alice")
    room = api_post(owner, "/api/rooms/", {"name": "Settings test"})
    member = new_page()
    log_in(member, "bob")
    member.goto(f"/rooms/{room['slug']}/")
    member.get_by_role("textbox", name="Message").fill("hi, joining")  # sending joins
    member.get_by_role("textbox", name="Message").press("Enter")
    expect(member.get_by_role("list", name="Messages").get_by_text("hi, joining")).to_be_visible()
    expect(member.get_by_role("button", name="Room settings")).to_have_count(0)

    owner.goto(f"/rooms/{room['slug']}/")
    owner.get_by_role("button", name="Room settings").click()
    dialog = owner.get_by_role("dialog", name="Room settings")
    dialog.get_by_label("Room name").fill("Renamed room")
    dialog.get_by_label("Topic").fill("A fresh topic")
    dialog.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_role("heading", name="Renamed room")).to_be_visible()
    expect(owner.locator(".chat-head").get_by_text("A fresh topic")).to_be_visible()

    # bob is online in the room: the owner makes him a moderator from the Online list.
    online = owner.get_by_role("list", name="Online")
    online.get_by_role("button", name="Moderate bob").click()
    owner.get_by_role("menuitem", name="Make moderator").click()
    expect(owner.get_by_text("bob's role in this room changed.")).to_be_visible()
    members = owner.request.get(f"/api/rooms/{room['slug']}/members/").json()
    assert {m["username"]: m["role"] for m in members}["bob"] == "moderator"

    owner.get_by_role("button", name="Room settings").click()
    dialog = owner.get_by_role("dialog", name="Room settings")
    dialog.get_by_label("Archived: read-only, history kept").check()
    dialog.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_text("Archived: read-only")).to_be_visible()
    expect(owner.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(owner.get_by_role("button", name="Send")).to_be_disabled()
    # The history stays readable.
    expect(owner.get_by_role("list", name="Messages").get_by_text("hi, joining")).to_be_visible()
    detail = owner.request.get(f"/api/rooms/{room['slug']}/").json()
    assert detail["name"] == "Renamed room" and detail["topic"] == "A fresh topic"
