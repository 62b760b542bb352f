"""Ticker, candles and map panels; OHLC series; the market and fleet simulators (CONTRACT §11)."""

import asyncio
import json
import math
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from dashboard import selectors, services, simulators
from dashboard.models import Panel, Reading, ReadingRollup
from realtime.errors import Forbidden, Invalid
from realtime.hub import Hub
from tests.support.timing import within

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(user):
    return services.device_create(owner=user, name="Market feed")[0]


@pytest.fixture
def vans(user):
    return [services.device_create(owner=user, name=f"Van {n}")[0] for n in range(3)]


def create(api, panels, slug="board"):
    return api.post(
        "/api/dashboards/", {"name": "Board", "slug": slug, "panels": panels}, format="json"
    )


def test_ticker_candles_and_map_panels_are_created_and_read_back(api, market, vans):
    response = create(api, [
        {"title": "Ticker", "device": market.pk, "kind": "ticker", "metrics": ["aapl", "msft"]},
        {"title": "AAPL", "device": market.pk, "metric": "aapl", "kind": "candles"},
        {"title": "Vans", "kind": "map", "devices": [v.pk for v in vans]},
    ])  # fmt: skip
    assert response.status_code == 201, response.json()
    panels = {p["kind"]: p for p in api.get("/api/dashboards/board/").json()["panels"]}
    assert panels["ticker"]["metrics"] == ["aapl", "msft"] and panels["ticker"]["metric"] == ""
    assert panels["candles"]["metric"] == "aapl" and panels["candles"]["devices"] == []
    assert panels["map"]["devices"] == [v.pk for v in vans] and panels["map"]["device"] is None


@pytest.mark.parametrize(
    "panel, field",
    [
        ({"title": "T", "kind": "ticker", "metrics": []}, "metrics"),
        ({"title": "T", "kind": "ticker", "metrics": ["AAPL"]}, "metrics"),
        ({"title": "T", "kind": "ticker", "metrics": ["a", "a"]}, "metrics"),
        ({"title": "T", "kind": "ticker", "metric": "aapl", "metrics": ["a"]}, "metric"),
        ({"title": "C", "kind": "candles"}, "metric"),
        ({"title": "M", "kind": "map", "devices": []}, "devices"),
        ({"title": "M", "kind": "map", "metric": "lat", "devices": "VANS"}, "metric"),
        ({"title": "L", "kind": "line", "metric": "x", "devices": "VANS"}, "devices"),
        ({"title": "P", "kind": "pie", "metric": "x"}, "kind"),
    ],
)
def test_panel_shapes_are_validated_by_kind(api, market, vans, panel, field):
    panel = dict(panel)
    if panel.get("devices") == "VANS":
        panel["devices"] = [v.pk for v in vans]
    if panel["kind"] != "map":
        panel["device"] = market.pk
    assert create(api, []).status_code == 201
    response = api.post("/api/dashboards/board/panels/", panel, format="json")
    assert response.status_code == 400, response.json()
    assert field in str(response.json())


def test_the_service_applies_the_same_rule_and_refuses_foreign_devices(user, other, vans):
    board = services.dashboard_create(owner=user, name="Board")
    with pytest.raises(Invalid):
        services.panel_add(dashboard=board, actor=user, title="M", kind="map", devices=[])
    theirs = services.device_create(owner=other, name="Their van")[0]
    with pytest.raises(Forbidden):
        services.panel_add(
            dashboard=board, actor=user, title="M", kind="map", devices=[*vans, theirs]
        )
    assert not Panel.objects.filter(dashboard=board).exists()


def _reading(device, metric, value, at):
    return Reading(device=device, metric=metric, value=value, ts=at)


