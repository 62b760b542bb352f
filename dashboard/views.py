"""The dashboard page and its Server-Sent Events stream."""

import time
from collections import defaultdict

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard import selectors
from dashboard.models import Panel
from dashboard.selectors import route_point
from dashboard.serializers import DashboardSerializer
from dashboard.services import iso
from realtime.errors import NotFound
from realtime.groups import readings_group, user_group
from realtime.hub import RESYNC, get_hub
from realtime.sse import (
    KEEPALIVE_SECONDS,
    QueueSubscriber,
    StreamCredential,
    StreamSlot,
    last_event_id,
    sse,
    sse_response,
    stream_credential,
    stream_ends,
)


def dashboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        dashboard = selectors.dashboard_get_for_user(slug=slug, user=request.user)
    except NotFound:
        raise Http404("No such dashboard.") from None
    # A map's markers are labelled with its devices' names (the panel JSON has their ids).
    device_names = {
        device.pk: device.name
        for panel in dashboard.panels.all()
        if panel.kind == Panel.Kind.MAP
        for device in panel.devices.all()
    }
    return render(
        request,
        "dashboard/dashboard.html",
        {"dashboard": dashboard, "dashboard_data": DashboardSerializer(dashboard).data,
         "device_names": device_names},
    )  # fmt: skip


def alert_channels_page(request: HttpRequest) -> HttpResponse:
    """The user's alert channels: create one, send a test, see the deliveries (all via REST)."""
    return render(request, "dashboard/alert_channels.html")


@login_not_required  # answers 401 itself, and takes Bearer tokens as well as the session
async def dashboard_events(request: HttpRequest, slug: str) -> HttpResponse:
    """`snapshot`, then `readings` per panel at most 10 a second; id = the last reading id."""
    credential = await stream_credential(request)
    if isinstance(credential, JsonResponse):
        return credential
    try:
        dashboard = await sync_to_async(selectors.dashboard_get_for_user)(
            slug=slug, user=credential.user
        )
    except NotFound:
        return JsonResponse({"code": "not_found", "detail": "No such dashboard."}, status=404)
    series = await sync_to_async(selectors.panels_by_series)(dashboard=dashboard)
    resume_from = last_event_id(request, "after_id")
    slot = StreamSlot(credential, request)
    if refusal := await slot.take():
        return refusal
    return sse_response(_dashboard_stream(dashboard, series, resume_from, credential, slot), slot)


async def _dashboard_stream(dashboard, series, resume_from, credential: StreamCredential, slot):
    subscriber = QueueSubscriber()
    # The user's group too: a logout, password change or deactivation ends the stream.
    groups = [readings_group(device_id) for device_id in {d for d, _ in series}]
    groups.append(user_group(credential.user.pk))
    hub = get_hub()
    last_id = resume_from

    async def missed() -> list[str]:
        """Events for what was stored after `last_id` (a reconnect, or a layer that lost events)."""
        nonlocal last_id
        rows = await sync_to_async(selectors.readings_after)(dashboard=dashboard, after_id=last_id)
        by_panel = defaultdict(list)
        for pk, device_id, metric, ts, value in rows:
            for route in series.get((device_id, metric), ()):
                by_panel[route.panel].append(route_point(route, device_id, metric, iso(ts), value))
            last_id = pk
        return [
            sse("readings", {"type": "readings", "panel": panel_id, "points": points}, last_id)
            for panel_id, points in by_panel.items()
        ]

    try:
        for group in groups:
            await hub.subscribe(group, subscriber)
        if resume_from is None:
            panels, last_id = await sync_to_async(selectors.snapshot)(dashboard=dashboard)
            yield sse("snapshot", {"type": "snapshot", "panels": panels}, last_id)
        else:
            for chunk in await missed():
                yield chunk
        while True:
            if credential.remaining() <= 0:
                return  # the token expired: the reconnect gets 401
            event = await subscriber.next(min(KEEPALIVE_SECONDS, credential.remaining()))
            if event is None:
                if credential.remaining() > 0:
                    yield ": keepalive\n\n"
                continue
            if event["type"] == "hub.close":
                if stream_ends(event, credential):
                    return
                continue
            started = time.monotonic()
            by_panel = defaultdict(list)
            resync = False
            # Coalesce: take what arrives within a tenth of a second into one frame per panel.
            while True:
                if event["type"] == RESYNC:
                    resync = True
                elif event["type"] == "hub.close":
                    if stream_ends(event, credential):
                        return
                elif event["last_id"] > last_id:
                    for metric, ts, value in event["points"]:
                        for route in series.get((event["device"], metric), ()):
                            point = route_point(route, event["device"], metric, ts, value)
                            by_panel[route.panel].append(point)
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
        await slot.release()
