"""What the browser tests and the README screenshot script share: the browser, the server and
the steps a person takes (log in, open a room, send)."""

from __future__ import annotations

import itertools
import json
import re
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import (
    APIResponse,
    Browser,
    Locator,
    Page,
    WebSocketRoute,
    expect,
    sync_playwright,
)

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
PASSWORD = procs.PASSWORD
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = procs.ROOT / "artifacts" / "screenshots"


def launch(playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# One Playwright driver and Chromium per test process, shared by the browser modules that run in
# a row: starting them costs over half a second of CPU, and each test has contexts of its own.
# Playwright's sync API marks an event loop as running in this thread while it is open, so it
# is closed before any other kind of test runs (tests/conftest.py) and before the session's
# fixtures are torn down (tests/e2e/conftest.py).
_shared: dict[str, object] = {}


def shared_browser() -> Browser:
    browser = _shared.get("browser")
    if browser is not None and not browser.is_connected():  # it crashed: the next module
        close_shared_browser()  # starts a fresh one, not a dead one
        browser = None
    if browser is None:
        playwright = sync_playwright().start()
        _shared["playwright"] = playwright
        _shared["browser"] = browser = launch(playwright)
    return browser


def close_shared_browser() -> None:
    browser, playwright = _shared.pop("browser", None), _shared.pop("playwright", None)
    try:
        if browser is not None and browser.is_connected():
            browser.close()
    finally:
        if playwright is not None:
            playwright.stop()  # what frees this thread's event loop for other tests


# These tests are about what a person sees, not about rate limits (tested elsewhere): seeding a
# long history must not be throttled.
RELAXED_LIMITS = {
    "SWITCHBOARD_CHAT_SEND_RATE": "1000/minute",
    "SWITCHBOARD_REST_WRITE_RATE": "1000/min",
}


@contextmanager
def running_server(*usernames: str) -> Iterator[procs.DaphneProcess]:
    """Daphne (in-memory channel layer) on a fresh SQLite database with these users, each
    with a session that `log_in` starts from."""
    _sessions.clear()  # they were the last server's
    with procs.sqlite_database(users=usernames, password=PASSWORD) as db:
        env = procs.app_env(database_url=db, **RELAXED_LIMITS)
        with procs.DaphneProcess(env) as server:
            for username, key in procs.template_sessions(usernames).items():
                # Any 32 letters and digits are a CSRF secret Django accepts in its cookie.
                csrf = "".join(
                    secrets.choice(string.ascii_letters + string.digits) for _ in range(32)
                )
                _sessions[(username, PASSWORD)] = [
                    {"name": "sessionid", "value": key, "url": server.http},
                    {"name": "csrftoken", "value": csrf, "url": server.http},
                ]
            yield server


def seed_messages(
    server: procs.DaphneProcess, slug: str, author: str, bodies: list[str]
) -> list[int]:
    """Store messages through the service in one manage.py call (a long history in seconds, not
    one HTTP round trip each); returns their seqs. Nobody is connected yet to hear them."""
    code = (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat.models import Room\n"
        "from chat.services import message_create\n"
        f"room = Room.objects.get(slug={slug!r})\n"
        f"author = get_user_model().objects.get(username={author!r})\n"
        f"bodies = {bodies!r}\n"
        "seqs = [message_create(room=room, author=author, body=b)[0].seq for b in bodies]\n"
        "print(json.dumps(seqs))\n"
    )
    return json.loads(procs.manage(server.env, "shell", "-c", code).strip().splitlines()[-1])


# Each person's session cookies on the current server: the session its database was made with
# (procs.template_sessions), then the one their latest login through the form made. log_in
# starts from them, as a browser that kept its session does, which saves the login page and the
# home page it lands on (over a second of browser and server CPU a person). A session that has
# ended since (a test logged out) fails the check, and the form is used again.
_sessions: dict[tuple[str, str], list] = {}


def log_in(page: Page, username: str, password: str = PASSWORD, *, fresh: bool = False) -> None:
    """Log the page's browser context in as `username`: with the session this person has on
    this server (see `_sessions`), checked with one API call and no page load, or else through
    the login page, the way a person does it (the page then shows the home page). `fresh`
    always uses the form: a session of its own, for a test about logging in or sessions.
    Either way, the test then opens the page it needs."""
    cookies = None if fresh else _sessions.get((username, password))
    if cookies:
        page.context.add_cookies(cookies)
        if page.request.get("/api/rooms/", max_redirects=0).ok:
            return
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()
    # The page's modules run before "load": forms and buttons are wired up from here on.
    page.wait_for_load_state("load")
    _sessions[(username, password)] = page.context.cookies()


def open_home(page: Page) -> None:
    """The home page, its modules running (forms and buttons wired up)."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()
    page.wait_for_load_state("load")


def api_post(page: Page, path: str, data: dict) -> dict:
    """POST to the REST API as the page's logged-in user (session cookie and CSRF token)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(path, data=data, headers={"X-CSRFToken": token})
    assert response.status == 201, response.text()
    return response.json()


def api_request(page: Page, method: str, path: str, data: dict | None = None) -> APIResponse:
    """Any REST call as the page's logged-in user; the caller checks the status."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.fetch(path, method=method, data=data, headers={"X-CSRFToken": token})


def join_room(page: Page, slug: str) -> None:
    response = api_request(page, "POST", f"/api/rooms/{slug}/join/")
    assert response.status == 200, response.text()


def create_room(page: Page, name: str, *, topic: str = "", private: bool = False) -> str:
    """POST /api/rooms/ (CONTRACT §3); returns the slug."""
    room = api_post(page, "/api/rooms/", {"name": name, "topic": topic, "is_private": private})
    return room["slug"]


def messages(page: Page) -> Locator:
    return page.get_by_role("list", name="Messages")


def message_items(page: Page, text: str | None = None) -> Locator:
    items = messages(page).get_by_role("listitem")
    return items if text is None else items.filter(has_text=text)


def connection(page: Page) -> Locator:
    """The room page's connection state ("Connecting…", "Live", "Reconnecting…", ...)."""
    return page.get_by_role("status", name="Connection")


def open_room(page: Page, slug: str) -> None:
    page.goto(f"/rooms/{slug}/")
    expect(connection(page)).to_have_text("Live")


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


ROOM_SOCKET = re.compile(r"/ws/rooms/[^/]+/$")
MARKERS = itertools.count(1)


class HeldSockets:
    """Routes a page's room sockets through Playwright. While `hold` is set, a new socket is
    left unconnected: the page sees it open but the server never does, so no hello arrives
    and the page is not ready. `release()` connects the waiting ones to the real server."""

    def __init__(self, *, hold: bool) -> None:
        self.hold = hold
        self.opened: list[WebSocketRoute] = []
        self.waiting: list[WebSocketRoute] = []
        self.servers: list[WebSocketRoute] = []

    def __call__(self, ws: WebSocketRoute) -> None:
        self.opened.append(ws)
        if self.hold:
            self.waiting.append(ws)
        else:
            self.servers.append(ws.connect_to_server())

    def release(self) -> None:
        self.hold = False
        while self.waiting:
            self.servers.append(self.waiting.pop(0).connect_to_server())

    def drop_current(self) -> None:
        """Cut the live socket as a network failure would (the page reconnects by itself)."""
        self.servers[-1].close()
        self.opened[-1].close(code=1012, reason="test drops the connection")


def two_people_in_a_room(new_page, name: str, **page_options) -> tuple[Page, Page, str]:
    alice, bob = new_page(**page_options), new_page(**page_options)
    log_in(alice, "alice")
    log_in(bob, "bob")
    slug = create_room(alice, name, topic="Where the browser tests talk")
    return alice, bob, slug


def expect_exactly_once(sender: Page, reader: Page, text: str) -> None:
    """`text` reached `reader` once. A duplicate would be stored under a later seq than the
    original, so once a message sent afterwards has arrived, any duplicate would be on the
    page too: only then is a count of one proof."""
    expect_delivered(reader, text)
    marker = f"a later message, number {next(MARKERS)}"
    send_with_enter(sender, marker)
    expect_delivered(reader, marker)
    expect(message_items(reader, text)).to_have_count(1)
    expect(message_items(sender, text)).to_have_count(1)