def test_ohlc_opens_with_the_first_and_closes_with_the_last_by_time(market):
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    at = lambda s: start + timedelta(seconds=s)  # noqa: E731
    # Stored out of time order: open and close follow the readings' times, not their ids.
    Reading.objects.bulk_create([
        _reading(market, "aapl", 12.0, at(30)), _reading(market, "aapl", 10.0, at(1)),
        _reading(market, "aapl", 15.0, at(20)), _reading(market, "aapl", 9.0, at(40)),
        _reading(market, "aapl", 11.0, at(59)),
        _reading(market, "aapl", 20.0, at(61)),
        _reading(market, "msft", 999.0, at(5)),
    ])  # fmt: skip
    points = selectors.series(
        device=market, metric="aapl", since=start, until=at(120), bucket=60, agg="ohlc"
    )
    assert points == [
        ["2026-01-05T12:00:00.000Z", 10.0, 15.0, 9.0, 11.0],
        ["2026-01-05T12:01:00.000Z", 20.0, 20.0, 20.0, 20.0],
    ]


def test_ohlc_over_rolled_up_buckets_keeps_their_first_and_last(market):
    old = timezone.now() - timedelta(days=3)
    start = old.replace(minute=0, second=0, microsecond=0)
    at = lambda s: start + timedelta(seconds=s)  # noqa: E731
    Reading.objects.bulk_create([
        _reading(market, "aapl", 10.0, at(5)), _reading(market, "aapl", 30.0, at(20)),
        _reading(market, "aapl", 5.0, at(50)), _reading(market, "aapl", 7.0, at(70)),
        _reading(market, "aapl", 6.0, at(110)),
    ])  # fmt: skip
    before = selectors.series(
        device=market, metric="aapl", since=start, until=at(3600), bucket=3600, agg="ohlc"
    )
    services.readings_downsample(older_than=timedelta(days=1), bucket_seconds=60)
    assert not Reading.objects.exists() and ReadingRollup.objects.count() == 2
    after = selectors.series(
        device=market, metric="aapl", since=start, until=at(3600), bucket=3600, agg="ohlc"
    )
    assert before == after and after[0][1:] == [10.0, 30.0, 5.0, 6.0]
    # A reading that arrives late, earlier than the bucket's first, opens it.
    Reading.objects.create(device=market, metric="aapl", value=8.0, ts=at(1))
    services.readings_downsample(older_than=timedelta(days=1), bucket_seconds=60)
    again = selectors.series(
        device=market, metric="aapl", since=start, until=at(3600), bucket=3600, agg="ohlc"
    )
    assert again[0][1:] == [8.0, 30.0, 5.0, 6.0]


def test_ohlc_api_and_bad_agg(api, market):
    create(api, [{"title": "AAPL", "device": market.pk, "metric": "aapl", "kind": "candles"}])
    now = timezone.now()
    Reading.objects.bulk_create(
        [
            _reading(market, "aapl", v, now - timedelta(seconds=30 - i))
            for i, v in enumerate([3, 9, 1, 4])
        ]
    )
    url = f"/api/dashboards/board/series/?device={market.pk}&metric=aapl&bucket=3600"
    points = api.get(url + "&agg=ohlc").json()["points"]
    flat = [p[1:] for p in points]  # one bucket, or two if the readings straddle an hour
    assert flat[0][0] == 3.0 and flat[-1][-1] == 4.0
    assert max(p[1] for p in flat) == 9.0 and min(p[2] for p in flat) == 1.0
    assert api.get(url + "&agg=median").status_code == 400


def test_viewers_read_only_what_a_ticker_or_map_charts(api, user, other, market, vans):
    services.device_create(owner=user, name="Spare")
    board = services.dashboard_create(owner=user, name="Board", slug="board", panels=[
        {"title": "Ticker", "device": market, "kind": "ticker", "metrics": ["aapl", "msft"]},
        {"title": "Vans", "kind": "map", "devices": vans[:2]},
    ])  # fmt: skip
    allowed = [(market.pk, "aapl"), (market.pk, "msft"), (vans[0].pk, "lat"),
               (vans[1].pk, "speed"), (vans[1].pk, "lon")]  # fmt: skip
    refused = [(market.pk, "goog"), (vans[0].pk, "battery"), (vans[2].pk, "lat")]
    assert set(allowed) <= set(selectors.panels_by_series(dashboard=board))
    api.force_login(other)  # a public dashboard, someone else's
    for device_id, metric in allowed:
        url = f"/api/dashboards/board/series/?device={device_id}&metric={metric}"
        assert api.get(url).status_code == 200, (device_id, metric)
    for device_id, metric in refused:
        url = f"/api/dashboards/board/series/?device={device_id}&metric={metric}"
        assert api.get(url).status_code == 404, (device_id, metric)


