"""The Markets and Fleet dashboards in real Chromium: the ticker flashes, candles draw and map
markers move, fed through the REST ingestion API (the simulators' own seeded steps make the
readings, so nothing depends on their timing)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from dashboard import simulators
from tests.e2e import helpers
from tests.e2e.helpers import DESKTOP, PASSWORD, PHONE, log_in
from tests.e2e.test_dashboard import Rest, iso, open_dashboard, panel
from tests.support import procs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    """seed_dashboards' Markets and Fleet dashboards, without their simulators running."""
    with helpers.running_server("alice", "bob") as server:
        procs.manage(server.env, "seed_demo")
        procs.manage(server.env, "seed_dashboards")
        yield server


@pytest.fixture(scope="module")
def rest(server):
    rest = Rest(server.http)
    rest.keys = rest.device_keys("alice", PASSWORD)
    yield rest
    rest.http.close()


@pytest.fixture(scope="module")
def prices(rest) -> dict[str, float]:
    """Five minutes of market history: the charted symbols move every second (ten moves per
    10-second candle), the others twice."""
    rng = random.Random(4)
    prices = simulators.market_open(simulators.market_symbols(), rng)
    charted = {symbol: prices.pop(symbol) for symbol in ("aapl", "msft", "nvda")}
    start = datetime.now(UTC) - timedelta(minutes=5)
    readings = simulators.market_step(charted, rng, updates=300, start=start, span=300)
    readings += simulators.market_step(prices, rng, updates=2, start=start, span=300)
    for at in range(0, len(readings), 1000):
        rest.ingest(rest.keys[simulators.MARKET_DEVICE], readings[at : at + 1000])
    return prices | charted


def full_screenshot(page: Page, name: str) -> None:
    """The whole page, into the run's artifacts (docs/screenshot-*.png are copies made by hand,
    so a test run never changes a tracked file)."""
    helpers.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=helpers.SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled")


def drive(rest: Rest, vehicles: list[simulators.Vehicle], rng: random.Random, seconds: float):
    """Every vehicle reports once (the fleet simulator's step), through POST /api/ingest/."""
    now = iso(datetime.now(UTC))
    for n, readings in enumerate(simulators.fleet_step(vehicles, rng, seconds=seconds), start=1):
        key = rest.keys[f"{simulators.FLEET_PREFIX} {n:02d}"]
        rest.ingest(key, [reading | {"ts": now} for reading in readings])


def green_pixels(page: Page, title: str) -> int:
    """Pixels of the candles' canvas in the rising candles' colour."""
    return (
        panel(page, title)
        .locator("canvas")
        .evaluate(
            """(canvas) => {
          const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
            if (a > 200 && g > 120 && r < 90 && b < 130 && g - r > 60) n += 1;
          }
          return n;
        }"""
        )
    )


def test_the_ticker_flashes_on_a_move_and_candles_draw(new_page, rest, prices) -> None:
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_dashboard(page, "markets")
    ticker = panel(page, "Ticker")
    expect(ticker).to_have_attribute("data-points", "200")  # every symbol priced by the snapshot
    table = ticker.get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_count(4)
    row = table.get_by_role("row", name="AAPL")
    last = row.get_by_role("cell").nth(0)
    expect(last).to_have_text(f"{prices['aapl']:,.2f}".rstrip("0").rstrip("."))

    moved = round(prices["aapl"] * 1.05, 2)
    rest.ingest(rest.keys[simulators.MARKET_DEVICE], [{"metric": "aapl", "value": moved}])
    expect(last).to_have_class(re.compile(r"\bflash-up\b|\bflash-up-again\b"))  # green: up
    expect(row).to_have_attribute("data-trend", "up")
    fell = round(moved - 1, 2)
    rest.ingest(rest.keys[simulators.MARKET_DEVICE], [{"metric": "aapl", "value": fell}])
    expect(last).to_have_class(re.compile(r"\bflash-down(-again)?\b"))  # red as it falls
    shown = f"{fell:,.2f}".rstrip("0").rstrip(".")
    expect(last).to_have_text(shown)

    candles = panel(page, "AAPL candles")
    # The live candle closes at the latest price: it moves with the readings frames.
    expect(candles.locator("[data-value]")).to_have_text(shown)
    # 10-second buckets over the 5 minutes of history, and the live ones since
    expect(candles).to_have_attribute("data-points", re.compile(r"^3\d$"))
    assert green_pixels(page, "AAPL candles") > 30, "rising candles are drawn"
    page.mouse.move(0, 0)
    full_screenshot(page, "markets-desktop")

    phone = new_page(viewport=PHONE)
    log_in(phone, "alice")
    open_dashboard(phone, "markets")
    expect(panel(phone, "Ticker")).to_have_attribute("data-points", "200")
    expect(panel(phone, "AAPL candles")).not_to_have_attribute("data-points", "0")
    full_screenshot(phone, "markets-phone")


