"""Real Chromium (Playwright) against a real Daphne process, in-memory channel layer, SQLite."""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import helpers
from tests.support import procs

USERS = ("alice", "bob", "carol", "dave")

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session", autouse=True)
def _current_bundles() -> None:
    """The pages load static/dist, which `make test` builds from static/js first. A browser
    test run by hand builds it here when static/js has changed since, so that it never tests
    an old bundle (or none); parallel workers build it once, in turn."""
    with open(procs.ROOT / ".bundle-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = subprocess.run(
            ["make", "--no-print-directory", "static/dist/.built"],
            cwd=procs.ROOT,
            capture_output=True,
            text=True,
        )
    if built.returncode != 0:
        pytest.fail(f"building static/dist failed:\n{built.stdout}{built.stderr}")


@pytest.fixture(scope="session")
def _shared_browser_closer() -> Iterator[None]:
    """Closes the shared browser before the session's other fixtures (the test database) are
    torn down, which needs this thread's event loop free."""
    yield
    helpers.close_shared_browser()


@pytest.fixture(scope="module")
def browser(_shared_browser_closer) -> Browser:
    """The worker's Chromium, launched by the first browser module and kept for the next ones
    (helpers.shared_browser): each launch cost over half a second of CPU."""
    return helpers.shared_browser()


@pytest.fixture(scope="module")
def server():
    with helpers.running_server(*USERS) as server:
        yield server


@pytest.fixture
def new_page(browser: Browser, server) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (one per person). Any alert/confirm/prompt dialog or
    uncaught page error fails the test."""
    contexts = []
    dialogs: list[str] = []
    errors: list[str] = []

    def make(*, viewport: dict | None = None, color_scheme: str = "light", **options) -> Page:
        context = browser.new_context(
            base_url=server.http,
            viewport=viewport or helpers.DESKTOP,
            color_scheme=color_scheme,
            **options,
        )
        contexts.append(context)
        page = context.new_page()

        def on_dialog(dialog) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert errors == [], f"uncaught errors in the page: {errors}"
