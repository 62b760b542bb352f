"""Health check (CONTRACT.md §2): the database and the channel layer, each named when it fails;
and the 404 page, which survives a body it cannot parse."""

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views import defaults

from realtime.aio import within

logger = logging.getLogger(__name__)

CHECK_SECONDS = 2


def _check_db() -> None:
    # Run on a thread of its own (see healthz), so this connection is its own: closed here
    # rather than left open in an executor thread no request cycle ever cleans up.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _check_layer() -> None:
    layer = get_channel_layer()
    if hasattr(layer, "connection") and hasattr(layer, "ring_size"):
        # channels_redis: its dependency is Redis, asked on each shard with the layer's own
        # clients. Not a send and receive on a process-local channel: channels_redis lets one
        # coroutine of a process receive at a time, and the hub (realtime.hub) holds that
        # turn in a blocking pop on its own channel for as long as no event comes, so such a
        # check timed out on every process that had served a socket.
        for index in range(layer.ring_size):
            await layer.connection(index).ping()
        return
    channel = await layer.new_channel(prefix="healthz")
    await layer.send(channel, {"type": "healthz"})
    await layer.receive(channel)


@login_not_required
async def healthz(request: HttpRequest) -> JsonResponse:
    status = {"status": "ok", "db": "ok", "channel_layer": "ok"}
    # The database check runs on a thread of its own, not the shared sync thread, where it
    # would queue behind every socket's database work (a burst of handshakes) and answer late
    # though the database is fine. Both checks run at once, each with its own deadline.
    checks = {
        "db": sync_to_async(_check_db, thread_sensitive=False)(),
        "channel_layer": _check_layer(),
    }
    results = await asyncio.gather(
        *(within(check, CHECK_SECONDS) for check in checks.values()), return_exceptions=True
    )
    for part, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("healthz: %s failing: %r", part, result)
            status[part] = "error"
    failing = [part for part in ("db", "channel_layer") if status[part] != "ok"]
    if failing:
        status["status"] = "error"
        status["failing"] = failing
        return JsonResponse(status, status=503)
    return JsonResponse(status)


def page_not_found(request: HttpRequest, exception: Exception):
    """Django's 404 page, which also answers a POST whose multipart body cannot be parsed.

    Django's own view is wrapped in requires_csrf_token, whose check reads request.POST; for a
    URL that matches nothing, with a malformed multipart body, that read raises inside the
    404 handler and the answer becomes a 500. Reading it here first leaves the body marked
    as unparsable (an empty POST), and the 404 stands."""
    with contextlib.suppress(MultiPartParserError):
        request.POST  # noqa: B018 (the read is the point)
    return defaults.page_not_found(request, exception)
