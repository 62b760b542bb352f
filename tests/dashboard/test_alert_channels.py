"""Alert channels (CONTRACT.md §11): signed webhooks against a real local HTTP server, retried
with backoff by the worker, e-mail through Django's backend, one delivery per channel per
firing and resolving, and channels that only their owner sees."""

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from dashboard import services
from dashboard.delivery import deliveries_claim, delivery_create_test, run_worker
from dashboard.models import AlertChannel, AlertDelivery, AlertRule
from tests.support.webhooks import Hook, webhook_receiver

BACKOFF = 0.2  # seconds: the first retry waits 0.1-0.3 s, the second 0.2-0.6 s


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def worker(settings) -> Iterator[None]:
    """The delivery worker (dashboard.delivery.run_worker) on a loop of its own thread."""
    settings.SWITCHBOARD_ALERT_BACKOFF_SECONDS = BACKOFF
    settings.SWITCHBOARD_ALERT_POLL_SECONDS = 0.05
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_worker())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    loop.call_soon_threadsafe(task.cancel)
    thread.join(10)
    loop.close()


def wait_for_status(delivery_id: int, *statuses: str, within: float = 20) -> AlertDelivery:
    """The delivery once its row says one of `statuses` (the worker commits each attempt)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        delivery = AlertDelivery.objects.get(pk=delivery_id)
        if delivery.status in statuses:
            return delivery
        time.sleep(0.02)  # noqa: sleep-ok polling the row the worker writes (bounded above)
    raise AssertionError(f"delivery {delivery_id} is {delivery.status}, not {statuses}")


def create_channel(api, **fields) -> dict:
    response = api.post("/api/alert-channels/", fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_the_secret_is_shown_only_in_the_create_answer(api, hook):
    created = create_channel(api, kind="webhook", url=hook.url)
    assert set(created) == {"id", "kind", "url", "secret"} and len(created["secret"]) == 64
    email = create_channel(api, kind="email", address="ops@example.com")
    assert set(email) == {"id", "kind", "address", "secret"}
    listed = api.get("/api/alert-channels/").json()
    assert [c["id"] for c in listed] == [created["id"], email["id"]]
    shown = json.dumps(listed) + api.get(f"/api/alert-channels/{created['id']}/").content.decode()
    assert created["secret"] not in shown and email["secret"] not in shown


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "javascript:alert(1)", "http://", "file:///etc/passwd", ""]
)
def test_a_webhook_url_is_http_or_https_with_a_host(api, url):
    response = api.post("/api/alert-channels/", {"kind": "webhook", "url": url}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_url"
    assert not AlertChannel.objects.exists()


@pytest.mark.django_db
def test_private_addresses_are_refused_unless_allowed(api, settings):
    settings.SWITCHBOARD_ALERT_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/", "http://10.0.0.5/", "http://[::1]/", "http://localhost/"):
        response = api.post("/api/alert-channels/", {"kind": "webhook", "url": url}, format="json")
        assert response.status_code == 400, url
    assert create_channel(api, kind="webhook", url="https://hooks.example.com/x")["id"]


@pytest.mark.django_db
def test_another_user_can_neither_see_nor_use_a_channel(api, user, other, hook):
    channel = create_channel(api, kind="webhook", url=hook.url)
    bob = Client()
    bob.force_login(other)
    base = f"/api/alert-channels/{channel['id']}/"
    assert bob.get("/api/alert-channels/").json() == []
    for method, path in [("get", base), ("get", base + "deliveries/"), ("post", base + "test/"),
                         ("delete", base)]:  # fmt: skip
        assert getattr(bob, method)(path).status_code == 404, (method, path)
    device, key = services.device_create(owner=other, name="Bob's")
    rule = {"device": device.pk, "metric": "t", "op": ">", "threshold": 1,
            "channels": [channel["id"]]}  # fmt: skip
    refused = bob.post("/api/alerts/", rule, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_channels"
    by_key = Client().get("/api/alert-channels/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert by_key.status_code in (401, 403)
    assert AlertDelivery.objects.count() == 0 and AlertChannel.objects.count() == 1


def _at(seconds: float) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


@pytest.mark.django_db
def test_firing_and_resolving_enqueue_one_delivery_per_channel_without_sending(api, user, hook):
    hook_channel = create_channel(api, kind="webhook", url=hook.url)
    mail_channel = create_channel(api, kind="email", address="ops@example.com")
    device, _ = services.device_create(owner=user, name="Boiler")
    created = api.post("/api/alerts/", {
        "device": device.pk, "metric": "temp", "op": ">", "threshold": 30, "for_seconds": 0,
        "channels": [hook_channel["id"], mail_channel["id"]],
    }, format="json")  # fmt: skip
    assert created.status_code == 201 and sorted(created.json()["channels"]) == sorted(
        [hook_channel["id"], mail_channel["id"]]
    )

    def feed(*pairs):
        services.readings_record(
            device=device, readings=[{"metric": "temp", "value": v, "ts": _at(t)} for t, v in pairs]
        )

    feed((0, 31), (1, 35), (2, 40))  # fires once, stays firing
    feed((3, 20), (4, 10))  # resolves once
    rows = AlertDelivery.objects.order_by("channel_id", "id").values_list("channel_id", "event")
    assert list(rows) == [
        (hook_channel["id"], "firing"), (hook_channel["id"], "resolved"),
        (mail_channel["id"], "firing"), (mail_channel["id"], "resolved"),
    ]  # fmt: skip
    firing = AlertDelivery.objects.filter(event="firing").first()
    assert firing.payload["rule"]["metric"] == "temp" and firing.payload["value"] == 31
    assert firing.status == "pending" and firing.attempts == 0
    assert hook.received == []  # ingestion only enqueues: the worker sends
    assert AlertRule.objects.get().state == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_signed_webhook_is_retried_with_backoff_until_the_endpoint_recovers(api, hook, worker):
    hook.statuses = [500, 500]
    channel = create_channel(api, kind="webhook", url=hook.url)
    queued = api.post(f"/api/alert-channels/{channel['id']}/test/")
    assert queued.status_code == 202
    delivery = wait_for_status(queued.json()["id"], "delivered")
    hook.wait_for(3)
    for _at_time, headers, body in hook.received:
        assert headers["X-Switchboard-Signature"] == expected_signature(channel["secret"], body)
        assert json.loads(body)["event"] == "test"
    times = [at for at, _, _ in hook.received]
    # Exponential backoff with jitter (0.5x-1.5x): at least 0.1 s, then at least 0.2 s.
    assert times[1] - times[0] >= BACKOFF * 0.5 * 0.9
    assert times[2] - times[1] >= BACKOFF * 1.0 * 0.9
    assert delivery.attempts == 3 and delivery.response_code == 200 and delivery.error == ""
    assert [a["code"] for a in delivery.history] == [500, 500, 200]
    log = api.get(f"/api/alert-channels/{channel['id']}/deliveries/").json()
    assert [(d["id"], d["status"], d["attempts"]) for d in log] == [(delivery.pk, "delivered", 3)]
    assert log[0]["history"][0]["error"] == "HTTP 500"


@pytest.mark.django_db(transaction=True)
def test_a_refusing_endpoint_fails_at_once_and_a_failing_one_after_the_retry_window(
    api, hook, worker, settings
):
    settings.SWITCHBOARD_ALERT_RETRY_SECONDS = 1
    hook.statuses = [404] + [503] * 50
    channel = create_channel(api, kind="webhook", url=hook.url)
    refused = api.post(f"/api/alert-channels/{channel['id']}/test/").json()
    gone = wait_for_status(refused["id"], "failed")
    assert gone.attempts == 1 and gone.response_code == 404
    failing = api.post(f"/api/alert-channels/{channel['id']}/test/").json()
    given_up = wait_for_status(failing["id"], "failed")
    assert given_up.attempts >= 2 and given_up.response_code == 503
    assert given_up.last_attempt_at - given_up.created_at < timedelta(seconds=1.5)


@pytest.mark.django_db(transaction=True)
def test_an_email_channel_sends_through_djangos_backend(api, worker):
    channel = create_channel(api, kind="email", address="ops@example.com")
    queued = api.post(f"/api/alert-channels/{channel['id']}/test/").json()
    delivery = wait_for_status(queued["id"], "delivered")
    assert delivery.attempts == 1
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "test" in mail.outbox[0].subject.lower()


@pytest.mark.django_db(transaction=True)
def test_a_host_that_resolves_to_a_private_address_is_refused_at_send_time(
    user, hook, worker, settings
):
    settings.SWITCHBOARD_ALERT_ALLOW_PRIVATE = False
    settings.SWITCHBOARD_ALERT_RETRY_SECONDS = 0
    # A host name that resolves to 127.0.0.1 now (as a name whose DNS changed after the
    # channel was created would): the row is written as creation would have accepted it.
    url = hook.url.replace("127.0.0.1", "localhost")
    channel = AlertChannel.objects.create(owner=user, kind="webhook", url=url, secret="s" * 64)
    delivery = wait_for_status(delivery_create_test(channel=channel).pk, "failed")
    assert "private address" in delivery.error and delivery.response_code is None
    assert hook.received == []


@pytest.mark.django_db
def test_a_delivery_is_claimed_once_until_its_claim_lapses(user, settings):
    channel = services.alert_channel_create(owner=user, kind="email", address="ops@example.com")
    delivery = delivery_create_test(channel=channel)
    assert deliveries_claim() == [delivery.pk]
    assert deliveries_claim() == []  # another worker finds nothing due
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )  # its worker died mid-send
    assert deliveries_claim() == [delivery.pk]
