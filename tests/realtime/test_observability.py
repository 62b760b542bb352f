"""/metrics for allowed callers only, counters that move, JSON logs with request ids."""

import io
import json
import logging

import pytest
from django.test import Client

from tests.chat.test_consumers import join, next_frame, send
from tests.factories import make_room


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.django_db
def test_metrics_answer_allowed_addresses_and_token_holders(settings):
    settings.SWITCHBOARD_METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    wrong = Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = Client().get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token"
    )
    assert right.status_code == 200 and "switchboard_open_sockets" in right.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_socket_counters_move(layer, user):
    from asgiref.sync import sync_to_async

    await sync_to_async(make_room)(creator=user)

    def scrape() -> str:
        return Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    before = await sync_to_async(scrape)()
    socket, _ = await join(user)
    await send(socket, {"type": "message.send", "body": "count me"})
    await next_frame(socket)
    during = await sync_to_async(scrape)()
    assert (
        metric_value(during, 'switchboard_open_sockets{kind="room"}')
        == metric_value(before, 'switchboard_open_sockets{kind="room"}') + 1
    )
    assert metric_value(during, 'switchboard_frames_in_total{kind="room"}') > metric_value(
        before, 'switchboard_frames_in_total{kind="room"}'
    )
    assert metric_value(during, "switchboard_broadcast_latency_seconds_count") > metric_value(
        before, "switchboard_broadcast_latency_seconds_count"
    )
    await socket.disconnect()


@pytest.mark.django_db
def test_logs_are_json_lines_with_the_request_id(user):
    # The project's configured formatter, on a handler we can read; lines are formatted as
    # they are logged, inside the request, as the console handler does.
    formatter = next(h.formatter for h in logging.getLogger().handlers if h.formatter)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = Client().get("/api/rooms/", HTTP_X_REQUEST_ID="req-123")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 401 and response["X-Request-ID"] == "req-123"
    line = json.loads(buffer.getvalue().splitlines()[-1])
    assert line["request_id"] == "req-123"
    assert line["level"] == "warning" and line["logger"] == "django.request"
    assert line["timestamp"].endswith("Z")
