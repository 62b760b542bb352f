"""Alert channels in the browser: create a webhook channel to a local receiver, see its secret
once, send a test delivery, and watch it arrive (signed) and show in the delivery log. The
server runs the delivery worker as a task of its own (SWITCHBOARD_ALERT_WORKER_IN_SERVER)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    DESKTOP,
    PASSWORD,
    PHONE,
    RELAXED_LIMITS,
    api_post,
    log_in,
    screenshot,
)
from tests.support import procs
from tests.support.webhooks import Hook, webhook_receiver

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server() -> Iterator[procs.DaphneProcess]:
    """The e2e server, plus the alert worker polling every 0.2 s."""
    with procs.sqlite_database(users=("alice",), password=PASSWORD) as db:
        env = procs.app_env(
            database_url=db, **RELAXED_LIMITS, SWITCHBOARD_ALERT_WORKER_IN_SERVER="1",
            SWITCHBOARD_ALERT_POLL_SECONDS="0.2",
        )  # fmt: skip
        with procs.DaphneProcess(env) as daphne:
            yield daphne


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as receiver:
        yield receiver


def test_a_test_delivery_reaches_the_webhook_and_shows_in_the_log(new_page, hook):
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    page.goto("/alert-channels/")
    expect(page.get_by_role("heading", name="Alert channels")).to_be_visible()
    page.get_by_label("Webhook URL").fill(hook.url)
    page.get_by_role("button", name="Create channel").click()
    secret = page.locator("#channel-secret-value")
    expect(secret).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    shown_secret = secret.text_content()
    channels = page.get_by_role("list", name="Your channels")
    expect(channels.get_by_text(hook.url)).to_be_visible()

    channels.get_by_role("button", name="Send test").click()
    log = page.locator("#delivery-log tbody tr")
    expect(log).to_have_count(1)
    expect(log.first.locator("td").nth(2)).to_have_text("Delivered")
    expect(log.first.locator("td").nth(3)).to_have_text("200")
    hook.wait_for(1)
    _at, headers, body = hook.received[0]
    expected = "sha256=" + hmac.new(shown_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Switchboard-Signature"] == expected
    assert json.loads(body)["event"] == "test"
    screenshot(page, "alert-channels-desktop")

    # The secret is gone once the page is left; the channel and its log remain.
    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator("#channel-secret")).to_be_hidden()
    assert shown_secret not in page.content()
    page.get_by_role("button", name="Deliveries").click()
    expect(page.locator("#delivery-log tbody tr")).to_have_count(1)
    screenshot(page, "alert-channels-phone")


def test_an_alert_added_on_a_dashboard_fires_to_its_channel(new_page, hook):
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    channel = api_post(page, "/api/alert-channels/", {"kind": "webhook", "url": hook.url})
    device = api_post(page, "/api/devices/", {"name": "Boiler"})
    dashboard = api_post(
        page,
        "/api/dashboards/",
        {"name": "Boiler room",
         "panels": [{"title": "Water", "device": device["id"], "metric": "temp", "kind": "line"}]},
    )  # fmt: skip
    page.goto(f"/dashboards/{dashboard['slug']}/")
    alerts = page.get_by_role("list", name="Alerts")
    expect(page.get_by_text("No alert rules on this dashboard.")).to_be_visible()

    page.get_by_role("button", name="Add an alert").click()
    dialog = page.get_by_role("dialog", name="Add an alert")
    dialog.get_by_label("Device").select_option(label="Boiler")
    dialog.get_by_label("Metric").fill("temp")
    dialog.get_by_label("When the value is").select_option(label="above")
    dialog.get_by_role("button", name="Add alert").click()
    expect(dialog.get_by_role("alert")).to_have_text("Give a threshold (a number).")
    dialog.get_by_label("Threshold").fill("80")
    dialog.get_by_label("Threshold").press("Tab")  # a keyboard user's way through the form
    where = hook.url.split("://", 1)[1]  # host:port/path, as the page names a webhook
    dialog.get_by_role("checkbox", name=f"Webhook: {where}").check()
    screenshot(page, "dashboard-alert-dialog")
    dialog.get_by_role("button", name="Add alert").click()
    expect(dialog).to_be_hidden()
    rule = alerts.get_by_role("listitem")
    expect(rule).to_have_count(1)
    expect(rule).to_contain_text("Boiler · temp")
    expect(rule).to_contain_text("> 80")
    expect(rule).to_contain_text(f"Sent to {where}")
    expect(rule.locator(".alert-state")).to_have_text("OK")

    response = page.request.post(
        "/api/ingest/",
        data={"readings": [{"metric": "temp", "value": 91.5}]},
        headers={"Authorization": f"Api-Key {device['api_key']}"},
    )
    assert response.status == 202, response.text()
    expect(rule.locator(".alert-state")).to_have_text("Firing")
    hook.wait_for(1)
    payload = json.loads(hook.received[0][2])
    assert payload["event"] == "firing" and payload["value"] == 91.5
    assert payload["rule"]["metric"] == "temp" and payload["rule"]["threshold"] == 80
    channels = page.request.get(f"/api/alert-channels/{channel['id']}/deliveries/").json()
    assert [d["status"] for d in channels] == ["delivered"], channels
    screenshot(page, "dashboard-alert-added")
