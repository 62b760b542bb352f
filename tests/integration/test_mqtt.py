"""Devices over MQTT (CONTRACT.md §11) with a real Mosquitto, the bridge as a process of its own
(`manage.py mqtt_bridge`), two Daphnes and a real Redis: the broker authenticates devices and
confines them to their topic, the bridge ingests through the ingest service, rotation and
revocation disconnect at the broker, and acknowledged QoS 1 readings survive a broker restart."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiomqtt
import pytest

from tests.integration.conftest import UNLIMITED, Stack, derived_stack
from tests.integration.test_dashboards import DashboardSocket, dashboard_with_panel
from tests.support import procs
from tests.support.clients import Rest, metric

pytestmark = pytest.mark.integration

BRIDGE_READY = "subscribed to devices/+/readings"


@dataclass
class MqttStack:
    stack: Stack
    broker: procs.MosquittoServer
    bridge: procs.ManageProcess
    bridge_metrics: procs.Loopback


@pytest.fixture(scope="module")
def mqtt_stack(sqlite_stack: Stack) -> Iterator[MqttStack]:
    with procs.MosquittoServer() as broker:
        env = {
            "SWITCHBOARD_MQTT_URL": broker.url,
            "SWITCHBOARD_MQTT_ADMIN_USER": broker.admin_user,
            "SWITCHBOARD_MQTT_ADMIN_PASSWORD": broker.admin_password,
            "SWITCHBOARD_DEVICE_INGEST_RATE": "1000/second",
            **UNLIMITED,
        }
        with derived_stack(sqlite_stack, **env) as stack:
            metrics = procs.Loopback()
            metrics.port = procs.free_port()
            bridge = procs.ManageProcess(
                stack.env, "mqtt_bridge", "--metrics-port", str(metrics.port), ready=BRIDGE_READY
            )
            with bridge:
                yield MqttStack(stack, broker, bridge, metrics)


@dataclass
class Sensor:
    """A device of a fresh user, charted on a dashboard whose socket is open on server two."""

    rest: Rest
    device: dict
    socket: DashboardSocket


@pytest.fixture
async def sensor(mqtt_stack: MqttStack) -> AsyncIterator[Sensor]:
    stack = mqtt_stack.stack
    (account,) = await stack.login(1)
    async with Rest(stack.one, account) as rest:
        device, dashboard, _ = await dashboard_with_panel(rest, "temp")
        socket = await DashboardSocket.open(stack.two, account, dashboard["slug"])
        try:
            yield Sensor(rest, device, socket)
        finally:
            await socket.ws.close()


def device_client(broker: procs.MosquittoServer, device: dict, key: str | None = None):
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=str(device["id"]),
        password=key or device["api_key"],
        identifier=f"device-{device['id']}-{uuid.uuid4().hex[:6]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=10,
    )


def readings(*values: float, metric: str = "temp") -> bytes:
    return json.dumps({"readings": [{"metric": metric, "value": v} for v in values]}).encode()


async def test_a_published_reading_reaches_a_dashboard_on_the_other_process(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    async with device_client(mqtt_stack.broker, sensor.device) as device:
        await device.publish(f"devices/{sensor.device['id']}/readings", readings(21.5), qos=1)
    await sensor.socket.until_points(1, within=10)
    assert [value for _ts, value in sensor.socket.points] == [21.5]


async def test_a_wrong_key_is_refused_by_the_broker(mqtt_stack: MqttStack, sensor: Sensor) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with device_client(mqtt_stack.broker, sensor.device, key="sbk_not-the-key"):
            pass
    assert refused.value.rc in (4, 5, 134, 135), refused.value  # bad credentials / not authorised


async def test_a_device_publishes_only_to_its_own_topic_and_reads_nothing(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    stack = mqtt_stack.stack
    (other_account,) = await stack.login(1)
    async with Rest(stack.one, other_account) as other_rest:
        other, other_dashboard, _ = await dashboard_with_panel(other_rest, "temp")
    other_socket = await DashboardSocket.open(stack.two, other_account, other_dashboard["slug"])
    try:
        async with (
            device_client(mqtt_stack.broker, sensor.device) as intruder,
            device_client(mqtt_stack.broker, other) as owner,
        ):
            granted = await intruder.subscribe("devices/+/readings", qos=1)
            assert all(code.value >= 0x80 for code in granted), granted  # refused
            await intruder.publish(f"devices/{other['id']}/readings", readings(666), qos=1)
            # The owner's reading, published after the intruder's was answered, arrives alone.
            await owner.publish(f"devices/{other['id']}/readings", readings(1), qos=1)
        await other_socket.until_points(1, within=10)
        assert [p[1] for p in other_socket.points] == [1]
    finally:
        await other_socket.ws.close()


async def until_disconnected(client: aiomqtt.Client, within: float) -> None:
    async with asyncio.timeout(within):
        with pytest.raises(aiomqtt.MqttError):
            async for _ in client.messages:
                pass


async def test_rotation_and_revocation_disconnect_at_the_broker(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    device_id = sensor.device["id"]
    async with device_client(mqtt_stack.broker, sensor.device) as connected:
        rotated = await sensor.rest.rotate_key(device_id)
        await until_disconnected(connected, within=5)
    with pytest.raises(aiomqtt.MqttCodeError):
        async with device_client(mqtt_stack.broker, sensor.device):
            pass  # the old key
    async with device_client(mqtt_stack.broker, sensor.device, rotated["api_key"]) as renewed:
        await renewed.publish(f"devices/{device_id}/readings", readings(7), qos=1)
        await sensor.socket.until_points(1, within=10)
        await sensor.rest.post(f"/api/devices/{device_id}/revoke/", expect=204)
        await until_disconnected(renewed, within=5)
    with pytest.raises(aiomqtt.MqttCodeError):
        async with device_client(mqtt_stack.broker, sensor.device, rotated["api_key"]):
            pass


async def test_a_flood_of_bad_payloads_leaves_the_bridge_alive_and_counted(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    metrics = mqtt_stack.bridge_metrics
    reasons = ("not_json", "invalid", "oversize")
    before = {r: await metric(metrics, "switchboard_mqtt_dropped_total", reason=r) for r in reasons}
    bad = {
        "not_json": [b"{not json", b"\xff\xfe", b""],
        "invalid": [
            b"[1, 2]",
            b'{"readings": "many"}',
            readings(1, metric="Not A Metric!"),
            b'{"readings": [{"metric": "temp", "value": "hot"}]}',
        ],
        "oversize": [b'{"readings": [' + b" " * (256 * 1024) + b"]}"],
    }
    topic = f"devices/{sensor.device['id']}/readings"
    async with device_client(mqtt_stack.broker, sensor.device) as device:
        for _ in range(10):
            for payloads in bad.values():
                for payload in payloads:
                    await device.publish(topic, payload, qos=1)
        await device.publish(topic, readings(42), qos=1)
        await sensor.socket.until_points(1, within=15)
    assert [p[1] for p in sensor.socket.points] == [42]
    assert mqtt_stack.bridge.proc.poll() is None
    for reason, payloads in bad.items():
        after = await metric(metrics, "switchboard_mqtt_dropped_total", reason=reason)
        assert after - before[reason] == 10 * len(payloads), reason


async def test_a_rotation_while_the_broker_is_down_is_applied_by_mqtt_sync(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    broker, stack = mqtt_stack.broker, mqtt_stack.stack
    device_id = sensor.device["id"]
    await asyncio.to_thread(broker.stop)
    try:
        rotated = await sensor.rest.rotate_key(device_id)  # the rotation itself succeeds
    finally:
        await asyncio.to_thread(broker.start)
    errors = await metric(stack.one, "switchboard_mqtt_broker_errors_total")
    assert errors >= 1
    # The bridge synced once, at its start; the change waits for mqtt_sync.
    assert any("broker in sync" in line for line in mqtt_stack.bridge.output)
    assert not any("sync failed" in line for line in mqtt_stack.bridge.output)
    out = await asyncio.to_thread(procs.manage, stack.env, "mqtt_sync")
    assert "1 device(s) updated" in out
    with pytest.raises(aiomqtt.MqttCodeError):
        async with device_client(broker, sensor.device):
            pass  # the old key
    async with device_client(broker, sensor.device, rotated["api_key"]) as renewed:
        await renewed.publish(f"devices/{device_id}/readings", readings(5), qos=1)
    await sensor.socket.until_points(1, within=10)


async def test_a_broker_restart_loses_no_acknowledged_reading(
    mqtt_stack: MqttStack, sensor: Sensor
) -> None:
    broker, bridge = mqtt_stack.broker, mqtt_stack.bridge
    topic = f"devices/{sensor.device['id']}/readings"
    count = 30
    bridge.stop()  # away: the broker keeps its persistent session's readings
    try:
        async with device_client(broker, sensor.device) as device:
            for value in range(count):
                await device.publish(topic, readings(value), qos=1)  # returns on PUBACK
        await asyncio.to_thread(broker.restart)
    finally:
        await asyncio.to_thread(bridge.start)
    await sensor.socket.until_points(count, within=30)
    assert sorted(p[1] for p in sensor.socket.points) == list(range(count))

    # The running bridge rides out a second restart: it reconnects (with backoff) by itself.
    await asyncio.to_thread(broker.restart)
    async with device_client(broker, sensor.device) as device:
        await device.publish(topic, readings(1000), qos=1)
    await sensor.socket.until_points(count + 1, within=30)
    assert sensor.socket.points[-1][1] == 1000
