"""The dashboard page and its Server-Sent Events stream."""

import time
from collections import defaultdict

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard import selectors
from dashboard.serializers import DashboardSerializer
from dashboard.services import iso
from realtime.errors import NotFound
from realtime.groups import readings_group
from realtime.hub import RESYNC, get_hub
from realtime.sse import (
    KEEPALIVE_SECONDS,
    QueueSubscriber,
    last_event_id,
    request_user,
    sse,
    sse_response,
)


def dashboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        dashboard = selectors.dashboard_get_for_user(slug=slug, user=request.user)
    except NotFound:
        raise Http404("No such dashboard.") from None
    return render(
        request,
        "dashboard/dashboard.html",
        {"dashboard": dashboard, "dashboard_data": DashboardSerializer(dashboard).data},
    )


@login_not_required  # answers 401 itself, and takes Bearer tokens as well as the session
async def dashboard_events(request: HttpRequest, slug: str) -> HttpResponse:
    """`snapshot`, then `readings` per panel at most 10 a second; id = the last reading id."""
    user = await request_user(request)
    if not user.is_authenticated:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    try:
        dashboard = await sync_to_async(selectors.dashboard_get_for_user)(slug=slug, user=user)
    except NotFound:
        return JsonResponse({"code": "not_found", "detail": "No such dashboard."}, status=404)
    series = await sync_to_async(selectors.panels_by_series)(dashboard=dashboard)
    resume_from = last_event_id(request, "after_id")
    return sse_response(_dashboard_stream(dashboard, series, resume_from))


async def _dashboard_stream(dashboard, series, resume_from):
    subscriber = QueueSubscriber()
    groups = [readings_group(device_id) for device_id in {d for d, _ in series}]
    hub = get_hub()
    for group in groups:
        await hub.subscribe(group, subscriber)
    last_id = resume_from

    async def missed() -> list[str]:
        """Events for what was stored after `last_id` (a reconnect, or a layer that lost events)."""
        nonlocal last_id
        rows = await sync_to_async(selectors.readings_after)(dashboard=dashboard, after_id=last_id)
        by_panel = defaultdict(list)
        for pk, device_id, metric, ts, value in rows:
            for panel_id in series.get((device_id, metric), ()):
                by_panel[panel_id].append([iso(ts), value])
            last_id = pk
        return [
            sse("readings", {"type": "readings", "panel": panel_id, "points": points}, last_id)
            for panel_id, points in by_panel.items()
        ]

    try:
        if resume_from is None:
            panels, last_id = await sync_to_async(selectors.snapshot)(dashboard=dashboard)
            yield sse("snapshot", {"type": "snapshot", "panels": panels}, last_id)
        else:
            for chunk in await missed():
                yield chunk
        while True:
            event = await subscriber.next(KEEPALIVE_SECONDS)
            if event is None:
                yield ": keepalive\n\n"
                continue
            started = time.monotonic()
            by_panel = defaultdict(list)
            resync = False
            # Coalesce: take what arrives within a tenth of a second into one frame per panel.
            while True:
                if event["type"] == RESYNC:
                    resync = True
                elif event["last_id"] > last_id:
                    for metric, ts, value in event["points"]:
                        for panel_id in series.get((event["device"], metric), ()):
                            by_panel[panel_id].append([ts, value])
                    last_id = event["last_id"]
                remaining = 0.1 - (time.monotonic() - started)
                if remaining <= 0:
                    break
                event = await subscriber.next(remaining)
                if event is None:
                    break
            for panel_id, points in by_panel.items():
                yield sse(
                    "readings", {"type": "readings", "panel": panel_id, "points": points}, last_id
                )
            if resync:
                for chunk in await missed():
                    yield chunk
    finally:
        for group in groups:
            await hub.unsubscribe(group, subscriber)