def marker_shapes(page: Page) -> list[str]:
    """Each marker's SVG path (its position on screen), in the order they were added."""
    return page.locator("path.vehicle-marker").evaluate_all(
        "(ps) => ps.map((p) => p.getAttribute('d'))"
    )


def test_map_markers_move_with_trails_and_popups(new_page, rest) -> None:
    rng = random.Random(2)
    vehicles = simulators.fleet_routes(simulators.VEHICLE_COUNT, rng)
    drive(rest, vehicles, rng, seconds=1)
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    open_dashboard(page, "fleet")
    fleet = panel(page, "Vehicles")
    expect(fleet).to_have_attribute("data-points", "50")
    expect(page.locator("path.vehicle-marker")).to_have_count(50)
    # The basemap: Natural Earth's countries, from the app's own static files.
    page.wait_for_function("() => document.querySelectorAll('.fleet-map path').length > 200")
    before = marker_shapes(page)
    for _ in range(3):  # half an hour on the road each (the simulator's time-lapse)
        drive(rest, vehicles, rng, seconds=3)
    page.wait_for_function(
        """(before) => {
          const now = [...document.querySelectorAll("path.vehicle-marker")];
          return now.filter((p, i) => p.getAttribute("d") !== before[i]).length >= 45;
        }""",
        arg=before,
    )
    # Each has a trail behind it: its recent reports as a line.
    trails = page.locator("path.vehicle-trail").evaluate_all(
        "(ps) => ps.map((p) => p.getAttribute('d'))"
    )
    assert len(trails) == 50 and sum("L" in (d or "") for d in trails) >= 45
    after = marker_shapes(page)
    assert sum(a != b for a, b in zip(before, after, strict=True)) >= 45

    page.locator("path.vehicle-marker").first.click()
    popup = page.locator(".vehicle-popup")
    expect(popup).to_contain_text("Vehicle")
    expect(popup).to_contain_text("km/h")
    expect(popup).to_contain_text("Updated")
    page.keyboard.press("Escape")
    # Without a pointer: the vehicle picker, by keyboard, opens the same popup.
    picker = fleet.get_by_role("combobox", name="Vehicles: show a vehicle")
    picker.focus()
    picker.press("ArrowDown")
    expect(popup).to_be_visible()
    expect(popup).to_contain_text("km/h")
    full_screenshot(page, "fleet-desktop")

    phone = new_page(viewport=PHONE)
    log_in(phone, "alice")
    open_dashboard(phone, "fleet")
    expect(panel(phone, "Vehicles")).to_have_attribute("data-points", "50")
    full_screenshot(phone, "fleet-phone")


def test_the_owner_adds_a_ticker_and_a_map_in_the_editor(new_page, rest) -> None:
    page = new_page(viewport=DESKTOP)
    log_in(page, "alice")
    # A dashboard of its own: the other tests count the Fleet dashboard's markers.
    helpers.api_post(page, "/api/dashboards/", {"name": "Scratch", "slug": "scratch"})
    open_dashboard(page, "scratch")
    for kind, title in (("Ticker (many metrics of one device)", "Few symbols"),
                        ("Map (devices reporting lat, lon and speed)", "Two vans")):  # fmt: skip
        page.get_by_role("button", name="Add panel").click()
        dialog = page.get_by_role("dialog", name="Add a panel")
        dialog.get_by_label("Title").fill(title)
        dialog.get_by_label("Kind").select_option(label=kind)
        expect(dialog.get_by_label("Metric", exact=True)).to_be_hidden()
        if kind.startswith("Ticker"):
            dialog.get_by_label("Device", exact=True).select_option(label=simulators.MARKET_DEVICE)
            dialog.get_by_label("Symbols").fill("aapl, msft\nnvda")
        else:
            expect(dialog.get_by_label("Device", exact=True)).to_be_hidden()
            dialog.get_by_label("Markers").select_option(label=["Vehicle 01", "Vehicle 02"])
        dialog.get_by_role("button", name="Add panel").click()
        expect(panel(page, title)).to_be_visible()
        expect(page.get_by_role("status", name="Connection")).to_have_text("Live")
    ticker = panel(page, "Few symbols")
    expect(ticker.get_by_role("row")).to_have_count(4)  # the header and three symbols
    expect(ticker.get_by_role("rowheader")).to_have_text(["AAPL", "MSFT", "NVDA"])
    expect(panel(page, "Two vans")).to_contain_text("2 devices")
