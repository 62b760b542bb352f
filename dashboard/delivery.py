"""Alert deliveries: enqueued with the alert (an outbox row), sent by a worker (CONTRACT.md §11).

The ingest path only writes AlertDelivery rows, in its own transaction. The worker
(`manage.py alert_worker`, or a task of the server under `make run`:
SWITCHBOARD_ALERT_WORKER_IN_SERVER) claims due rows, sends them (a signed JSON POST, or an
e-mail through Django's backend) and records each attempt. Failures are retried with
exponential backoff and jitter until SWITCHBOARD_ALERT_RETRY_SECONDS after the alert, then the
delivery is failed. A worker that dies mid-send leaves its claim to lapse, and the row is sent
again (at least once).

Webhook URLs: http and https only. Unless SWITCHBOARD_ALERT_ALLOW_PRIVATE (development, tests),
an address that is loopback, private, link-local or otherwise not global is refused, at creation
for literal addresses and at every send for the addresses the host name resolves to (SSRF).
"""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from dashboard.models import AlertChannel, AlertDelivery, AlertRule
from realtime.errors import Invalid
from realtime.metrics import ALERT_DELIVERY_ATTEMPTS

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Switchboard-Signature"
CLAIM_BATCH = 20
# A claim outlives the slowest send (the timeout), with a margin.
CLAIM_MARGIN = timedelta(seconds=30)
# Answers that a retry cannot change: the delivery fails at once.
PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}


def webhook_url_check(url: str) -> None:
    """Refuse a webhook URL that is not http(s), or whose literal address is not public."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("A webhook URL is http:// or https:// with a host.", code="invalid_url")
    if len(url) > 500:
        raise Invalid("A webhook URL has at most 500 characters.", code="invalid_url")
    if settings.SWITCHBOARD_ALERT_ALLOW_PRIVATE:
        return
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        if parts.hostname.lower() in ("localhost", "localhost.localdomain"):
            raise Invalid("Webhooks to this machine are refused.", code="invalid_url") from None
        return
    if not address.is_global:
        raise Invalid("Webhooks to private addresses are refused.", code="invalid_url")


def _resolves_private(host: str, port: int) -> bool:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return any(not ipaddress.ip_address(info[4][0]).is_global for info in infos)


def _payload(rule: AlertRule, event: str, value: float | None) -> dict:
    return {
        "event": event,
        "rule": {
            "id": rule.pk,
            "device": rule.device_id,
            "device_name": rule.device.name,
            "metric": rule.metric,
            "op": rule.op,
            "threshold": rule.threshold,
            "for_seconds": rule.for_seconds,
        },
        "value": value,
        "dashboard": f"/dashboards/{rule.dashboard.slug}/" if rule.dashboard_id else None,
        "at": timezone.now().isoformat(),
    }


def deliveries_enqueue(*, rule: AlertRule, event: str, value: float) -> int:
    """One pending delivery per channel of `rule`, in the caller's transaction."""
    channels = list(rule.channels.all())
    now = timezone.now()
    AlertDelivery.objects.bulk_create(
        AlertDelivery(
            channel=channel, rule=rule, event=event, payload=_payload(rule, event, value),
            next_attempt_at=now,
        )
        for channel in channels
    )  # fmt: skip
    return len(channels)


def delivery_create_test(*, channel: AlertChannel) -> AlertDelivery:
    """A test delivery for `channel`, sent by the worker like any other."""
    payload = {"event": "test", "rule": None, "value": None, "dashboard": None,
               "at": timezone.now().isoformat()}  # fmt: skip
    return AlertDelivery.objects.create(
        channel=channel, event="test", payload=payload, next_attempt_at=timezone.now()
    )


def _due(now: datetime) -> Q:
    pending = Q(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now)
    abandoned = Q(status=AlertDelivery.Status.SENDING, claimed_until__lt=now)
    return pending | abandoned


def deliveries_claim(*, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim up to `limit` due deliveries for this worker; their ids."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.SWITCHBOARD_ALERT_TIMEOUT_SECONDS) + CLAIM_MARGIN
    with transaction.atomic():
        due = AlertDelivery.objects.filter(_due(now)).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)  # PostgreSQL: workers skip each other
        candidates = list(due.values_list("pk", flat=True)[:limit])
    claimed = []
    for pk in candidates:
        # A compare-and-set on any database (SQLite has no SKIP LOCKED): of two workers that
        # saw the same row, one updates it, and the other then finds it no longer due.
        took = AlertDelivery.objects.filter(_due(now), pk=pk).update(
            status=AlertDelivery.Status.SENDING, claimed_until=until
        )
        if took:
            claimed.append(pk)
    return claimed


