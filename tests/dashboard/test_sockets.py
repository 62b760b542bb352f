"""The device socket and the coalescing dashboard socket, through the real ASGI stack."""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from config.asgi import application
from dashboard import services
from dashboard.models import Reading
from tests.chat.test_consumers import closed_with, session_cookie
from tests.support.timing import HeldConnects, within

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def device_key(user):
    return services.device_create(owner=user, name="Greenhouse")


@pytest.fixture
def dashboard(user, device_key):
    device, _ = device_key
    return services.dashboard_create(owner=user, name="Ops", slug="ops", panels=[
        {"title": "Temperature", "device": device, "metric": "temperature", "kind": "line"},
        {"title": "Humidity", "device": device, "metric": "humidity", "kind": "gauge"},
    ])  # fmt: skip


async def device_socket(key: str | None):
    headers = [(b"authorization", f"Api-Key {key}".encode())] if key else []
    socket = WebsocketCommunicator(application, "/ws/devices/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


async def dashboard_socket(user, slug="ops"):
    socket = WebsocketCommunicator(
        application,
        f"/ws/dashboards/{slug}/",
        headers=[(b"origin", b"http://localhost"),
                 (b"cookie", f"sessionid={await session_cookie(user)}".encode())],
    )  # fmt: skip
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


async def test_device_socket_acks_batches_and_rejects_bad_ones_whole(layer, device_key):
    device, key = device_key
    socket, connected = await device_socket(key)
    assert connected
    await socket.send_json_to({"type": "readings", "readings": [
        {"metric": "temperature", "value": 21}, {"metric": "humidity", "value": 50}]})  # fmt: skip
    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "accepted": 2}
    await socket.send_json_to({"type": "readings", "readings": [
        {"metric": "temperature", "value": 21}, {"metric": "BAD", "value": "x"}]})  # fmt: skip
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    assert set(error["errors"]["1"]) == {"metric", "value"}
    await socket.send_to(text_data="{nope")
    assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_json"
    assert await sync_to_async(Reading.objects.count)() == 2
    await socket.disconnect()


async def test_device_socket_needs_a_valid_key(layer, device_key):
    for key in (None, "sbk_wrong", "Bearer x"):
        _, connected = await device_socket(key)
        assert not connected


async def test_rotating_the_key_closes_the_device_socket_with_4003(layer, user, device_key):
    device, key = device_key
    socket, _ = await device_socket(key)
    await sync_to_async(services.device_rotate_key)(device=device, actor=user)
    assert await closed_with(socket) == 4003
    _, connected = await device_socket(key)
    assert not connected


async def test_owner_logout_does_not_close_device_sockets(layer, user, device_key):
    from realtime.sessions import user_sockets_end

    _, key = device_key
    socket, _ = await device_socket(key)
    await sync_to_async(user_sockets_end)(user_id=user.pk)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.disconnect()


async def test_dashboard_gets_snapshot_then_live_readings(layer, user, device_key, dashboard):
    device, key = device_key
    await sync_to_async(services.readings_record)(
        device=device, readings=[{"metric": "temperature", "value": 20.5, "ts": timezone.now()}]
    )
    viewer, connected = await dashboard_socket(user)
    assert connected
    snapshot = await viewer.receive_json_from(timeout=5)
    panels = {p.title: str(p.pk) for p in await sync_to_async(list)(dashboard.panels.all())}
    assert snapshot["type"] == "snapshot"
    assert [v for _, v in snapshot["panels"][panels["Temperature"]]] == [20.5]
    assert snapshot["panels"][panels["Humidity"]] == []
    sensor, _ = await device_socket(key)
    await sensor.send_json_to(
        {"type": "readings", "readings": [{"metric": "humidity", "value": 61}]}
    )
    frame = await viewer.receive_json_from(timeout=5)
    assert frame["type"] == "readings" and str(frame["panel"]) == panels["Humidity"]
    assert [v for _, v in frame["points"]] == [61]
    assert frame["points"][0][0].endswith("Z")
    await sensor.disconnect()
    await viewer.disconnect()


async def test_dashboard_frames_are_coalesced_to_ten_a_second(layer, user, device_key, dashboard):
    device, _ = device_key
    viewer, _ = await dashboard_socket(user)
    await viewer.receive_json_from(timeout=5)
    received, arrivals = [], []

    async def read():
        # Reads concurrently with the feed, so arrival times are the server's send times.
        while len(received) < 1000:
            frame = await viewer.receive_json_from(timeout=5)
            arrivals.append(time.monotonic())
            received.extend(v for _, v in frame["points"])

    reader = asyncio.create_task(read())
    started = time.monotonic()
    record = sync_to_async(services.readings_record)
    for i in range(100):  # 1,000 readings a second: 100 batches of 10, one every 10 ms
        await asyncio.sleep(max(0.0, started + i / 100 - time.monotonic()))  # noqa: sleep-ok pacing
        batch = [float(i * 10 + j) for j in range(10)]
        await record(device=device, readings=[
            {"metric": "temperature", "value": v, "ts": timezone.now()} for v in batch
        ])  # fmt: skip
    await reader
    assert received == [float(v) for v in range(1000)]  # nothing lost, in order
    elapsed = arrivals[-1] - arrivals[0]
    assert len(arrivals) <= 10 * elapsed + 1.5  # at most 10 frames a second
    assert len(arrivals) >= 5  # and coalesced, not one big frame at the end
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.08
    await viewer.disconnect()


