"""The bridge's handling of one MQTT message (dashboard.bridge.message_ingest): the checks of
`/api/ingest/`, a device from the topic, and the device's one ingest budget."""

import json

import pytest

from dashboard import services
from dashboard.bridge import message_ingest
from dashboard.models import Reading
from dashboard.mqtt import device_of_topic

pytestmark = pytest.mark.django_db


def payload(*values: float) -> bytes:
    return json.dumps({"readings": [{"metric": "temp", "value": v} for v in values]}).encode()


def test_a_valid_message_is_stored_for_the_topics_device(user):
    device, _ = services.device_create(owner=user, name="Boiler")
    assert message_ingest(topic=f"devices/{device.pk}/readings", payload=payload(1, 2)) is None
    assert sorted(Reading.objects.filter(device=device).values_list("value", flat=True)) == [1, 2]


@pytest.mark.parametrize("topic", ["devices/999999/readings", "devices/x/readings", "other"])
def test_an_unknown_device_or_topic_is_dropped(user, topic):
    services.device_create(owner=user, name="Boiler")
    assert message_ingest(topic=topic, payload=payload(1)) == "unknown_device"
    assert not Reading.objects.exists()


def test_a_revoked_device_is_dropped(user):
    device, _ = services.device_create(owner=user, name="Boiler")
    services.device_revoke(device=device, actor=user)
    assert message_ingest(topic=f"devices/{device.pk}/readings", payload=payload(1)) == (
        "unknown_device"
    )


def test_the_device_budget_is_shared_with_rest(user, settings, client):
    settings.SWITCHBOARD_DEVICE_INGEST_RATE = "2/minute"
    device, key = services.device_create(owner=user, name="Boiler")
    rest = client.post(
        "/api/ingest/", payload(1), content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )  # fmt: skip
    assert rest.status_code == 202
    topic = f"devices/{device.pk}/readings"
    assert message_ingest(topic=topic, payload=payload(2)) is None
    assert message_ingest(topic=topic, payload=payload(3)) == "rate_limited"
    assert Reading.objects.count() == 2


def test_a_bad_batch_stores_nothing(user, settings):
    device, _ = services.device_create(owner=user, name="Boiler")
    topic = f"devices/{device.pk}/readings"
    bad = json.dumps({"readings": [{"metric": "temp", "value": 1}, {"metric": "BAD!", "value": 2}]})
    assert message_ingest(topic=topic, payload=bad.encode()) == "invalid"
    settings.SWITCHBOARD_MQTT_MAX_PAYLOAD = 10
    assert message_ingest(topic=topic, payload=payload(1)) == "oversize"
    assert not Reading.objects.exists()


def test_device_of_topic_reads_only_the_readings_topic():
    assert device_of_topic("devices/42/readings") == 42
    for topic in ("devices/42/readings/x", "devices/+/readings", "devices//readings", "42"):
        assert device_of_topic(topic) is None
