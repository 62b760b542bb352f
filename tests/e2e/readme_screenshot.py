"""Regenerate docs/screenshot-room.png, the room page the README shows.

    .venv/bin/python -m tests.e2e.readme_screenshot

Three people log in through the login page and talk in a room through the real UI (real Daphne,
real Chromium), with Markdown and a reply (no reactions: this machine's Chromium has no emoji
font); the picture is Alice's view at 1280x800
in the light theme.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect, sync_playwright

from tests.e2e import helpers
from tests.support import procs

TARGET = procs.ROOT / "docs" / "screenshot-room.png"

CONVERSATION = [
    ("alice", "Morning all! The **deploy window** is `15:00` today."),
    ("bob", "Great. I'll post the checklist here before then."),
    ("bob", "Draft runbook: https://example.com/runbooks/deploy-42"),
    ("carol", "@alice the migration is backwards compatible, so no downtime needed."),
    ("alice", "Perfect, thanks Carol. Let's ship it."),
    ("carol", "I'll keep an eye on the dashboards during the rollout."),
]
REPLY = ("bob", "Checklist is up: _runbook v3_, rollback tested.")  # to "Let's ship it"


def main() -> None:
    with (
        helpers.running_server("alice", "bob", "carol") as server,
        sync_playwright() as playwright,
    ):
        browser = helpers.launch(playwright)
        pages = {}
        for name in ("alice", "bob", "carol"):
            context = browser.new_context(
                base_url=server.http, viewport=helpers.DESKTOP, color_scheme="light"
            )
            pages[name] = context.new_page()
            helpers.log_in(pages[name], name)
        alice = pages["alice"]
        slug = helpers.create_room(alice, "Lobby", topic="Say hello. Everyone starts here.")
        helpers.create_room(alice, "Engineering", topic="Deploys, incidents and code review.")
        helpers.create_room(alice, "Design", topic="Mockups and feedback.")
        helpers.create_room(alice, "Team leads", topic="Planning.", private=True)
        for page in pages.values():
            helpers.open_room(page, slug)
        for author, text in CONVERSATION:
            helpers.send_with_enter(pages[author], text)
            helpers.expect_delivered(alice, re.sub(r"[*`_]", "", text))  # as rendered
        first = helpers.message_items(alice, "Let's ship it")
        first_id = alice.evaluate(
            "fetch(location.pathname.replace('/rooms/', '/api/rooms/') + "
            "'messages/?after_seq=4&limit=1').then(r => r.json())"
        )[0]["id"]
        author, text = REPLY
        helpers.api_post(
            pages[author], f"/api/rooms/{slug}/messages/", {"body": text, "reply_to": first_id}
        )
        helpers.expect_delivered(alice, "Checklist is up")
        expect(first.get_by_role("button", name="1 reply")).to_be_visible()
        alice.mouse.move(0, 0)
        alice.evaluate("document.activeElement.blur()")
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        alice.screenshot(path=TARGET, animations="disabled")
        browser.close()
    print(f"wrote {TARGET.relative_to(procs.ROOT)}")


if __name__ == "__main__":
    main()
