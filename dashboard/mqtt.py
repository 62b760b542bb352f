"""The MQTT broker as the app administers it: one broker client per device (CONTRACT.md §11).

Mosquitto's dynamic-security plugin is the authority: a device connects with username = its id
and password = its API key, and its role lets it publish to `devices/<id>/readings` and nothing
else (no subscription at all). The app sends the plugin's commands to
`$CONTROL/dynamic-security/v1` as the admin client of the settings. Every broker operation of
the app goes through this module.

Keys are stored hashed, so the broker can learn a key only when the service that makes it knows
it. That service marks the device (`broker_pending`, the key sealed in `broker_secret`) in its
own transaction and applies the change after commit; a broker that is down then keeps the mark,
and `broker_sync` (`manage.py mqtt_sync`, and the bridge at every start) applies it later. The
sealed key is erased once the broker has it.
"""

import base64
import hashlib
import json
import logging
import threading
import uuid
from urllib.parse import urlparse

import paho.mqtt.client as paho
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction

from dashboard.models import Device
from realtime.metrics import MQTT_BROKER_ERRORS

logger = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
READINGS_FILTER = "devices/+/readings"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
BRIDGE_ROLE = "switchboard-bridge"
# The bridge's role, given to the admin client when the broker's file is made (`manage.py
# mqtt_dev_broker`): set up there, not by a command, since a role change disconnects every
# session of that client, the one sending the command included.
BRIDGE_ACLS = [
    {"acltype": "subscribePattern", "topic": READINGS_FILTER, "allow": True},
    {"acltype": "publishClientReceive", "topic": READINGS_FILTER, "allow": True},
    {"acltype": "publishClientSend", "topic": READINGS_FILTER, "allow": True},
]
PROVISION, REMOVE = "provision", "remove"
# Answers that mean the broker is already as we want it.
HARMLESS = {"Client not found", "Role already exists", "Role not found"}


class BrokerError(Exception):
    """The broker could not be reached, or refused a command."""


def broker_configured() -> bool:
    return bool(settings.SWITCHBOARD_MQTT_URL)


def broker_address() -> tuple[str, int]:
    url = urlparse(settings.SWITCHBOARD_MQTT_URL)
    return url.hostname or "127.0.0.1", url.port or 1883


def readings_topic(device_id: int) -> str:
    return f"devices/{device_id}/readings"


