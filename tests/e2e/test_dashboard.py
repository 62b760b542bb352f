"""A person's view of a live dashboard: real Chromium, a real Daphne process, and devices that
report over the REST ingestion API while the page is open."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Locator, Page, WebSocketRoute, expect

from tests.e2e import helpers
from tests.e2e.helpers import DESKTOP, PASSWORD, PHONE, log_in, open_home, screenshot
from tests.support import procs

pytestmark = pytest.mark.browser

DEMO_ADMIN_PASSWORD = "switchboard-demo"  # seed_demo's superuser, owner of the built-in device
OPS_PANELS = (
    "Server CPU",
    "Server memory",
    "Open sockets",
    "Greenhouse temperature",
    "Greenhouse humidity",
    "Server room power (kW)",
)
BACKFILL = timedelta(minutes=8)  # inside the socket's 10-minute snapshot window
STEP = timedelta(seconds=5)
BACKFILLED = int(BACKFILL / STEP)  # points per series


class Rest:
    """The REST API the way a script or a device uses it (JWT or Api-Key, no cookies)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)

    def token(self, username: str, password: str) -> dict[str, str]:
        response = self.http.post(
            "/api/auth/token/", json={"username": username, "password": password}
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access']}"}

    def device_keys(self, username: str, password: str, only=None) -> dict[str, str]:
        """Device name -> a fresh API key (POST /api/devices/<id>/rotate-key/ as the owner), for
        all the user's devices or `only` those named."""
        auth = self.token(username, password)
        devices = self.http.get("/api/devices/", headers=auth).json()
        keys = {}
        for device in devices:
            if only is not None and device["name"] not in only:
                continue
            response = self.http.post(f"/api/devices/{device['id']}/rotate-key/", headers=auth)
            response.raise_for_status()
            keys[device["name"]] = response.json()["api_key"]
        return keys

    def ingest(self, key: str, readings: list[dict]) -> None:
        response = self.http.post(
            "/api/ingest/", json={"readings": readings}, headers={"Authorization": f"Api-Key {key}"}
        )
        assert response.status_code == 202, response.text


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wave(base: float, spread: float, period: float, digits: int, i: int) -> float:
    """A smooth, deterministic signal with a little ripple: what a sensor looks like."""
    value = base + spread * math.sin(i / period) + spread * 0.18 * math.sin(i * 1.7)
    return round(value, digits)


# metric -> (base, spread, period in steps, digits), per device of the seeded "ops" dashboard.
SIGNALS = {
    "Switchboard server": {
        "cpu.percent": (24, 12, 9, 1),
        "memory.percent": (61, 3, 30, 1),
        "sockets.open": (6, 3, 14, 0),
    },
    "Greenhouse": {"temperature": (21.6, 1.6, 16, 1), "humidity": (56, 7, 22, 1)},
    "Server room": {"power.kw": (3.45, 0.3, 12, 2)},
}


@pytest.fixture(scope="module")
def server():
    """The browser tests' server, with seed_demo's users and seed_dashboards' "ops" dashboard."""
    with helpers.running_server("alice", "bob") as server:
        procs.manage(server.env, "seed_demo")
        procs.manage(server.env, "seed_dashboards")
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    """API keys of the dashboard's devices, after eight minutes of history were reported."""
    rest = Rest(server.http)
    keys = {
        **rest.device_keys("alice", PASSWORD, only=SIGNALS),
        **rest.device_keys("admin", DEMO_ADMIN_PASSWORD, only=SIGNALS),
    }
    now = datetime.now(UTC)
    for device, metrics in SIGNALS.items():
        readings = [
            {"metric": metric, "value": wave(*signal, i), "ts": iso(now - BACKFILL + i * STEP)}
            for i in range(1, BACKFILLED + 1)
            for metric, signal in metrics.items()
        ]
        rest.ingest(keys[device], readings)
    rest.http.close()
    return keys


@pytest.fixture
def rest(server) -> Iterator[Rest]:
    rest = Rest(server.http)
    yield rest
    rest.http.close()


def panel(page: Page, title: str) -> Locator:
    """A panel the way assistive technology finds it: a figure named by its title."""
    return page.get_by_role("figure", name=title, exact=True)


def open_dashboard(page: Page, slug: str = "ops") -> None:
    page.goto(f"/dashboards/{slug}/")
    expect(page.get_by_role("status", name="Connection")).to_have_text("Live")


def alert(page: Page, text: str) -> Locator:
    return page.get_by_role("list", name="Alerts").get_by_role("listitem").filter(has_text=text)


def test_panels_redraw_as_a_device_reports(new_page, keys, rest) -> None:
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_dashboard(page)
    for title in OPS_PANELS:
        expect(panel(page, title)).to_be_visible()
    temperature = panel(page, "Greenhouse temperature")
    expect(temperature).to_have_attribute("data-points", str(BACKFILLED))
    expect(temperature.locator("canvas")).to_be_visible()
    expect(temperature).to_contain_text("crit 25")  # the threshold's legend
    rule = alert(page, "Greenhouse · temperature")
    expect(rule).to_contain_text("OK")

    # Too hot: one reading a quarter of a minute ago (older than the newest point on the chart,
    # so it is inserted in time order) and one now; the rule (> 25 for 10 s) fires.
    now = datetime.now(UTC)
    rest.ingest(
        keys["Greenhouse"],
        [
            {"metric": "temperature", "value": 26.4, "ts": iso(now - timedelta(seconds=15))},
            {"metric": "temperature", "value": 27.1, "ts": iso(now)},
        ],
    )
    expect(temperature.locator("[data-value]")).to_have_text("27.1")
    expect(temperature).to_have_attribute("data-points", str(BACKFILLED + 2))
    expect(temperature).to_have_attribute("data-level", "crit")
    expect(rule).to_contain_text("Firing")
    # Other panels of the page did not move.
    expect(panel(page, "Greenhouse humidity")).to_have_attribute("data-points", str(BACKFILLED))

    rest.ingest(keys["Server room"], [{"metric": "power.kw", "value": 3.92}])
    power = panel(page, "Server room power (kW)")
    expect(power.locator("[data-value]")).to_have_text("3.92")
    expect(power).to_have_attribute("data-level", "warn")

    page.mouse.move(0, 0)
    # Saved with the run's artifacts; docs/screenshot-dashboard.png is a copy made by hand, so
    # a test run never changes a tracked file.
    screenshot(page, "dashboard-desktop")


def test_time_range_pauses_live_points_until_live_is_chosen_again(new_page, keys, rest) -> None:
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_dashboard(page)
    humidity = panel(page, "Greenhouse humidity")
    expect(humidity).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    live_points = int(humidity.get_attribute("data-points"))

    page.get_by_role("radio", name="1 h").check()
    expect(page.get_by_text("Showing the last hour")).to_be_visible()
    # Fifteen-second buckets of the series API instead of every point.
    expect(humidity).not_to_have_attribute("data-points", str(live_points))
    assert 0 < int(humidity.get_attribute("data-points")) < live_points
    screenshot(page, "dashboard-range")

    rest.ingest(keys["Greenhouse"], [{"metric": "humidity", "value": 91.5}])
    page.get_by_role("radio", name="Live").check()
    expect(page.get_by_text("Showing the last hour")).to_be_hidden()
    expect(humidity.locator("[data-value]")).to_have_text("91.5")
    expect(humidity).to_have_attribute("data-points", str(live_points + 1))


class DroppableSockets:
    """Routes the page's dashboard sockets through Playwright, to cut them as a network would.
    While `refusing`, every new socket is closed at once, so the page keeps retrying."""

    def __init__(self) -> None:
        self.refusing = False
        self.current: tuple[WebSocketRoute, WebSocketRoute] | None = None

    def __call__(self, ws: WebSocketRoute) -> None:
        if self.refusing:
            ws.close(code=1011, reason="test keeps the server unreachable")
        else:
            self.current = (ws, ws.connect_to_server())

    def drop(self) -> None:
        self.refusing = True
        page_side, server_side = self.current
        server_side.close()
        page_side.close(code=1012, reason="test drops the connection")


def test_reconnects_and_catches_up_after_the_connection_drops(new_page, keys, rest) -> None:
    page = new_page(viewport=DESKTOP)
    sockets = DroppableSockets()
    page.route_web_socket(re.compile(r"/ws/dashboards/[^/]+/$"), sockets)
    log_in(page, "alice")
    open_dashboard(page)
    power = panel(page, "Server room power (kW)")
    expect(power.locator("[data-value]")).to_have_text(re.compile(r"^\d"))

    sockets.drop()
    connection = page.get_by_role("status", name="Connection")
    expect(connection).to_have_text(re.compile(r"^Reconnecting in \d+s…$"))
    rest.ingest(keys["Server room"], [{"metric": "power.kw", "value": 2.71}])
    sockets.refusing = False
    # The next attempt gets through; its snapshot has the reading sent while the page was away.
    expect(connection).to_have_text("Live")
    expect(power.locator("[data-value]")).to_have_text("2.71")
    expect(power).to_have_attribute("data-level", "ok")


def test_owner_creates_a_dashboard_and_adds_a_panel(new_page, keys, rest) -> None:
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_home(page)
    page.get_by_role("button", name="New dashboard").click()
    dialog = page.get_by_role("dialog", name="New dashboard")
    dialog.get_by_label("Name").fill("Glasshouse")
    dialog.get_by_role("button", name="Create dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboards/glasshouse/$"))
    expect(page.get_by_text("This dashboard has no panels yet.")).to_be_visible()

    page.get_by_role("button", name="Add panel").click()
    dialog = page.get_by_role("dialog", name="Add a panel")
    dialog.get_by_label("Title").fill("Glasshouse CO2")
    dialog.get_by_label("Device").select_option(label="Greenhouse")
    dialog.get_by_label("Metric").fill("co2.ppm")
    dialog.get_by_label("Kind").select_option(label="Line chart")
    dialog.get_by_label("Critical at").fill("1000")
    screenshot(page, "dashboard-add-panel")
    dialog.get_by_role("button", name="Add panel").click()

    co2 = panel(page, "Glasshouse CO2")
    expect(co2).to_have_attribute("data-kind", "line")
    expect(co2).to_have_attribute("data-points", "0")
    expect(co2).to_contain_text("crit 1,000")
    expect(page.get_by_role("status", name="Connection")).to_have_text("Live")
    # The new panel is live: the page's new socket follows its series.
    rest.ingest(keys["Greenhouse"], [{"metric": "co2.ppm", "value": 640}])
    expect(co2.locator("[data-value]")).to_have_text("640")
    expect(co2).to_have_attribute("data-points", "1")

    page.goto("/")
    expect(page.get_by_role("list", name="Dashboards").get_by_role("link")).to_contain_text(
        ["Glasshouse", "Operations"]
    )
    screenshot(page, "home-dashboards")


