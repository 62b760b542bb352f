"""Writes for devices, readings, dashboards and alert rules."""

import hashlib
import hmac
import logging
import secrets
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.delivery import deliveries_enqueue, webhook_url_check
from dashboard.models import (
    AlertChannel,
    AlertRule,
    Dashboard,
    Device,
    Panel,
    Reading,
    ReadingRollup,
)
from dashboard.mqtt import broker_device_changed
from dashboard.serializers import panel_shape_errors
from realtime.broadcast import control_event, control_on_commit, send_event
from realtime.closecodes import CloseCode
from realtime.errors import Forbidden, Invalid
from realtime.groups import readings_group, user_group
from realtime.metrics import READINGS_INGESTED
from realtime.models import Notification
from realtime.notifications import notification_create
from realtime.slugs import free_slug

logger = logging.getLogger(__name__)

KEY_PREFIX = "sbk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def device_create(
    *, owner: AbstractBaseUser, name: str, is_builtin: bool = False
) -> tuple[Device, str]:
    """A new device and its API key: the only time the key exists outside a hash."""
    key = _new_key()
    with transaction.atomic():
        device = Device.objects.create(
            owner=owner, name=name, key_prefix=key[:12], key_hash=_hash(key), is_builtin=is_builtin
        )
        broker_device_changed(device=device, key=key)
    return device, key


@transaction.atomic
def device_rotate_key(*, device: Device, actor: AbstractBaseUser) -> str:
    """A new key; the old one stops working at once and the device's sockets close (4003)."""
    _require_owner(device=device, actor=actor)
    key = _new_key()
    Device.objects.filter(pk=device.pk).update(
        key_prefix=key[:12], key_hash=_hash(key), revoked_at=None
    )
    broker_device_changed(device=device, key=key)  # the broker drops the old key's session
    _close_device_sockets(device)
    _audit("device key rotated", device=device, actor=actor)
    return key


@transaction.atomic
def device_revoke(*, device: Device, actor: AbstractBaseUser) -> None:
    """The key stops working at once and the device's sockets close (4003)."""
    _require_owner(device=device, actor=actor)
    Device.objects.filter(pk=device.pk).update(
        key_prefix="", key_hash="", revoked_at=timezone.now()
    )
    broker_device_changed(device=device, key=None)
    _close_device_sockets(device)
    _audit("device key revoked", device=device, actor=actor)


def _audit(what: str, *, device: Device, actor: AbstractBaseUser) -> None:
    # Who changed which device's key, whether through the API or by staff in the admin.
    logger.info(
        "%s: device %s of user %s, by user %s", what, device.pk, device.owner_id, actor.pk,
        extra={"device": device.pk, "owner": device.owner_id, "actor": actor.pk},
    )  # fmt: skip


def _close_device_sockets(device: Device) -> None:
    control_on_commit(
        control_event(
            user_group(device.owner_id),
            "hub.close",
            code=CloseCode.ACCESS_REVOKED,
            device=device.pk,
        )
    )


def _require_owner(*, device: Device, actor: AbstractBaseUser) -> None:
    if device.owner_id != actor.pk and not actor.is_staff:
        raise Forbidden("Only the device's owner can do that.")


