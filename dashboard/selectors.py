"""Reads and access checks for devices, dashboards and series."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

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
from dashboard.serializers import MAP_METRICS
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
        Prefetch(
            "panels", queryset=Panel.objects.select_related("device").prefetch_related("devices")
        )
    )


def dashboard_get_for_user(*, slug: str, user: AbstractBaseUser) -> Dashboard:
    """A dashboard the user may watch: public ones, and their own private ones."""
    dashboard = dashboard_list_for_user(user=user).filter(slug=slug).first()
    if dashboard is None:
        raise NotFound("No such dashboard.")
    return dashboard


class Route(NamedTuple):
    """A panel that charts a series, and how its points look."""

    panel: int
    kind: str

    @property
    def wide(self) -> bool:
        # A ticker's and a map's points name their series: [ts, value, device, metric].
        return self.kind in (Panel.Kind.TICKER, Panel.Kind.MAP)


def route_point(route: Route, device_id: int, metric: str, ts: str, value: float) -> list:
    """One point as a panel's frames carry it."""
    return [ts, value, device_id, metric] if route.wide else [ts, value]


def panel_series(panel: Panel) -> list[tuple[int, str]]:
    """The (device id, metric) series a panel charts (its `devices` prefetched for a map)."""
    if panel.kind == Panel.Kind.MAP:
        return [(device.pk, metric) for device in panel.devices.all() for metric in MAP_METRICS]
    if panel.kind == Panel.Kind.TICKER:
        return [(panel.device_id, metric) for metric in panel.metrics]
    return [(panel.device_id, panel.metric)]


def panels_by_series(*, dashboard: Dashboard) -> dict[tuple[int, str], list[Route]]:
    """What a dashboard's viewers may read: (device id, metric) -> the panels that chart it.

    The one answer for every path: the series API (`charted_device`), the snapshot, the socket
    and the SSE stream (which map each reading to panels through it and drop the rest). A
    public dashboard shows its charted metrics, never the device's others: a ticker's listed
    metrics of its device, a map's lat, lon and speed of its listed devices."""
    series = defaultdict(list)
    for panel in Panel.objects.filter(dashboard=dashboard).prefetch_related("devices"):
        for key in panel_series(panel):
            series[key].append(Route(panel.pk, panel.kind))
    return dict(series)


def charted_device(*, dashboard: Dashboard, device_id: int, metric: str) -> Device:
    """The device, if the dashboard charts this metric of it; NotFound for any other series."""
    if (device_id, metric) not in panels_by_series(dashboard=dashboard):
        raise NotFound("That device's metric is not charted on this dashboard.")
    return Device.objects.get(pk=device_id)


# Points of each series a panel's snapshot holds, by kind: a ticker needs the latest price
# (and the window's first, for the change), a map each vehicle's recent track.
SNAPSHOT_KEEP = {Panel.Kind.TICKER: 1, Panel.Kind.MAP: 30}


def snapshot(*, dashboard: Dashboard) -> tuple[dict[str, list], int]:
    """The recent points of every panel, and the highest reading id they include."""
    panels: dict[str, list] = defaultdict(list)
    last_id = 0
    since = datetime.now(UTC) - SNAPSHOT_WINDOW
    for (device_id, metric), routes in panels_by_series(dashboard=dashboard).items():
        window = Reading.objects.filter(device_id=device_id, metric=metric, ts__gte=since)
        keep = max(SNAPSHOT_KEEP.get(route.kind, SNAPSHOT_POINTS) for route in routes)
        rows = list(window.order_by("-ts").values_list("pk", "ts", "value")[:keep])
        rows.reverse()
        opening = None
        if rows and any(route.kind == Panel.Kind.TICKER for route in routes):
            opening = window.order_by("ts").values_list("pk", "ts", "value").first()
        for route in routes:
            kept = rows[-SNAPSHOT_KEEP.get(route.kind, SNAPSHOT_POINTS) :]
            if route.kind == Panel.Kind.TICKER and opening and opening[0] != kept[0][0]:
                kept = [opening, *kept]
            panels[str(route.panel)].extend(
                route_point(route, device_id, metric, iso(ts), value) for _, ts, value in kept
            )
        last_id = max([last_id, *(pk for pk, _, _ in rows)])
    return dict(panels), last_id


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
    *, device: Device, metric: str, since: datetime, until: datetime, bucket: int,
    agg: str | None = None,
) -> list[list]:  # fmt: skip
    """[[bucket start, min, avg, max], ...] over raw readings and older rolled-up buckets, or
    with agg="ohlc" [[bucket start, open, high, low, close], ...]."""
    if agg == "ohlc":
        return _ohlc(device=device, metric=metric, since=since, until=until, bucket=bucket)
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

    for ts, value in _raw(device, metric, since, until).values_list("ts", "value").iterator():
        add(ts.timestamp(), value, value, 1, value)
    for start, low, total, count, high in _rollups(device, metric, since, until).values_list(
        "bucket_start", "min", "sum", "count", "max"
    ):
        add(start.timestamp(), low, total, count, high)
    return [
        [iso(datetime.fromtimestamp(key, tz=UTC)), low, total / count, high]
        for key, (low, total, count, high) in sorted(acc.items())
    ]


def _raw(device: Device, metric: str, since: datetime, until: datetime) -> QuerySet[Reading]:
    return Reading.objects.filter(device=device, metric=metric, ts__gte=since, ts__lt=until)


def _rollups(device: Device, metric: str, since: datetime, until: datetime):
    return ReadingRollup.objects.filter(
        device=device, metric=metric, bucket_start__gte=since, bucket_start__lt=until
    )


def _ohlc(
    *, device: Device, metric: str, since: datetime, until: datetime, bucket: int
) -> list[list]:
    """Open = the bucket's earliest value, close = its latest, over raw and rolled-up data.

    A rolled-up bucket contributes its own first and last reading at their times; one folded
    before those were kept contributes its average at its start (open) and end (close)."""
    acc: dict[int, list] = {}  # bucket -> [open ts, open, high, low, close ts, close]

    def add(first_ts: float, first: float, high: float, low: float, last_ts: float, last: float):
        key = int(first_ts) // bucket * bucket
        entry = acc.get(key)
        if entry is None:
            acc[key] = [first_ts, first, high, low, last_ts, last]
            return
        if first_ts < entry[0]:
            entry[0], entry[1] = first_ts, first
        entry[2], entry[3] = max(entry[2], high), min(entry[3], low)
        if last_ts >= entry[4]:
            entry[4], entry[5] = last_ts, last

    for ts, value in _raw(device, metric, since, until).values_list("ts", "value").iterator():
        moment = ts.timestamp()
        add(moment, value, value, value, moment, value)
    for row in _rollups(device, metric, since, until).values_list(
        "bucket_start", "bucket_seconds", "min", "max", "sum", "count",
        "first_ts", "first", "last_ts", "last",
    ):  # fmt: skip
        start, seconds, low, high, total, count, first_ts, first, last_ts, last = row
        average = total / count
        opened = first_ts.timestamp() if first_ts else start.timestamp()
        closed = last_ts.timestamp() if last_ts else start.timestamp() + seconds - 1e-3
        add(opened, average if first is None else first, high, low,
            closed, average if last is None else last)  # fmt: skip
    return [
        [iso(datetime.fromtimestamp(key, tz=UTC)), first, high, low, last]
        for key, (_, first, high, low, _, last) in sorted(acc.items())
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
