"""Devices and API keys, ingestion over REST with strict validation, alerts, series."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dashboard import demo, selectors, services
from dashboard.models import AlertRule, Device, Reading, ReadingRollup
from realtime.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def device_key(user):
    device, key = services.device_create(owner=user, name="Greenhouse")
    return device, key


def ingest(key, payload):
    return Client().post(
        "/api/ingest/",
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


def test_device_create_shows_key_once_and_stores_only_a_hash(api):
    response = api.post("/api/devices/", {"name": "Boiler"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "api_key"} and body["api_key"].startswith("sbk_")
    device = Device.objects.get(pk=body["id"])
    assert body["api_key"] not in (device.key_hash, device.key_prefix)
    assert len(device.key_hash) == 64
    listed = api.get("/api/devices/").json()
    assert listed[0]["name"] == "Boiler" and "api_key" not in listed[0]


def test_key_authenticates_and_rotation_retires_the_old_key(api, device_key):
    device, key = device_key
    assert services.device_authenticate(key=key) == device
    assert services.device_authenticate(key=key + "x") is None
    assert services.device_authenticate(key="sbk_" + "a" * 43) is None
    assert services.device_authenticate(key="") is None
    new_key = api.post(f"/api/devices/{device.pk}/rotate-key/").json()["api_key"]
    assert services.device_authenticate(key=key) is None
    assert services.device_authenticate(key=new_key) == device
    assert ingest(key, {"readings": [{"metric": "t", "value": 1}]}).status_code == 401
    assert ingest(new_key, {"readings": [{"metric": "t", "value": 1}]}).status_code == 202


def test_only_the_owner_rotates_or_revokes(device_key, other):
    device, key = device_key
    bob = Client()
    bob.force_login(other)
    assert bob.post(f"/api/devices/{device.pk}/rotate-key/").status_code == 404
    assert bob.post(f"/api/devices/{device.pk}/revoke/").status_code == 404
    assert services.device_authenticate(key=key) == device


def test_revoked_key_stops_working(api, device_key):
    device, key = device_key
    assert api.post(f"/api/devices/{device.pk}/revoke/").status_code == 204
    assert ingest(key, {"readings": [{"metric": "t", "value": 1}]}).status_code == 401


def test_ingest_stores_a_batch_and_defaults_ts_to_now(device_key):
    device, key = device_key
    ts = (timezone.now() - timedelta(seconds=30)).isoformat()
    response = ingest(key, {"readings": [
        {"metric": "temperature", "value": 21.5, "ts": ts},
        {"metric": "humidity", "value": 40},
    ]})  # fmt: skip
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    stored = {r.metric: r for r in Reading.objects.filter(device=device)}
    assert stored["temperature"].value == 21.5
    assert abs((timezone.now() - stored["humidity"].ts).total_seconds()) < 5
    device.refresh_from_db()
    assert device.last_seen_at is not None


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        ({"metric": "Temp", "value": 1}, "metric"),
        ({"metric": "a" * 65, "value": 1}, "metric"),
        ({"metric": "t e", "value": 1}, "metric"),
        ({"metric": "t", "value": "1"}, "value"),
        ({"metric": "t", "value": True}, "value"),
        ({"metric": "t", "value": None}, "value"),
        ({"metric": "t"}, "value"),
        ({"value": 1}, "metric"),
        ({"metric": "t", "value": 1, "ts": "yesterday"}, "ts"),
        ({"metric": "t", "value": 1, "ts": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
         "ts"),
    ],
)  # fmt: skip
def test_any_bad_reading_rejects_the_batch_naming_its_index(device_key, reading, field):
    _, key = device_key
    good = {"metric": "ok", "value": 1}
    response = ingest(key, {"readings": [good, reading, good]})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_readings"
    assert list(body["errors"]) == ["1"] and field in body["errors"]["1"]
    assert Reading.objects.count() == 0


def test_non_finite_values_are_rejected(device_key):
    _, key = device_key
    for raw in (
        '{"readings":[{"metric":"t","value":NaN}]}',
        '{"readings":[{"metric":"t","value":Infinity}]}',
    ):
        response = Client().post(
            "/api/ingest/",
            raw,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        assert response.status_code == 400, raw
    assert Reading.objects.count() == 0


@pytest.mark.parametrize(
    "payload", [{}, {"readings": []}, {"readings": "x"}, [1], {"readings": [1, "x"]}]
)
def test_malformed_batches_are_400(device_key, payload):
    _, key = device_key
    assert ingest(key, payload).status_code == 400


def test_batch_limit_is_1000(device_key):
    _, key = device_key
    assert (
        ingest(key, {"readings": [{"metric": "t", "value": i} for i in range(1000)]}).status_code
        == 202
    )
    assert (
        ingest(key, {"readings": [{"metric": "t", "value": i} for i in range(1001)]}).status_code
        == 400
    )
    assert Reading.objects.count() == 1000


def test_ingest_needs_a_device_key(api, device_key):
    assert Client().post("/api/ingest/", {}, content_type="application/json").status_code == 401
    assert ingest("sbk_wrong", {"readings": [{"metric": "t", "value": 1}]}).status_code == 401
    response = api.post("/api/ingest/", {"readings": [{"metric": "t", "value": 1}]}, format="json")
    assert response.status_code == 403  # a user's session is not a device
    assert Client().post(
        f"/api/ingest/?api_key={device_key[1]}", {"readings": [{"metric": "t", "value": 1}]},
        content_type="application/json",
    ).status_code == 401  # fmt: skip


def test_ingest_is_rate_limited_per_device_with_retry_after(device_key, user, settings):
    settings.SWITCHBOARD_DEVICE_INGEST_RATE = "2/minute"
    _, key = device_key
    other_device, other_key = services.device_create(owner=user, name="Other")
    for _ in range(2):
        assert ingest(key, {"readings": [{"metric": "t", "value": 1}]}).status_code == 202
    limited = ingest(key, {"readings": [{"metric": "t", "value": 1}]})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert ingest(other_key, {"readings": [{"metric": "t", "value": 1}]}).status_code == 202
    assert Reading.objects.count() == 3


def _at(seconds: float) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def test_alert_fires_after_for_seconds_once_and_resolves_once(user):
    device, _ = services.device_create(owner=user, name="Greenhouse")
    rule = AlertRule.objects.create(
        owner=user, device=device, metric="temperature", op=">", threshold=30, for_seconds=10
    )

    def feed(*pairs):
        services.readings_record(
            device=device,
            readings=[{"metric": "temperature", "value": v, "ts": _at(t)} for t, v in pairs],
        )

    feed((0, 31), (5, 32))
    rule.refresh_from_db()
    assert rule.state == "pending" and not Notification.objects.exists()
    feed((10, 33), (11, 34), (20, 35))
    rule.refresh_from_db()
    assert rule.state == "firing"
    assert list(Notification.objects.values_list("kind", flat=True)) == ["alert.firing"]
    feed((21, 29), (22, 28), (31, 27))  # back under for for_seconds: resolved
    rule.refresh_from_db()
    assert rule.state == "ok"
    kinds = sorted(Notification.objects.values_list("kind", flat=True))
    assert kinds == ["alert.firing", "alert.resolved"]
    firing = Notification.objects.get(kind="alert.firing")
    assert firing.user == user and "temperature > 30" in firing.title


def test_a_dip_before_for_seconds_resets_the_pending_alert(user):
    device, _ = services.device_create(owner=user, name="Greenhouse")
    rule = AlertRule.objects.create(
        owner=user, device=device, metric="t", op="<=", threshold=0, for_seconds=10
    )
    services.readings_record(device=device, readings=[
        {"metric": "t", "value": -1, "ts": _at(0)}, {"metric": "t", "value": 5, "ts": _at(6)},
        {"metric": "t", "value": -2, "ts": _at(8)}, {"metric": "t", "value": -3, "ts": _at(15)},
    ])  # fmt: skip
    rule.refresh_from_db()
    assert rule.state == "pending" and not Notification.objects.exists()


def test_alerts_api_creates_rules_for_own_devices_only(api, user, other):
    mine, _ = services.device_create(owner=user, name="Mine")
    theirs, _ = services.device_create(owner=other, name="Theirs")
    rule = {"metric": "t", "op": ">=", "threshold": 5, "for_seconds": 0}
    created = api.post("/api/alerts/", {**rule, "device": mine.pk}, format="json")
    assert created.status_code == 201 and created.json()["state"] == "ok"
    assert api.post("/api/alerts/", {**rule, "device": theirs.pk}, format="json").status_code == 403
    assert (
        api.post("/api/alerts/", {**rule, "device": mine.pk, "op": "=="}, format="json").status_code
        == 400
    )
    assert [r["device"] for r in api.get("/api/alerts/").json()] == [mine.pk]


def test_series_buckets_min_avg_max_over_raw_and_rolled_up_data(user):
    # Buckets are aligned to the epoch (the same bucket whenever it is asked for), so the
    # readings are placed inside one bucket on purpose, at fixed dates: today's date plays no part.
    device, _ = services.device_create(owner=user, name="D")
    bucket = 86400 * 30
    start = datetime.fromtimestamp(682 * bucket, tz=UTC)  # 2026-01-07, a bucket boundary
    old, recent = start + timedelta(days=1), start + timedelta(days=20)
    readings = [{"metric": "t", "value": v, "ts": old + timedelta(seconds=s)}
                for s, v in [(1, 1), (2, 3), (3, 8)]]  # fmt: skip
    readings += [{"metric": "t", "value": v, "ts": recent + timedelta(seconds=s)}
                 for s, v in [(5, 10), (4, 20)]]  # fmt: skip
    services.readings_record(device=device, readings=readings)
    cutoff = start + timedelta(days=10)  # folds the old readings, keeps the recent ones raw
    older_than = timezone.now() - cutoff
    assert services.readings_downsample(older_than=older_than, bucket_seconds=3600) == 3
    assert ReadingRollup.objects.get().count == 3
    assert Reading.objects.count() == 2
    points = selectors.series(
        device=device, metric="t", since=start, until=start + timedelta(seconds=bucket),
        bucket=bucket,
    )  # fmt: skip
    [(ts, low, avg, high)] = points
    assert (low, high) == (1, 20) and math.isclose(avg, (1 + 3 + 8 + 10 + 20) / 5)
    assert ts == "2026-01-07T00:00:00.000Z"
    # The next bucket starts a whole bucket later, whatever the readings' dates.
    later = selectors.series(
        device=device, metric="t", since=start - timedelta(days=1), until=recent + timedelta(1),
        bucket=86400,
    )  # fmt: skip
    assert [p[0] for p in later] == ["2026-01-08T00:00:00.000Z", "2026-01-27T00:00:00.000Z"]


def test_series_api_validates_and_needs_the_device_on_the_dashboard(api, user, other):
    device, _ = services.device_create(owner=user, name="D")
    stranger, _ = services.device_create(owner=other, name="S")
    services.dashboard_create(owner=user, name="Ops", slug="ops", panels=[
        {"title": "T", "device": device, "metric": "t", "kind": "line"}])  # fmt: skip
    services.readings_record(
        device=device, readings=[{"metric": "t", "value": 1, "ts": timezone.now()}]
    )
    ok = api.get(f"/api/dashboards/ops/series/?device={device.pk}&metric=t&bucket=60")
    assert ok.status_code == 200 and len(ok.json()["points"]) == 1
    assert api.get(f"/api/dashboards/ops/series/?device={stranger.pk}&metric=t").status_code == 404
    assert (
        api.get(
            f"/api/dashboards/ops/series/?device={device.pk}&metric=t&bucket=1&since=2020-01-01T00:00:00Z"
        ).status_code
        == 400
    )
    assert api.get("/api/dashboards/ops/series/?metric=t").status_code == 400


def test_dashboards_api_and_privacy(api, user, other):
    device, _ = services.device_create(owner=user, name="D")
    created = api.post("/api/dashboards/", {
        "name": "Private ops", "is_public": False,
        "panels": [{"title": "Temp", "device": device.pk, "metric": "t", "kind": "gauge",
                    "thresholds": {"warn": 5}}],
    }, format="json")  # fmt: skip
    assert created.status_code == 201
    body = created.json()
    assert body["slug"] == "private-ops" and body["panels"][0]["thresholds"] == {"warn": 5.0}
    bob = Client()
    bob.force_login(other)
    assert bob.get("/api/dashboards/private-ops/").status_code == 404
    assert bob.get("/dashboards/private-ops/").status_code == 404
    assert api.get("/dashboards/private-ops/").status_code == 200
    theirs, _ = services.device_create(owner=other, name="Theirs")
    panel = {"title": "x", "device": theirs.pk, "metric": "t", "kind": "line"}
    assert api.post("/api/dashboards/private-ops/panels/", panel, format="json").status_code == 403
    panel["device"] = device.pk
    assert api.post("/api/dashboards/private-ops/panels/", panel, format="json").status_code == 201


def test_series_api_serves_only_the_charted_metrics_of_a_public_dashboard(user, other):
    device, _ = services.device_create(owner=user, name="Home")
    services.dashboard_create(owner=user, name="Public", slug="public", is_public=True, panels=[
        {"title": "T", "device": device, "metric": "temperature", "kind": "line"}])  # fmt: skip
    services.readings_record(device=device, readings=[
        {"metric": "temperature", "value": 21, "ts": timezone.now()},
        {"metric": "door.open", "value": 1, "ts": timezone.now()},
    ])  # fmt: skip
    viewer = Client()
    viewer.force_login(other)
    url = f"/api/dashboards/public/series/?device={device.pk}&bucket=60&metric="
    charted = viewer.get(url + "temperature")
    assert charted.status_code == 200 and charted.json()["points"][0][1:] == [21, 21, 21]
    hidden = viewer.get(url + "door.open")
    assert hidden.status_code == 404
    assert hidden.json() == {
        "code": "not_found",
        "detail": "That device's metric is not charted on this dashboard.",
    }
    owner = Client()
    owner.force_login(user)
    assert owner.get(url + "door.open").status_code == 404  # the rule is the dashboard's


def _notified(user) -> list[str]:
    notifications = Notification.objects.filter(user=user).order_by("pk")
    return list(notifications.values_list("kind", flat=True))


def test_a_noisy_value_around_the_threshold_fires_once_and_resolves_once(user):
    device, _ = services.device_create(owner=user, name="Greenhouse")
    AlertRule.objects.create(
        owner=user, device=device, metric="t", op=">", threshold=25, for_seconds=10
    )
    noise = random.Random(12)
    # Ten minutes at one reading a second: 2 below, 6 above, 2 below; the noise crosses the
    # threshold every few readings all along.
    means = [24] * 120 + [26] * 360 + [24] * 120
    services.readings_record(device=device, readings=[
        {"metric": "t", "value": mean + noise.gauss(0, 0.6), "ts": _at(second)}
        for second, mean in enumerate(means)
    ])  # fmt: skip
    assert _notified(user) == ["alert.firing", "alert.resolved"]


def test_a_firing_alert_resolves_only_after_for_seconds_back_across(user):
    device, _ = services.device_create(owner=user, name="Greenhouse")
    rule = AlertRule.objects.create(
        owner=user, device=device, metric="t", op=">", threshold=30, for_seconds=10
    )

    def feed(*pairs):
        services.readings_record(
            device=device, readings=[{"metric": "t", "value": v, "ts": _at(t)} for t, v in pairs]
        )

    feed((0, 31), (10, 31))
    assert _notified(user) == ["alert.firing"]
    feed((11, 29), (15, 29), (16, 31), (20, 29))  # back above at 16: still firing
    rule.refresh_from_db()
    assert rule.state == "firing" and _notified(user) == ["alert.firing"]
    feed((29, 28))  # below since 20, for 9 s
    assert _notified(user) == ["alert.firing"]
    feed((30, 27))  # for 10 s
    rule.refresh_from_db()
    assert rule.state == "ok" and _notified(user) == ["alert.firing", "alert.resolved"]


def test_the_demo_alert_does_not_flap(user):
    """An hour of the simulator's greenhouse through the seeded rule: one firing per warm spell."""
    device, _ = services.device_create(owner=user, name="Greenhouse")
    AlertRule.objects.create(
        owner=user, device=device, metric="temperature", op=">", threshold=25, for_seconds=10
    )
    noise = random.Random(7)
    [(_, base, spread)] = [m for m in demo.SENSORS["Greenhouse"] if m[0] == "temperature"]
    services.readings_record(device=device, readings=[
        {"metric": "temperature", "value": demo.sensor_value(base, spread, second / 60, noise),
         "ts": _at(second)}
        for second in range(3600)
    ])  # fmt: skip
    kinds = _notified(user)
    warm_spells = math.ceil(3600 / (2 * math.pi * 60))  # the wave's period is 2π minutes
    assert 0 < kinds.count("alert.firing") <= warm_spells, kinds
    assert kinds[::2] == ["alert.firing"] * len(kinds[::2])  # firing and resolved alternate
    assert kinds[1::2] == ["alert.resolved"] * len(kinds[1::2])