async def test_private_dashboards_refuse_other_users(layer, user, other, device_key):
    device, _ = device_key
    await sync_to_async(services.dashboard_create)(
        owner=user, name="Mine", slug="mine", is_public=False
    )
    _, connected = await dashboard_socket(other, "mine")
    assert not connected
    socket, connected = await dashboard_socket(user, "mine")
    assert connected
    await socket.disconnect()
    _, connected = await dashboard_socket(user, "missing")
    assert not connected


async def test_dashboard_socket_frames_are_json(layer, user, dashboard):
    viewer, _ = await dashboard_socket(user)
    await viewer.receive_json_from(timeout=5)
    await viewer.send_to(text_data=json.dumps({"type": "ping"}))
    assert await viewer.receive_json_from(timeout=5) == {"type": "pong"}
    await viewer.disconnect()


async def test_dashboard_socket_sends_only_charted_metrics(
    layer, user, other, device_key, dashboard
):
    device, _ = device_key
    await sync_to_async(services.readings_record)(
        device=device, readings=[{"metric": "door.open", "value": 7, "ts": timezone.now()}]
    )
    viewer, connected = await dashboard_socket(other)  # a public dashboard, someone else's
    assert connected
    snapshot = await viewer.receive_json_from(timeout=5)
    assert 7 not in [v for points in snapshot["panels"].values() for _, v in points]
    await sync_to_async(services.readings_record)(device=device, readings=[
        {"metric": "door.open", "value": 8, "ts": timezone.now()},
        {"metric": "humidity", "value": 60, "ts": timezone.now()},
    ])  # fmt: skip
    frame = await viewer.receive_json_from(timeout=5)
    assert [v for _, v in frame["points"]] == [60]
    assert await viewer.receive_nothing(timeout=0.3)  # the door reading never comes
    await viewer.disconnect()


def rest_ingest(key: str, value: float):
    return Client().post(
        "/api/ingest/",
        {"readings": [{"metric": "temperature", "value": value}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


async def test_rest_ingest_spends_the_device_socket_budget(layer, device_key, settings):
    settings.SWITCHBOARD_DEVICE_INGEST_RATE = "3/minute"
    _, key = device_key
    for value in range(3):
        assert (await sync_to_async(rest_ingest)(key, value)).status_code == 202
    sensor, connected = await device_socket(key)
    assert connected
    await sensor.send_json_to({"type": "readings", "readings": [{"metric": "t", "value": 1}]})
    refused = await sensor.receive_json_from(timeout=5)
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    await sensor.disconnect()
    assert await sync_to_async(Reading.objects.count)() == 3


async def test_device_socket_spends_the_rest_ingest_budget(layer, device_key, user, settings):
    settings.SWITCHBOARD_DEVICE_INGEST_RATE = "3/minute"
    _, key = device_key
    sensor, connected = await device_socket(key)
    assert connected
    for value in range(3):
        await sensor.send_json_to(
            {"type": "readings", "readings": [{"metric": "t", "value": value}]}
        )
        assert await sensor.receive_json_from(timeout=5) == {"type": "ack", "accepted": 1}
    await sensor.disconnect()
    refused = await sync_to_async(rest_ingest)(key, 4)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["code"] == "rate_limited" and refused.json()["detail"]
    _, other_key = await sync_to_async(services.device_create)(owner=user, name="Other")
    assert (await sync_to_async(rest_ingest)(other_key, 5)).status_code == 202  # per device
    assert await sync_to_async(Reading.objects.count)() == 4


async def test_a_dashboard_socket_whose_session_ends_while_it_connects_is_refused_cleanly(
    layer, user, dashboard, monkeypatch, caplog
):
    """Refused before it was open, it used to fail in its `closing` (nothing to stop yet),
    logged at ERROR, and was closed a second time with 4011."""
    from realtime.consumers import LiveConsumer
    from realtime.presence import get_registry
    from realtime.sessions import user_sockets_end

    first, connected = await dashboard_socket(user)
    assert connected
    held = HeldConnects(monkeypatch, LiveConsumer)
    connecting = asyncio.create_task(dashboard_socket(user))
    await within(held.reached.wait(), 5)
    await sync_to_async(user_sockets_end)(user_id=user.pk)
    assert await closed_with(first) == 4001  # the close has been delivered
    held.go_on.set()
    second, connected = await within(connecting, 5)
    assert not connected
    await second.disconnect(timeout=5)  # once its connect has ended
    await first.disconnect()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not get_registry().owned
