"""Real Chromium (Playwright) against a real Daphne process, in-memory channel layer, SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e import helpers

USERS = ("alice", "bob", "carol", "dave")

expect.set_options(timeout=10_000)


# Module scope, not session: Playwright's sync API marks an event loop as running in this
# thread while it is open, and the async tests that run after the browser modules need none.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = helpers.launch(playwright)
        yield browser
        browser.close()


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
