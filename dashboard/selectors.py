"""Reads and access checks for devices, dashboards and series."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet

from dashboard.models import (
    AlertChannel,
    AlertRule,
    Dashboard,
    Device,
    Panel,
    Reading,
    ReadingRollup,
)
from dashboard.services import iso
from realtime.errors import NotFound

SNAPSHOT_WINDOW = timedelta(minutes=10)
SNAPSHOT_POINTS = 300


def device_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Device]:
    """The user's own devices and the built-in ones."""
    return Device.objects.filter(Q(owner=user) | Q(is_builtin=True))


def device_get_for_owner(*, device_id: int, user: AbstractBaseUser) -> Device:
    device = Device.objects.filter(pk=device_id, owner=user).first()
    if device is None:
        raise NotFound("No such device.")
    return device


def dashboard_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Dashboard]:
    return Dashboard.objects.filter(Q(is_public=True) | Q(owner=user)).prefetch_related(
        Prefetch("panels", queryset=Panel.objects.select_related("device"))
    )


def dashboard_get_for_user(*, slug: str, user: AbstractBaseUser) -> Dashboard:
    """A dashboard the user may watch: public ones, and their own private ones."""
    dashboard = dashboard_list_for_user(user=user).filter(slug=slug).first()
    if dashboard is None:
        raise NotFound("No such dashboard.")
    return dashboard


def panels_by_series(*, dashboard: Dashboard) -> dict[tuple[int, str], list[int]]:
    """What a dashboard's viewers may read: (device id, metric) -> the panels that chart it.

    The one answer for every path: the series API (`charted_device`), the snapshot, the socket
    and the SSE stream (which map each reading to panels through it and drop the rest). A
    public dashboard shows its charted metrics, never the device's others."""
    series = defaultdict(list)
    for panel in Panel.objects.filter(dashboard=dashboard):
        series[(panel.device_id, panel.metric)].append(panel.pk)
    return dict(series)


def charted_device(*, dashboard: Dashboard, device_id: int, metric: str) -> Device:
    """The device, if the dashboard charts this metric of it; NotFound for any other series."""
    if (device_id, metric) not in panels_by_series(dashboard=dashboard):
        raise NotFound("That device's metric is not charted on this dashboard.")
    return Device.objects.get(pk=device_id)


def snapshot(*, dashboard: Dashboard) -> tuple[dict[str, list], int]:
    """The recent points of every panel, and the highest reading id they include."""
    panels, last_id = {}, 0
    since = datetime.now(UTC) - SNAPSHOT_WINDOW
    for (device_id, metric), panel_ids in panels_by_series(dashboard=dashboard).items():
        rows = list(
            Reading.objects.filter(device_id=device_id, metric=metric, ts__gte=since)
            .order_by("-ts")
            .values_list("pk", "ts", "value")[:SNAPSHOT_POINTS]
        )
        rows.reverse()
        points = [[iso(ts), value] for _, ts, value in rows]
        for panel_id in panel_ids:
            panels[str(panel_id)] = points
        last_id = max([last_id, *(pk for pk, _, _ in rows)])
    return panels, last_id


def readings_after(*, dashboard: Dashboard, after_id: int, limit: int = 5000) -> list[tuple]:
    """Readings of the dashboard's series stored after reading `after_id` (SSE resume)."""
    series = panels_by_series(dashboard=dashboard)
    if not series:
        return []
    match = Q()
    for device_id, metric in series:
        match |= Q(device_id=device_id, metric=metric)
    return list(
        Reading.objects.filter(match, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", "device_id", "metric", "ts", "value")[:limit]
    )


def series(
    *, device: Device, metric: str, since: datetime, until: datetime, bucket: int
) -> list[list]:
    """[[bucket start, min, avg, max], ...] over raw readings and older rolled-up buckets."""
    acc: dict[int, list[float]] = {}  # bucket -> [min, sum, count, max]

    def add(start_ts: float, low: float, total: float, count: int, high: float) -> None:
        key = int(start_ts) // bucket * bucket
        entry = acc.get(key)
        if entry is None:
            acc[key] = [low, total, count, high]
        else:
            entry[0], entry[3] = min(entry[0], low), max(entry[3], high)
            entry[1] += total
            entry[2] += count

    raw = Reading.objects.filter(device=device, metric=metric, ts__gte=since, ts__lt=until)
    for ts, value in raw.values_list("ts", "value").iterator():
        add(ts.timestamp(), value, value, 1, value)
    rollups = ReadingRollup.objects.filter(
        device=device, metric=metric, bucket_start__gte=since, bucket_start__lt=until
    )
    for start, low, total, count, high in rollups.values_list(
        "bucket_start", "min", "sum", "count", "max"
    ):
        add(start.timestamp(), low, total, count, high)
    return [
        [iso(datetime.fromtimestamp(key, tz=UTC)), low, total / count, high]
        for key, (low, total, count, high) in sorted(acc.items())
    ]


def alert_rules_for_user(*, user: AbstractBaseUser) -> QuerySet[AlertRule]:
    return AlertRule.objects.filter(owner=user).select_related("device", "dashboard")


def alert_channel_get_for_owner(*, channel_id: int, user: AbstractBaseUser) -> AlertChannel:
    """The user's own channel; anyone else's answers as if it did not exist."""
    channel = AlertChannel.objects.filter(pk=channel_id, owner=user).first()
    if channel is None:
        raise NotFound("No such alert channel.")
    return channel


def alert_channels_for_user(*, user: AbstractBaseUser) -> QuerySet[AlertChannel]:
    return AlertChannel.objects.filter(owner=user)
