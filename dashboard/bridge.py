"""The MQTT bridge: readings that devices publish to the broker, stored as `/api/ingest/` would.

`manage.py mqtt_bridge` runs it as a process of its own beside a Redis layer; under `make run`
(the in-memory layer, which no second process reaches) SWITCHBOARD_MQTT_BRIDGE_IN_SERVER=1 runs
it as a task of the server (SWITCHBOARD_SERVER_TASKS), like the demo's sources.

Delivery is at least once: the bridge subscribes with QoS 1 in a persistent session (a fixed
client id, clean start off, a session that outlives a disconnection), and acknowledges a message
only once its readings are committed. Readings published while the bridge is away, or in flight
when it or the broker stops, are delivered again (a crash between commit and acknowledgement
stores that one message twice).
"""

import asyncio
import json
import logging
import random
from collections import defaultdict

import aiomqtt
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.models import Device
from dashboard.mqtt import (
    READINGS_FILTER,
    BrokerError,
    broker_address,
    broker_sync,
    device_of_topic,
)
from dashboard.serializers import validate_readings
from dashboard.services import readings_record
from realtime.metrics import MQTT_DROPPED, MQTT_RECEIVED
from realtime.store import rate_allows_sync

logger = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600  # how long the broker keeps readings for an absent bridge
RECEIVE_MAXIMUM = 1000  # unacknowledged messages the broker may have in flight to the bridge
BACKOFF_MAX_SECONDS = 30.0
MAX_MESSAGES = 200  # messages stored in one transaction
MAX_BATCH = 1000  # readings per readings_record call (as one REST request at most)


def _checked(
    topic: str, payload: bytes, devices: dict[int | None, Device | None]
) -> tuple[str | None, Device | None, list[dict]]:
    """The checks of `/api/ingest/`, in its order: a live device (from the topic), the
    device's one ingest budget (shared with REST and the device socket), `validate_readings`.
    (why it is dropped or None, the device, the clean readings)."""
    if len(payload) > settings.SWITCHBOARD_MQTT_MAX_PAYLOAD:
        return "oversize", None, []
    device_id = device_of_topic(topic)
    if device_id not in devices:
        devices[device_id] = (
            Device.objects.select_related("owner").filter(pk=device_id, revoked_at=None).first()
            if device_id is not None
            else None
        )
    device = devices[device_id]
    if device is None or not device.key_hash or not device.owner.is_active:
        return "unknown_device", None, []
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "not_json", None, []
    if not rate_allows_sync(settings.SWITCHBOARD_DEVICE_INGEST_RATE, "ingest", str(device.pk)):
        return "rate_limited", None, []
    readings = validate_readings(data)
    if isinstance(readings, dict):
        return "invalid", None, []
    return None, device, readings


def messages_ingest(messages: list[tuple[str, bytes]]) -> list[str | None]:
    """Store messages that arrived together; for each, why it was dropped, or None.

    Each message is checked on its own (a bad one is dropped alone, and each counts against
    its device's budget); the good ones of a device are then stored through `readings_record`
    in batches of up to MAX_BATCH readings, all in one transaction: one commit (SQLite's
    fsync), one alert evaluation and one broadcast per batch rather than per message."""
    reasons, devices, accepted = [], {}, defaultdict(list)
    for topic, payload in messages:
        reason, device, readings = _checked(topic, payload, devices)
        reasons.append(reason)
        if device is not None:
            accepted[device].append(readings)
    with transaction.atomic():
        for device, batches in accepted.items():
            batch: list[dict] = []
            for readings in batches:
                if batch and len(batch) + len(readings) > MAX_BATCH:
                    readings_record(device=device, readings=batch)
                    batch = []
                batch += readings
            readings_record(device=device, readings=batch)
    return reasons


def message_ingest(*, topic: str, payload: bytes) -> str | None:
    """One message, as `messages_ingest` stores it: why it was dropped, or None."""
    return messages_ingest([(topic, payload)])[0]


def _client() -> aiomqtt.Client:
    host, port = broker_address()
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    client = aiomqtt.Client(
        host,
        port,
        username=settings.SWITCHBOARD_MQTT_ADMIN_USER,
        password=settings.SWITCHBOARD_MQTT_ADMIN_PASSWORD,
        identifier=settings.SWITCHBOARD_MQTT_BRIDGE_ID,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
        keepalive=15,
    )
    # aiomqtt does not expose paho's manual acknowledgement; without it paho acknowledges a
    # message before the bridge has stored it, and a crash then loses it.
    client._client.manual_ack_set(True)
    return client


async def _handle(client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
    MQTT_RECEIVED.inc(len(messages))
    batch = [(m.topic.value, m.payload if isinstance(m.payload, bytes) else b"") for m in messages]
    try:
        reasons = await database_sync_to_async(messages_ingest)(batch)
    except Exception:
        # A database error is not the messages' fault: leave them unacknowledged, reconnect,
        # and the broker delivers them again.
        logger.warning("mqtt bridge: storing %s messages failed", len(batch), exc_info=True)
        raise
    for message, reason in zip(messages, reasons, strict=True):
        if reason is not None:
            MQTT_DROPPED.labels(reason=reason).inc()
            logger.info("mqtt bridge: dropped a message on %s (%s)", message.topic.value, reason)
        if message.qos > 0:  # only now: its readings are committed
            client._client.ack(message.mid, message.qos)


async def _sync_broker() -> bool:
    try:
        changed = await database_sync_to_async(broker_sync)()
    except BrokerError:
        logger.warning("mqtt bridge: broker sync failed; retrying at reconnection", exc_info=True)
        return False
    logger.info("mqtt bridge: broker in sync (%s devices updated)", changed)
    return True


async def run_bridge() -> None:
    """Subscribe and ingest for as long as the process runs, reconnecting with backoff."""
    backoff, synced = 0.5, False
    while True:
        # Changes the broker missed while it was down (or before this bridge started).
        synced = synced or await _sync_broker()
        try:
            async with _client() as client:
                await client.subscribe(READINGS_FILTER, qos=1)
                logger.info("mqtt bridge: subscribed to %s", READINGS_FILTER)
                backoff = 0.5
                messages = client.messages
                async for first in messages:
                    # What else has arrived meanwhile goes into the same transaction.
                    batch = [first]
                    while len(messages) and len(batch) < MAX_MESSAGES:
                        batch.append(await anext(messages))
                    await _handle(client, batch)
        except aiomqtt.MqttError as error:
            logger.warning("mqtt bridge: broker connection lost (%s); reconnecting", error)
        except Exception:
            logger.exception("mqtt bridge: failed; reconnecting")
        await asyncio.sleep(backoff * (1 + random.random()))
        backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
