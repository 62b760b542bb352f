"""Issue 5 across real processes: readings ingested on one process reach dashboards served by
the other (socket and SSE), coalesced at 1,000 readings a second; a rotated key ends the
device's socket wherever it is."""

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import Stack, derived_stack
from tests.support.clients import (
    HTTP_TIMEOUT,
    Account,
    Rest,
    Server,
    close_code,
    connect_socket,
    ingest,
    recv_json,
    sse_events,
)

pytestmark = pytest.mark.integration

MAX_FRAMES_PER_SECOND = 10


async def dashboard_with_panel(rest: Rest, metric: str) -> tuple[dict, dict, int]:
    """A new device and a dashboard charting its `metric`: (device, dashboard, panel id)."""
    device = await rest.create_device(f"sensor for {metric}")
    dashboard = await rest.create_dashboard(
        panels=[{"title": metric.title(), "device": device["id"], "metric": metric, "kind": "line"}]
    )
    return device, dashboard, dashboard["panels"][0]["id"]


class DashboardSocket:
    """`/ws/dashboards/<slug>/`: records every `readings` frame with its arrival time."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.points: list[list] = []

    @classmethod
    async def open(cls, server: Server, account: Account, slug: str) -> "DashboardSocket":
        socket = cls(await connect_socket(server, f"/ws/dashboards/{slug}/", account))
        socket.snapshot = await recv_json(socket.ws)
        assert socket.snapshot["type"] == "snapshot", socket.snapshot
        return socket

    async def until_points(self, count: int, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                while len(self.points) < count:
                    frame = await recv_json(self.ws, within=None)
                    if frame["type"] == "readings":
                        self.frames.append((time.monotonic(), frame))
                        self.points += frame["points"]
        except TimeoutError:
            raise AssertionError(
                f"the dashboard socket got {len(self.points)} of {count} points in {within}s"
            ) from None


class DashboardStream:
    """`/sse/dashboards/<slug>/` with the session cookie, read in a task of its own."""

    def __init__(self, server: Server, account: Account, slug: str) -> None:
        self.url = f"{server.http}/sse/dashboards/{slug}/"
        self.cookies = {"sessionid": account.sessionid}
        self.events: list[Any] = []
        self.points: list[list] = []
        self.snapshot = asyncio.Event()
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        timeout = httpx.Timeout(HTTP_TIMEOUT, read=None)
        async with (
            httpx.AsyncClient(cookies=self.cookies, timeout=timeout, trust_env=False) as http,
            http.stream("GET", self.url) as response,
        ):
            async for event in sse_events(response):
                self.events.append(event)
                if event.event == "snapshot":
                    self.snapshot.set()
                elif event.event == "readings":
                    self.points += event.data["points"]
                self.changed.set()

    async def until_points(self, count: int, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                await self.snapshot.wait()
                while len(self.points) < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"the SSE stream got {len(self.points)} of {count} points in {within}s"
            ) from None

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_readings_ingested_on_one_process_reach_the_socket_and_sse_on_the_other(
    sqlite_stack,
):
    stack = sqlite_stack
    [owner] = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        device, dashboard, panel = await dashboard_with_panel(rest, "temperature")
    socket = await DashboardSocket.open(stack.two, owner, dashboard["slug"])
    stream = DashboardStream(stack.two, owner, dashboard["slug"])
    try:
        assert socket.snapshot["panels"] == {str(panel): []}
        await stream.until_points(0, within=10)  # subscribed once the snapshot is out
        readings = [{"metric": "temperature", "value": 20.5 + n} for n in range(5)]
        started = time.monotonic()
        response = await ingest(stack.one, device["api_key"], readings)
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 5}
        await socket.until_points(5, within=5)
        took = time.monotonic() - started
        await stream.until_points(5, within=5)
    finally:
        await stream.close()
        await socket.ws.close()

    assert took < 1.0, f"the readings reached the other process's socket after {took:.3f}s"
    assert {frame["panel"] for _, frame in socket.frames} == {panel}
    assert [value for _, value in socket.points] == [r["value"] for r in readings]
    assert stream.points == socket.points, "SSE and the socket deliver the same points"
    assert stream.events[0].data == {"type": "snapshot", "panels": {str(panel): []}}
    assert {event.data["panel"] for event in stream.events[1:]} == {panel}


async def test_a_thousand_readings_a_second_from_both_processes_are_coalesced(sqlite_stack):
    stack = sqlite_stack
    seconds, batches_per_second, batch = 3, 10, 100
    total = seconds * batches_per_second * batch
    [owner] = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        device, dashboard, panel = await dashboard_with_panel(rest, "load")
    socket = await DashboardSocket.open(stack.two, owner, dashboard["slug"])
    stream = DashboardStream(stack.one, owner, dashboard["slug"])
    try:
        await stream.until_points(0, within=10)

        async def send_batches() -> None:
            started = time.monotonic()
            for b in range(seconds * batches_per_second):
                await asyncio.sleep(  # noqa: sleep-ok pacing the load at 1,000 readings/s
                    max(0.0, started + b / batches_per_second - time.monotonic())
                )
                readings = [{"metric": "load", "value": b * batch + i} for i in range(batch)]
                # Batches alternate between the two processes.
                response = await ingest(stack.servers[b % 2], device["api_key"], readings)
                assert response.status_code == 202, response.text

        await asyncio.gather(
            send_batches(),
            socket.until_points(total, within=seconds + 10),
            stream.until_points(total, within=seconds + 10),
        )
    finally:
        await stream.close()
        await socket.ws.close()

    expected = list(range(total))
    assert sorted(value for _, value in socket.points) == expected, "socket: every point once"
    assert sorted(value for _, value in stream.points) == expected, "SSE: every point once"
    arrivals = [at for at, _ in socket.frames]
    # At most 10 frames in any second: any 11 consecutive frames span a second (less 10%
    # for the network's jitter between the server's sends and their arrival here).
    window = MAX_FRAMES_PER_SECOND
    spans = [arrivals[i + window] - arrivals[i] for i in range(len(arrivals) - window)]
    assert not spans or min(spans) >= 0.9, (
        f"{window + 1} frames arrived within {min(spans):.3f}s ({len(arrivals)} frames)"
    )
    assert len(arrivals) <= seconds * MAX_FRAMES_PER_SECOND + 20, len(arrivals)


async def test_rotating_a_key_closes_the_device_socket_on_the_other_process_4003(sqlite_stack):
    stack = sqlite_stack
    [owner] = await stack.login(1)
    reading = json.dumps({"type": "readings", "readings": [{"metric": "humidity", "value": 40}]})

    async with Rest(stack.one, owner) as rest:
        device, dashboard, _ = await dashboard_with_panel(rest, "humidity")
        old_key = device["api_key"]
        sensor = await device_socket(stack.two, old_key)
        viewer = await DashboardSocket.open(stack.two, owner, dashboard["slug"])
        await sensor.send(reading)
        assert await recv_json(sensor) == {"type": "ack", "accepted": 1}

        closing = asyncio.create_task(close_code(sensor, within=10))
        new_key = (await rest.rotate_key(device["id"]))["api_key"]
        answered = time.monotonic()
        code = await closing
        took = time.monotonic() - answered
        # The owner's own sockets are not the device's: the dashboard stays open.
        await viewer.ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(10):
            while (await recv_json(viewer.ws, within=None))["type"] != "pong":
                pass  # the readings of the reading sent above may come first
        await viewer.ws.close()

    assert code == 4003
    assert took < 1.0, f"the device socket closed {took:.3f}s after the rotation returned"
    for server in stack.servers:
        with pytest.raises(InvalidStatus) as refused:
            await (await device_socket(server, old_key)).close()
        assert refused.value.response.status_code == 403
        response = await ingest(server, old_key, [{"metric": "humidity", "value": 41}])
        assert response.status_code in (401, 403), response.text
    async with await device_socket(stack.one, new_key) as sensor:
        await sensor.send(reading)
        assert await recv_json(sensor) == {"type": "ack", "accepted": 1}


@pytest.fixture(scope="module")
def ingest_budget_stack(sqlite_stack: Stack) -> Iterator[Stack]:
    """Two Daphnes and a Redis of their own where a device may send 4 batches a minute."""
    with derived_stack(sqlite_stack, SWITCHBOARD_DEVICE_INGEST_RATE="4/minute") as stack:
        yield stack


def device_socket(server: Server, key: str):
    headers = {"Authorization": f"Api-Key {key}"}
    return connect_socket(server, "/ws/devices/", origin=None, headers=headers)


async def test_a_device_has_one_ingest_budget_across_rest_sockets_and_processes(
    ingest_budget_stack,
):
    stack = ingest_budget_stack
    [owner] = await stack.login(1)
    reading = {"metric": "t", "value": 1}
    frame = json.dumps({"type": "readings", "readings": [reading]})
    async with Rest(stack.one, owner) as rest:
        spent_by_rest = await rest.create_device("spends over REST")
        spent_by_socket = await rest.create_device("spends over its socket")

    # REST on both processes spends the budget; the device's socket is then refused.
    for server in (stack.one, stack.two, stack.one, stack.two):
        assert (await ingest(server, spent_by_rest["api_key"], [reading])).status_code == 202
    async with await device_socket(stack.two, spent_by_rest["api_key"]) as sensor:
        await sensor.send(frame)
        refused = await recv_json(sensor)
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")

    # Its socket on one process spends the budget; REST on the other is then refused.
    async with await device_socket(stack.one, spent_by_socket["api_key"]) as sensor:
        for _ in range(4):
            await sensor.send(frame)
            assert await recv_json(sensor) == {"type": "ack", "accepted": 1}
    response = await ingest(stack.two, spent_by_socket["api_key"], [reading])
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "rate_limited"


async def test_a_public_dashboard_serves_only_its_charted_series(sqlite_stack):
    stack = sqlite_stack
    owner, viewer = await stack.login(2)
    async with Rest(stack.one, owner) as rest:
        device, dashboard, _ = await dashboard_with_panel(rest, "temperature")
    readings = [{"metric": "temperature", "value": 21}, {"metric": "door.open", "value": 1}]
    assert (await ingest(stack.one, device["api_key"], readings)).status_code == 202
    async with Rest(stack.two, viewer) as rest:
        url = f"/api/dashboards/{dashboard['slug']}/series/"
        charted = await rest.client.get(
            url, params={"device": device["id"], "metric": "temperature"}
        )
        hidden = await rest.client.get(url, params={"device": device["id"], "metric": "door.open"})
    assert charted.status_code == 200 and [p[1] for p in charted.json()["points"]] == [21]
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"


async def test_a_200_symbol_ticker_is_conflated_across_processes(sqlite_stack):
    """Bursts of prices ingested on both processes reach a ticker on the second as at most
    one frame per 100 ms window, one point per symbol a frame, ending with the latest prices."""
    stack = sqlite_stack
    symbols = [f"s{n:03d}" for n in range(200)]
    [owner] = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        device = await rest.create_device("market feed")
        dashboard = await rest.create_dashboard(panels=[
            {"title": "Ticker", "device": device["id"], "kind": "ticker", "metrics": symbols}
        ])  # fmt: skip
    socket = await DashboardSocket.open(stack.two, owner, dashboard["slug"])
    batches, final = 10, 10 * 5 - 1
    started = time.monotonic()
    try:
        for b in range(batches):  # 200 symbols x 5 moves a batch, as fast as they are stored
            readings = [{"metric": s, "value": b * 5 + u} for u in range(5) for s in symbols]
            response = await ingest(stack.servers[b % 2], device["api_key"], readings)
            assert response.status_code == 202, response.text
        latest: dict[str, float] = {}
        async with asyncio.timeout(20):
            while len(latest) < 200 or min(latest.values()) < final:
                frame = await recv_json(socket.ws, within=None)
                socket.frames.append((time.monotonic(), frame))
                named = [point[3] for point in frame["points"]]
                assert len(named) == len(set(named)), "one point per symbol in a frame"
                latest.update({point[3]: point[1] for point in frame["points"]})
    finally:
        await socket.ws.close()
    duration = socket.frames[-1][0] - started
    assert len(socket.frames) <= math.ceil(duration / 0.1) + 1, (len(socket.frames), duration)
    assert latest == dict.fromkeys(symbols, final)