def device_authenticate(*, key: str) -> Device | None:
    """The device whose key this is, compared in constant time; None for anything else."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    candidates = Device.objects.select_related("owner").filter(key_prefix=key[:12])
    digest = _hash(key)
    for device in candidates:
        if device.key_hash and hmac.compare_digest(device.key_hash, digest):
            return device if device.owner.is_active else None
    return None


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@transaction.atomic
def readings_record(*, device: Device, readings: list[dict]) -> int:
    """Store a validated batch in one bulk insert, evaluate alert rules, then announce it."""
    rows = Reading.objects.bulk_create(
        [Reading(device=device, metric=r["metric"], value=r["value"], ts=r["ts"]) for r in readings]
    )
    Device.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())
    READINGS_INGESTED.inc(len(rows))
    _evaluate_alerts(device=device, readings=readings)
    event = {
        "type": "hub.readings",
        "group": readings_group(device.pk),
        "device": device.pk,
        "points": [[r.metric, iso(r.ts), r.value] for r in rows],
        "last_id": max((r.pk or 0) for r in rows),
    }
    transaction.on_commit(lambda: _announce(event))
    return len(rows)


def _announce(event: dict) -> None:
    async_to_sync(send_event)(event)


def _holds(op: str, value: float, threshold: float) -> bool:
    return {
        ">": value > threshold,
        "<": value < threshold,
        ">=": value >= threshold,
        "<=": value <= threshold,
    }[op]


def _evaluate_alerts(*, device: Device, readings: list[dict]) -> None:
    """Step matching rules through ok -> pending -> firing -> ok; one notification per change.

    Both edges wait `for_seconds`: over the threshold that long to fire, back across it that
    long to resolve."""
    by_metric = defaultdict(list)
    for reading in readings:
        by_metric[reading["metric"]].append(reading)
    rules = (
        AlertRule.objects.select_for_update()
        .select_related("device", "dashboard")
        .filter(device=device, metric__in=list(by_metric))
    )
    for rule in rules:
        for reading in sorted(by_metric[rule.metric], key=lambda r: r["ts"]):
            _step(rule, reading["value"], reading["ts"])
        rule.save(
            update_fields=["state", "pending_since", "clear_since", "last_value", "changed_at"]
        )


def _step(rule: AlertRule, value: float, ts: datetime) -> None:
    rule.last_value = value
    holds = _holds(rule.op, value, rule.threshold)
    if rule.state == AlertRule.State.FIRING:
        # Hysteresis: a firing rule resolves only once the value has stayed back across the
        # threshold for `for_seconds`, as it had to stay over it to fire; a noisy value around
        # the threshold then fires once, not at every crossing.
        if holds:
            rule.clear_since = None
            return
        if rule.clear_since is None:
            rule.clear_since = ts
        if (ts - rule.clear_since).total_seconds() >= rule.for_seconds:
            rule.state, rule.changed_at = AlertRule.State.OK, ts
            rule.pending_since = rule.clear_since = None
            _alert_notify(rule, Notification.Kind.ALERT_RESOLVED, value)
        return
    if not holds:
        rule.state, rule.pending_since = AlertRule.State.OK, None
        return
    if rule.state == AlertRule.State.OK:
        rule.state, rule.pending_since = AlertRule.State.PENDING, ts
    if (ts - rule.pending_since).total_seconds() >= rule.for_seconds:
        rule.state, rule.changed_at, rule.clear_since = AlertRule.State.FIRING, ts, None
        _alert_notify(rule, Notification.Kind.ALERT_FIRING, value)


def _alert_notify(rule: AlertRule, kind: str, value: float) -> None:
    verb = "firing" if kind == Notification.Kind.ALERT_FIRING else "resolved"
    # One delivery per channel, in this transaction (an outbox): sent later by the worker, so a
    # slow webhook never holds up ingestion, and a rolled-back batch sends nothing.
    deliveries_enqueue(rule=rule, event=verb, value=value)
    notification_create(
        user_id=rule.owner_id,
        kind=kind,
        title=f"{rule.device.name}: {rule.metric} {rule.op} {rule.threshold:g} {verb}",
        body=f"{rule.metric} is {value:g}.",
        url=f"/dashboards/{rule.dashboard.slug}/" if rule.dashboard else "",
    )


def dashboard_create(
    *, owner: AbstractBaseUser, name: str, slug: str | None = None, is_public: bool = True,
    panels: list[dict] | None = None,
) -> Dashboard:  # fmt: skip
    slug = slug or free_slug(Dashboard, name, fallback="dashboard")
    try:
        with transaction.atomic():
            dashboard = Dashboard.objects.create(
                owner=owner, name=name, slug=slug, is_public=is_public
            )
            for position, panel in enumerate(panels or []):
                panel_add(dashboard=dashboard, actor=owner, position=position, **panel)
    except IntegrityError:
        raise Invalid("A dashboard with this slug already exists.", code="slug_taken") from None
    return dashboard


def panel_add(
    *, dashboard: Dashboard, actor: AbstractBaseUser, title: str, device: Device | None = None,
    metric: str = "", kind: str = Panel.Kind.LINE, thresholds: dict | None = None,
    metrics: list[str] | None = None, devices: list[Device] | None = None,
    position: int | None = None,
) -> Panel:  # fmt: skip
    """Add a panel; every device it charts must be one the actor may read (own, or built in)."""
    if dashboard.owner_id != actor.pk:
        raise Forbidden("Only the dashboard's owner can change it.")
    metrics, devices = list(metrics or []), list(devices or [])
    errors = panel_shape_errors(
        kind=kind, device=device, metric=metric, metrics=metrics, devices=devices
    )
    if errors:
        raise Invalid(" ".join(f"{field}: {text}" for field, text in errors.items()))
    for charted in [device, *devices] if device else devices:
        if charted.owner_id != actor.pk and not charted.is_builtin:
            raise Forbidden("You can only chart your own devices and the built-in ones.")
    if position is None:
        position = dashboard.panels.count()
    panel = Panel.objects.create(
        dashboard=dashboard, title=title, device=device, metric=metric, kind=kind,
        thresholds=thresholds or {}, metrics=metrics, position=position,
    )  # fmt: skip
    if devices:
        panel.devices.set(devices)
    return panel


@transaction.atomic
def alert_rule_create(
    *, owner: AbstractBaseUser, channels: list[int] | None = None, **fields
) -> AlertRule:
    """A rule on the owner's (or a built-in) device, sent to the owner's `channels` (ids)."""
    device = fields["device"]
    if device.owner_id != owner.pk and not device.is_builtin:
        raise Forbidden("You can only watch your own devices and the built-in ones.")
    wanted = set(channels or [])
    own = list(AlertChannel.objects.filter(owner=owner, pk__in=wanted))
    if len(own) != len(wanted):
        # Someone else's channel answers as one that does not exist.
        missing = sorted(wanted - {channel.pk for channel in own})
        raise Invalid(f"No such alert channel: {missing}.", code="invalid_channels")
    rule = AlertRule.objects.create(owner=owner, **fields)
    rule.channels.set(own)
    return rule


def alert_channel_create(
    *, owner: AbstractBaseUser, kind: str, url: str = "", address: str = ""
) -> AlertChannel:
    """A webhook (http/https URL) or e-mail channel with a new signing secret."""
    if kind == AlertChannel.Kind.WEBHOOK:
        webhook_url_check(url)
        address = ""
    elif kind == AlertChannel.Kind.EMAIL:
        if not address:
            raise Invalid("An e-mail channel needs an address.", code="invalid_address")
        url = ""
    else:
        raise Invalid("kind is webhook or email.", code="invalid_kind")
    return AlertChannel.objects.create(
        owner=owner, kind=kind, url=url, address=address, secret=secrets.token_hex(32)
    )


def alert_channel_delete(*, channel: AlertChannel, actor: AbstractBaseUser) -> None:
    if channel.owner_id != actor.pk:
        raise Forbidden("Only the channel's owner can delete it.")
    channel.delete()


@transaction.atomic
def readings_downsample(*, older_than: timedelta, bucket_seconds: int = 60) -> int:
    """Fold raw readings older than `older_than` into min/avg/max buckets; returns rows folded."""
    cutoff = timezone.now() - older_than
    old = Reading.objects.filter(ts__lt=cutoff)
    buckets: dict[tuple, list[tuple[datetime, float]]] = defaultdict(list)
    for device_id, metric, ts, value in old.values_list(
        "device_id", "metric", "ts", "value"
    ).iterator():
        start = int(ts.timestamp()) // bucket_seconds * bucket_seconds
        buckets[(device_id, metric, start)].append((ts, value))
    for (device_id, metric, start), timed in buckets.items():
        values = [value for _, value in timed]
        first, last = min(timed, key=lambda t: t[0]), max(timed, key=lambda t: t[0])
        bucket_start = datetime.fromtimestamp(start, tz=UTC)
        rollup, created = ReadingRollup.objects.select_for_update().get_or_create(
            device_id=device_id, metric=metric, bucket_seconds=bucket_seconds,
            bucket_start=bucket_start,
            defaults={"min": min(values), "max": max(values), "sum": sum(values),
                      "count": len(values), "first_ts": first[0], "first": first[1],
                      "last_ts": last[0], "last": last[1]},
        )  # fmt: skip
        if not created:
            rollup.min = min(rollup.min, *values)
            rollup.max = max(rollup.max, *values)
            rollup.sum += sum(values)
            rollup.count += len(values)
            # A late reading may open or close the bucket (rows folded before first/last
            # were kept stay without them: their open and close are unknown).
            if rollup.first_ts is not None and first[0] < rollup.first_ts:
                rollup.first_ts, rollup.first = first
            if rollup.last_ts is not None and last[0] >= rollup.last_ts:
                rollup.last_ts, rollup.last = last
            rollup.save()
    folded, _ = old.delete()
    return folded
