"""What the browser tests and the README screenshot script share: the browser, the server and
the steps a person takes (log in, open a room, send)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

from tests.support import procs

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw-Switchboard-1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = procs.ROOT / "artifacts" / "screenshots"


def launch(playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# These tests are about what a person sees, not about rate limits (tested elsewhere): seeding a
# long history must not be throttled.
RELAXED_LIMITS = {
    "SWITCHBOARD_CHAT_SEND_RATE": "1000/minute",
    "SWITCHBOARD_REST_WRITE_RATE": "1000/min",
}


@contextmanager
def running_server(*usernames: str) -> Iterator[procs.DaphneProcess]:
    """Daphne (in-memory channel layer) on a fresh SQLite database with these users."""
    with procs.sqlite_database() as db:
        env = procs.app_env(database_url=db, **RELAXED_LIMITS)
        procs.manage(env, "migrate", "-v0")
        procs.create_users(env, *usernames, password=PASSWORD)
        with procs.DaphneProcess(env) as server:
            yield server


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Through the login page, the way a person does it; lands on the home page."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()


def api_post(page: Page, path: str, data: dict) -> dict:
    """POST to the REST API as the page's logged-in user (session cookie and CSRF token)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(path, data=data, headers={"X-CSRFToken": token})
    assert response.status == 201, response.text()
    return response.json()


def create_room(page: Page, name: str, *, topic: str = "", private: bool = False) -> str:
    """POST /api/rooms/ (CONTRACT §3); returns the slug."""
    room = api_post(page, "/api/rooms/", {"name": name, "topic": topic, "is_private": private})
    return room["slug"]


def messages(page: Page) -> Locator:
    return page.get_by_role("list", name="Messages")


def message_items(page: Page, text: str | None = None) -> Locator:
    items = messages(page).get_by_role("listitem")
    return items if text is None else items.filter(has_text=text)


def open_room(page: Page, slug: str) -> None:
    page.goto(f"/rooms/{slug}/")
    expect(page.get_by_role("status")).to_have_text("Live")


def send_with_enter(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def send_with_button(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(box).to_have_value("")


def expect_delivered(page: Page, text: str) -> None:
    """The message is in the list once, acknowledged by the server (not a 'sending' copy)."""
    item = message_items(page, text)
    expect(item).to_have_count(1)
    expect(item).not_to_have_class(re.compile(r"\bsending\b"))


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, animations="disabled")
    return path
