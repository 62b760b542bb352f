"""Device and dashboard sockets (CONTRACT.md §5, §6)."""

import asyncio
import time
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from dashboard import selectors, services
from dashboard.models import Panel
from dashboard.selectors import route_point
from dashboard.serializers import validate_readings
from realtime import credentials
from realtime.broadcast import encode_frame
from realtime.conflate import Window
from realtime.consumers import LiveConsumer
from realtime.errors import Forbidden
from realtime.groups import readings_group
from realtime.store import rate_allows

# A snapshot bigger than this goes out in several `snapshot` frames, so that each stays far
# below the 1 MiB a client such as Python's websockets takes by default.
SNAPSHOT_FRAME_BYTES = 256 * 1024


def snapshot_frames(panels: dict[str, list]) -> list[str]:
    """The snapshot as encoded frames: one, or several each holding some of the panels, all
    but the last marked `"more": true` (a client merges them panel by panel, as the page does).
    """
    parts: list[dict[str, list]] = [{}]
    size = 0
    for panel_id, points in panels.items():
        cost = len(encode_frame(points)) + len(panel_id) + 4
        if parts[-1] and size + cost > SNAPSHOT_FRAME_BYTES:
            parts.append({})
            size = 0
        parts[-1][panel_id] = points
        size += cost
    last = len(parts) - 1
    return [
        encode_frame({"type": "snapshot", "panels": part} | ({"more": True} if n < last else {}))
        for n, part in enumerate(parts)
    ]


class DeviceConsumer(LiveConsumer):
    """/ws/devices/: a device pushes batches of readings; each gets an ack or an error."""

    kind = "device"
    credential_scope = credentials.INGEST
    # A device's socket is budgeted like its ingestion, not like a browser tab.
    frame_rate_setting = "SWITCHBOARD_DEVICE_INGEST_RATE"

    async def authorize(self) -> None:
        self.device = self.scope.get("device")
        if self.device is None:
            raise Forbidden("Devices authenticate with an Api-Key header.")

    def ends_with(self, event: dict[str, Any]) -> bool:
        # Only events about this device end it (a new key, revocation), not the owner's logout.
        return event.get("device") == self.device.pk

    async def on_readings(self, frame: dict[str, Any]) -> None:
        if not await rate_allows(
            settings.SWITCHBOARD_DEVICE_INGEST_RATE, "ingest", str(self.device.pk)
        ):
            await self.refuse_for_rate(None)
            return
        readings = validate_readings(frame)
        if isinstance(readings, dict):
            await self.send_frame(
                {
                    "type": "error",
                    "code": "invalid_frame",
                    "detail": "Some readings are invalid; none of this batch was stored.",
                    "ref": None,
                    "errors": readings,
                }
            )
            return
        accepted = await database_sync_to_async(services.readings_record)(
            device=self.device, readings=readings
        )
        await self.send_frame({"type": "ack", "accepted": accepted})

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {"readings": on_readings, "ping": on_ping}


class DashboardConsumer(LiveConsumer):
    """/ws/dashboards/<slug>/: a snapshot, then new points, at most MAX_RATE frames a second.

    However fast devices send, points wait in a per-panel window (realtime/conflate.py: the
    latest point per series for a ticker, a map or a gauge; every point, the newest
    POINTS_KEPT, for a chart) and one `readings` frame goes out per tick, for the panel that
    has waited longest. A slow browser never makes the server hold more than that.
    """

    kind = "dashboard"
    flusher: asyncio.Task | None = None  # set by `opened`; a socket refused before has none
    MAX_RATE = 10
    POINTS_KEPT = 2000
    LATEST_ONLY = {Panel.Kind.TICKER, Panel.Kind.MAP, Panel.Kind.GAUGE}

    async def authorize(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.dashboard = await database_sync_to_async(selectors.dashboard_get_for_user)(
            slug=slug, user=self.user
        )

    async def opened(self) -> None:
        self.series = await database_sync_to_async(selectors.panels_by_series)(
            dashboard=self.dashboard
        )
        self.snapshot_last_id: int | None = None
        self.early: list[dict[str, Any]] = []  # events that came while the snapshot was read
        self.pending: dict[int, Window] = {}
        self.waiting_since: dict[int, float] = {}
        self.flusher: asyncio.Task | None = None
        self.last_flush = 0.0
        for device_id in {device_id for device_id, _ in self.series}:
            await self.join_group(readings_group(device_id))
        panels, self.snapshot_last_id = await database_sync_to_async(selectors.snapshot)(
            dashboard=self.dashboard
        )
        for text in snapshot_frames(panels):
            await self.send_text(text)
        for event in self.early:
            await self.room_event(event)
        self.early = []

    async def closing(self) -> None:
        if self.flusher is not None:
            self.flusher.cancel()

    async def room_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "hub.readings":
            return
        if self.snapshot_last_id is None:
            self.early.append(event)
            return
        if event["last_id"] <= self.snapshot_last_id:
            return  # already in the snapshot
        now = time.monotonic()
        device_id = event["device"]
        for metric, ts, value in event["points"]:
            for route in self.series.get((device_id, metric), ()):
                window = self.pending.get(route.panel)
                if window is None:
                    latest_only = route.kind in self.LATEST_ONLY
                    window = self.pending[route.panel] = Window(
                        latest_only=latest_only, keep=self.POINTS_KEPT
                    )
                window.add(
                    (device_id, metric), ts, route_point(route, device_id, metric, ts, value)
                )
                self.waiting_since.setdefault(route.panel, now)
        if self.pending and (self.flusher is None or self.flusher.done()):
            self.flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        interval = 1 / self.MAX_RATE
        while self.pending:
            delay = self.last_flush + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            panel_id = min(self.waiting_since, key=self.waiting_since.get)
            points = self.pending.pop(panel_id).points()
            del self.waiting_since[panel_id]
            self.last_flush = time.monotonic()
            await self.send_frame({"type": "readings", "panel": panel_id, "points": points})

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {"ping": on_ping}