def device_of_topic(topic: str) -> int | None:
    """The device id in `devices/<id>/readings`, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "devices" or parts[2] != "readings":
        return None
    return int(parts[1]) if parts[1].isdigit() and len(parts[1]) < 19 else None


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"switchboard-broker-secret:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def dynsec(commands: list[dict], *, timeout: float = 5.0) -> list[dict]:
    """Run dynamic-security commands as the admin client; their answers, in order."""
    host, port = broker_address()
    correlation = uuid.uuid4().hex
    answered, answers = threading.Event(), []
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=f"switchboard-admin-{correlation[:12]}",
        protocol=paho.MQTTv5,
    )
    client.username_pw_set(
        settings.SWITCHBOARD_MQTT_ADMIN_USER, settings.SWITCHBOARD_MQTT_ADMIN_PASSWORD
    )
    subscribed = threading.Event()

    def on_message(_client, _userdata, message) -> None:
        body = json.loads(message.payload)
        for answer in body.get("responses", []):
            if answer.get("correlationData") == correlation:
                answers.append(answer)
        if len(answers) == len(commands):
            answered.set()

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    try:
        client.connect(host, port, keepalive=10)
    except OSError as error:
        raise BrokerError(f"the broker at {host}:{port} is unreachable: {error}") from error
    client.loop_start()
    try:
        client.subscribe(RESPONSE_TOPIC, qos=1)
        if not subscribed.wait(timeout):
            raise BrokerError("the broker did not accept the admin client's subscription")
        tagged = [{**command, "correlationData": correlation} for command in commands]
        client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        if not answered.wait(timeout):
            raise BrokerError("the broker did not answer the dynamic-security commands")
    finally:
        client.disconnect()
        client.loop_stop()
    refused = [a for a in answers if a.get("error") and a["error"] not in HARMLESS]
    if refused:
        raise BrokerError(f"the broker refused: {refused}")
    return answers


def _device_role(device_id: int) -> str:
    return f"device-{device_id}"


def _provision_commands(device_id: int, key: str) -> list[dict]:
    username, role = str(device_id), _device_role(device_id)
    return [
        # Deleting the client also disconnects whoever is connected with the old key (the
        # plugin of Mosquitto 2.0 has no kickClient, and a new password alone kicks no one).
        {"command": "deleteClient", "username": username},
        {"command": "createRole", "rolename": role, "acls": [
            {"acltype": "publishClientSend", "topic": readings_topic(device_id), "allow": True},
        ]},  # fmt: skip
        {"command": "createClient", "username": username, "password": key,
         "roles": [{"rolename": role}]},
    ]  # fmt: skip


def _remove_commands(device_id: int) -> list[dict]:
    return [
        {"command": "deleteClient", "username": str(device_id)},
        {"command": "deleteRole", "rolename": _device_role(device_id)},
    ]


def broker_device_changed(*, device: Device, key: str | None) -> None:
    """Mark, in the caller's transaction, that the broker must learn `key` (None: forget the
    device); applied after commit, or by the next `broker_sync` if the broker is down."""
    if not broker_configured():
        return
    pending, sealed = (PROVISION, _fernet().encrypt(key.encode()).decode()) if key else (REMOVE, "")
    Device.objects.filter(pk=device.pk).update(broker_pending=pending, broker_secret=sealed)
    transaction.on_commit(lambda: broker_device_apply_or_defer(device.pk))


def broker_device_apply(device_id: int) -> None:
    """Bring the broker's client for one device to what the database says; clear the mark."""
    row = Device.objects.filter(pk=device_id).values("broker_pending", "broker_secret").first()
    if row is None:
        dynsec(_remove_commands(device_id))
        return
    if row["broker_pending"] == PROVISION:
        try:
            key = _fernet().decrypt(row["broker_secret"].encode()).decode()
        except InvalidToken:
            # Sealed under another SECRET_KEY: the key is lost; the next rotation provisions.
            logger.warning("device %s: its pending broker key cannot be unsealed", device_id)
            dynsec(_remove_commands(device_id))
        else:
            dynsec(_provision_commands(device_id, key))
    elif row["broker_pending"] == REMOVE:
        dynsec(_remove_commands(device_id))
    # Clear the mark only if no newer change came meanwhile.
    Device.objects.filter(pk=device_id, **row).update(broker_pending="", broker_secret="")


def broker_device_apply_or_defer(device_id: int) -> None:
    """`broker_device_apply`, or, with the broker down, leave the mark for `broker_sync`."""
    try:
        broker_device_apply(device_id)
    except BrokerError:
        MQTT_BROKER_ERRORS.inc()
        logger.warning(
            "device %s: the broker was not updated; `manage.py mqtt_sync` (or the bridge's next "
            "start) will apply the change", device_id, exc_info=True,
        )  # fmt: skip


def broker_sync() -> int:
    """Apply every pending device change and remove broker clients of devices that are gone or
    revoked; the number of devices changed."""
    changed = 0
    for device_id in Device.objects.exclude(broker_pending="").values_list("pk", flat=True):
        broker_device_apply(device_id)
        changed += 1
    listed = dynsec([{"command": "listClients", "verbose": False, "count": -1}])
    usernames = listed[0].get("data", {}).get("clients", [])
    on_broker = {int(name) for name in usernames if isinstance(name, str) and name.isdigit()}
    live = set(
        Device.objects.filter(pk__in=on_broker, revoked_at=None)
        .exclude(key_hash="")
        .values_list("pk", flat=True)
    )
    for device_id in on_broker - live:
        dynsec(_remove_commands(device_id))
        changed += 1
    return changed