def test_snapshot_of_a_ticker_holds_open_and_last_and_a_map_named_points(user, market, vans):
    board = services.dashboard_create(owner=user, name="Board", slug="board", panels=[
        {"title": "Ticker", "device": market, "kind": "ticker", "metrics": ["aapl"]},
        {"title": "Vans", "kind": "map", "devices": vans[:1]},
    ])  # fmt: skip
    ticker, vanmap = board.panels.all()
    now = timezone.now()
    Reading.objects.bulk_create(
        [_reading(market, "aapl", float(v), now - timedelta(seconds=60 - v)) for v in range(50)]
        + [_reading(vans[0], "lat", 48.1, now), _reading(vans[0], "lon", 2.3, now),
           _reading(vans[0], "battery", 80, now)]
    )  # fmt: skip
    panels, _ = selectors.snapshot(dashboard=board)
    assert [(p[1], p[2], p[3]) for p in panels[str(ticker.pk)]] == [
        (0.0, market.pk, "aapl"), (49.0, market.pk, "aapl")
    ]  # fmt: skip
    assert sorted((p[3], p[1]) for p in panels[str(vanmap.pk)]) == [("lat", 48.1), ("lon", 2.3)]


def test_market_walk_is_seeded_and_ingested_through_the_device_budget(user, settings):
    prices = simulators.market_open(["aapl", "msft"], random.Random(3))
    again = simulators.market_open(["aapl", "msft"], random.Random(3))
    start = timezone.now()
    first = simulators.market_step(prices, random.Random(9), updates=3, start=start, span=0.3)
    second = simulators.market_step(again, random.Random(9), updates=3, start=start, span=0.3)
    assert first == second and len(first) == 6 and prices == again
    assert len(simulators.market_symbols()) == 200 == len(set(simulators.market_symbols()))

    device = simulators.market_device(owner=user)
    market = simulators.Market.open(device=device, rate=50, seed=1)
    assert market.tick(0.1) == 1000  # 200 symbols x 5 updates: one batch of 1000
    assert Reading.objects.filter(device=device).count() == 1000
    assert Reading.objects.filter(device=device, metric="aapl").count() == 5
    settings.SWITCHBOARD_DEVICE_INGEST_RATE = "1/minute"
    market.tick(0.1)  # the first batch of a fresh window passes
    assert market.tick(0.1) == 0, "over the device's budget the batch is refused"


def test_fleet_reports_lat_lon_speed_per_vehicle_along_its_route(user):
    devices = simulators.fleet_devices(owner=user, count=3)
    fleet = simulators.Fleet.start(devices=devices, seed=5)
    twin = simulators.Fleet.start(devices=devices, seed=5)
    assert fleet.tick(1.0) == 9
    for device in devices:
        assert sorted(Reading.objects.filter(device=device).values_list("metric", flat=True)) == [
            "lat", "lon", "speed"
        ]  # fmt: skip
    lat = Reading.objects.get(device=devices[0], metric="lat").value
    lon = Reading.objects.get(device=devices[0], metric="lon").value
    assert 35 < lat < 60 and -10 < lon < 25  # on the European routes
    moved = simulators.fleet_step(twin.vehicles, twin.rng, seconds=1.0)
    assert (moved[0][0]["value"], moved[0][1]["value"]) == (lat, lon), "seeded: the same path"


# --- conflation --------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, dict]] = []
        self.arrived = asyncio.Event()

    async def hub_event(self, event: dict) -> None:
        self.events.append((time.monotonic(), event))
        self.arrived.set()


