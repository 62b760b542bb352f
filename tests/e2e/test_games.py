"""Light cycles in two browsers (CONTRACT.md §10): the room's Play button makes a game, a second
person joins from the game's link, the creator starts it, both steer with the keyboard, and
both pages end on the same result. Screenshots of the board at desktop and phone widths are
kept in artifacts/screenshots/ (copied to docs/ for the README)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    DESKTOP,
    PHONE,
    create_room,
    join_room,
    log_in,
    open_room,
    screenshot,
)

pytestmark = pytest.mark.browser


def test_two_browsers_play_light_cycles_to_a_result(new_page):
    alice, bob = new_page(viewport=DESKTOP), new_page(viewport=PHONE, has_touch=True)
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, "Arcade")
    open_room(alice, slug)
    alice.get_by_role("button", name="Play").click()
    expect(alice).to_have_url(re.compile(r"/games/\d+/$"))
    game_url = alice.url
    expect(alice.locator("#conn-state")).to_have_text("Live")
    players = alice.get_by_role("list", name="Players")
    expect(players.get_by_role("listitem")).to_have_count(1)

    # Bob sees the invitation in the room, with the game's link, and follows it.
    join_room(bob, slug)
    open_room(bob, slug)
    invite = (
        bob.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="started a game of light cycles")
    )
    invite.get_by_role("link", name="join the game").click()  # a Markdown link, same tab
    expect(bob).to_have_url(game_url)
    expect(bob.locator("#conn-state")).to_have_text("Live")
    bob.get_by_role("button", name="Join").click()
    expect(players.get_by_role("listitem")).to_have_count(2)
    expect(bob.get_by_role("list", name="Players")).to_contain_text("bob (you)")
    expect(bob.get_by_role("group", name="Steering")).to_be_visible()  # the pad on a phone

    alice.get_by_role("button", name="Start").click()
    expect(bob.locator("#game-status")).to_have_text("Running", timeout=15_000)
    # Bob (seat 1, at the board's left, heading up) turns left into the edge; alice keeps on.
    bob.keyboard.press("a")
    alice.keyboard.press("ArrowDown")
    expect(alice.locator("#result")).to_have_text(re.compile("Game over: You won"), timeout=15_000)
    expect(bob.locator("#result")).to_have_text(re.compile("Game over: alice won"))
    expect(bob.locator("#game-live")).to_contain_text("alice won")
    expect(bob.get_by_role("list", name="Players")).to_contain_text("out")
    # Into artifacts/screenshots/ (tests change no tracked file); docs/ keeps copies for the README.
    screenshot(alice, "game-desktop")
    screenshot(bob, "game-phone")

    board = alice.request.get(f"/api/games/leaderboard/?room={slug}").json()
    assert board == [
        {"username": "alice", "played": 1, "wins": 1},
        {"username": "bob", "played": 1, "wins": 0},
    ]