def _retry_delay(attempts: int) -> float:
    base = settings.SWITCHBOARD_ALERT_BACKOFF_SECONDS * 2 ** (attempts - 1)
    return base * (0.5 + random.random())  # full jitter around the exponential step


def delivery_record_attempt(*, delivery_id: int, code: int | None, error: str) -> AlertDelivery:
    """Log one attempt; delivered, retried later, or failed for good."""
    now = timezone.now()
    with transaction.atomic():
        delivery = AlertDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.response_code = code
        delivery.error = error[:500]
        delivery.history = [*delivery.history, {"at": now.isoformat(), "code": code,
                                                "error": error[:200]}]  # fmt: skip
        delivery.claimed_until = None
        deadline = delivery.created_at + timedelta(seconds=settings.SWITCHBOARD_ALERT_RETRY_SECONDS)
        retry_at = now + timedelta(seconds=_retry_delay(delivery.attempts))
        if not error:
            delivery.status, delivery.delivered_at = AlertDelivery.Status.DELIVERED, now
        elif code in PERMANENT or retry_at > deadline:
            delivery.status = AlertDelivery.Status.FAILED
        else:
            delivery.status, delivery.next_attempt_at = AlertDelivery.Status.PENDING, retry_at
        delivery.save()
    outcome = "delivered" if not error else delivery.status
    ALERT_DELIVERY_ATTEMPTS.labels(outcome=outcome).inc()
    logger.info(
        "alert delivery %s to channel %s: attempt %s, %s (%s)", delivery.pk, delivery.channel_id,
        delivery.attempts, delivery.status, error or code,
    )  # fmt: skip
    return delivery


def signature(secret: str, body: bytes) -> str:
    """The X-Switchboard-Signature value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _post_webhook(delivery: AlertDelivery, http: httpx.AsyncClient) -> tuple[int | None, str]:
    channel = delivery.channel
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    parts = urlsplit(channel.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not settings.SWITCHBOARD_ALERT_ALLOW_PRIVATE:
        try:
            private = await asyncio.to_thread(_resolves_private, parts.hostname, port)
        except OSError as error:
            return None, f"cannot resolve {parts.hostname}: {error}"
        if private:
            return None, "refused: the host resolves to a private address"
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(channel.secret, body),
        "X-Switchboard-Delivery": str(delivery.pk),
        "X-Switchboard-Event": delivery.event,
        "User-Agent": "Switchboard-Webhook/1",
    }
    try:
        response = await http.post(channel.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def _send_email(delivery: AlertDelivery) -> None:
    payload, rule = delivery.payload, delivery.payload.get("rule") or {}
    if delivery.event == "test":
        subject, body = "Switchboard: test alert", "This is a test delivery from Switchboard."
    else:
        subject = (
            f"Switchboard: {rule.get('device_name')} {rule.get('metric')} {rule.get('op')} "
            f"{rule.get('threshold')} {delivery.event}"
        )
        body = f"{rule.get('metric')} is {payload.get('value')} ({payload.get('at')})."
    send_mail(subject, body, None, [delivery.channel.address])


async def delivery_send(delivery_id: int, http: httpx.AsyncClient) -> None:
    """One attempt at one claimed delivery, recorded whatever happens."""
    delivery = await database_sync_to_async(AlertDelivery.objects.select_related("channel").get)(
        pk=delivery_id
    )
    if delivery.channel.kind == AlertChannel.Kind.EMAIL:
        try:
            await asyncio.to_thread(_send_email, delivery)
            code, error = None, ""
        except Exception as failure:  # SMTP and socket errors alike: retried
            code, error = None, f"{type(failure).__name__}: {failure}"
    else:
        code, error = await _post_webhook(delivery, http)
    await database_sync_to_async(delivery_record_attempt)(
        delivery_id=delivery_id, code=code, error=error
    )


async def deliveries_send_due(http: httpx.AsyncClient) -> int:
    """Claim what is due and send it, concurrently; how many were sent."""
    claimed = await database_sync_to_async(deliveries_claim)()
    results = await asyncio.gather(
        *(delivery_send(pk, http) for pk in claimed), return_exceptions=True
    )
    for result in results:
        if isinstance(result, Exception):
            logger.error("alert delivery failed to run", exc_info=result)
    return len(claimed)


async def run_worker() -> None:
    """Send due deliveries for as long as the process runs (polling when idle)."""
    timeout = httpx.Timeout(settings.SWITCHBOARD_ALERT_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
        while True:
            try:
                sent = await deliveries_send_due(http)
            except Exception:
                logger.exception("alert worker: a round failed; going on")
                sent = 0
            if not sent:
                await asyncio.sleep(settings.SWITCHBOARD_ALERT_POLL_SECONDS)
