"""Health check (CONTRACT.md §2): the database and the channel layer, each named when it fails."""

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def _check_db() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel(prefix="healthz")
    await layer.send(channel, {"type": "healthz"})
    await layer.receive(channel)


@login_not_required
async def healthz(request: HttpRequest) -> JsonResponse:
    status = {"status": "ok", "db": "ok", "channel_layer": "ok"}
    try:
        await sync_to_async(_check_db)()
    except Exception as error:
        logger.warning("healthz: database failing: %s", error)
        status["db"] = "error"
    try:
        await asyncio.wait_for(_check_layer(), timeout=2)
    except Exception as error:
        logger.warning("healthz: channel layer failing: %r", error)
        status["channel_layer"] = "error"
    failing = [part for part in ("db", "channel_layer") if status[part] != "ok"]
    if failing:
        status["status"] = "error"
        status["failing"] = failing
        return JsonResponse(status, status=503)
    return JsonResponse(status)