def test_a_viewer_watches_without_editing_on_a_phone(new_page, keys) -> None:
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(page, "bob")
    open_dashboard(page)
    for title in OPS_PANELS:
        expect(panel(page, title)).to_have_count(1)
    expect(panel(page, "Server memory").locator("[data-value]")).to_have_text(
        re.compile(r"^\d+(\.\d+)?$")
    )
    expect(page.get_by_role("button", name="Add panel")).to_have_count(0)
    screenshot(page, "dashboard-phone")


def test_dark_theme(new_page, keys) -> None:
    page = new_page(viewport=DESKTOP, color_scheme="dark")
    log_in(page, "alice")
    open_dashboard(page)
    expect(panel(page, "Server CPU")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 15, 21)"
    page.mouse.move(0, 0)
    screenshot(page, "dashboard-desktop-dark")


def test_a_firing_alert_raises_a_toast_and_the_bell_count_on_the_home_page(
    new_page, keys, rest
) -> None:
    # Cool for 15 s first: whatever earlier tests did, the rule (> 25 for 10 s, and resolved
    # only after 10 s back under) is OK again.
    rest.ingest(
        keys["Greenhouse"],
        [
            {
                "metric": "temperature",
                "value": value,
                "ts": iso(datetime.now(UTC) - timedelta(seconds=seconds)),
            }
            for seconds, value in ((40, 21.5), (25, 21.0))
        ],
    )
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_home(page)
    expect(page.locator("#notif")).to_have_attribute("data-state", "live")
    unread = helpers.api_request(page, "GET", "/api/notifications/?unread=1").json()
    bell = page.get_by_role("button", name=re.compile(r"^Notifications"))
    before = f"Notifications, {len(unread)} unread" if unread else "Notifications"
    expect(bell).to_have_accessible_name(before)

    # Too hot for a quarter of a minute: the rule fires while alice is on the home page.
    now = datetime.now(UTC)
    rest.ingest(
        keys["Greenhouse"],
        [
            {"metric": "temperature", "value": 26.4, "ts": iso(now - timedelta(seconds=15))},
            {"metric": "temperature", "value": 27.3, "ts": iso(now)},
        ],
    )
    toast = page.get_by_role("status").filter(has_text="Greenhouse: temperature > 25 firing")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("temperature is 27.3.")
    expect(bell).to_have_accessible_name(f"Notifications, {len(unread) + 1} unread")
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()  # still at home

    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_be_hidden()