async def test_the_hub_merges_a_groups_readings_per_window_and_delays_no_lone_event(layer):
    hub = Hub(layer, window=0.1)
    recorder = Recorder()
    await hub.subscribe("readings.1", recorder)
    sent = time.monotonic()
    await layer.group_send("readings.1", {
        "type": "hub.readings", "group": "readings.1", "device": 1,
        "points": [["x", "2026-01-01T00:00:00.000Z", 0.0]], "last_id": 1,
    })  # fmt: skip
    await within(recorder.arrived.wait(), 5)
    assert recorder.events[0][0] - sent < 0.1, "a lone reading is not held for the window"
    started = time.monotonic()
    for n in range(1, 101):  # a burst: 100 events within a few windows
        await layer.group_send("readings.1", {
            "type": "hub.readings", "group": "readings.1", "device": 1,
            "points": [["x", f"2026-01-01T00:00:{n // 10:02d}.{n % 10}00Z", float(n)]],
            "last_id": n + 1,
        })  # fmt: skip
    burst = time.monotonic() - started
    async with asyncio.timeout(5):
        while recorder.events[-1][1]["last_id"] != 101:
            recorder.arrived.clear()
            await recorder.arrived.wait()
    values = [p[2] for _, event in recorder.events for p in event["points"]]
    assert values == [float(n) for n in range(101)], "merged, every point kept in order"
    assert len(recorder.events) - 1 <= math.ceil((burst + 0.1) / 0.1) + 1
    await hub.unsubscribe("readings.1", recorder)
    hub._task.cancel()


@pytest.mark.django_db(transaction=True)
async def test_a_burst_reaches_a_ticker_socket_conflated_within_the_frame_budget(layer, user):
    from tests.dashboard.test_sockets import dashboard_socket

    symbols = [f"s{n:03d}" for n in range(200)]
    device = await sync_to_async(simulators.market_device)(owner=user)
    await sync_to_async(services.dashboard_create)(owner=user, name="M", slug="m", panels=[
        {"title": "Ticker", "device": device, "kind": "ticker", "metrics": symbols},
    ])  # fmt: skip
    viewer, connected = await dashboard_socket(user, "m")
    assert connected and (await viewer.receive_json_from(timeout=5))["type"] == "snapshot"
    record = sync_to_async(services.readings_record)
    started = time.monotonic()
    batches = 10
    for b in range(batches):  # 10 batches of 200 symbols x 5 updates, as fast as they store
        now = timezone.now()
        await record(device=device, readings=[
            {"metric": s, "value": float(b * 10 + u), "ts": now + timedelta(milliseconds=u)}
            for u in range(5) for s in symbols
        ])  # fmt: skip
    latest: dict[str, float] = {}
    frames = 0
    final = float((batches - 1) * 10 + 4)
    async with asyncio.timeout(20):
        while len(latest) < 200 or min(latest.values()) < final:
            frame = await viewer.receive_json_from(timeout=10)
            frames += 1
            assert frame["type"] == "readings"
            symbols_in_frame = [p[3] for p in frame["points"]]
            assert len(symbols_in_frame) == len(set(symbols_in_frame)), "one point per symbol"
            latest.update({p[3]: p[1] for p in frame["points"]})
    duration = time.monotonic() - started
    assert frames <= math.ceil(duration / 0.1) + 1, (frames, duration)
    assert latest == {s: final for s in symbols}
    assert await sync_to_async(Reading.objects.filter(device=device).count)() == batches * 1000
    await viewer.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_sse_stream_names_a_maps_points_and_drops_other_metrics(layer, user, vans):
    from django.test import AsyncClient

    await sync_to_async(services.dashboard_create)(owner=user, name="V", slug="v", panels=[
        {"title": "Vans", "kind": "map", "devices": vans[:1]},
    ])  # fmt: skip
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get("/sse/dashboards/v/")
    stream = aiter(response.streaming_content)
    assert b"snapshot" in await within(anext(stream), 5)
    now = timezone.now()
    await sync_to_async(services.readings_record)(device=vans[0], readings=[
        {"metric": "lat", "value": 48.1, "ts": now}, {"metric": "battery", "value": 9, "ts": now},
    ])  # fmt: skip
    chunk = await within(anext(stream), 5)
    while b"event: readings" not in chunk:
        chunk = await within(anext(stream), 5)
    data = json.loads(chunk.decode().split("data: ", 1)[1].split("\n", 1)[0])
    assert [point[1:] for point in data["points"]] == [[48.1, vans[0].pk, "lat"]]
    logout = asyncio.create_task(client.post("/accounts/logout/"))
    async with asyncio.timeout(5):
        async for _ in stream:
            pass  # the stream ends (and frees its slot) once the logout reaches it
    await logout
