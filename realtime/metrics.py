"""Prometheus metrics of one server process, served at /metrics to allowed callers only.

Each Daphne process keeps its own registry; scrape every process (they are separate targets
behind the load balancer; see deploy/).
"""

import hmac
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

OPEN_SOCKETS = Gauge("switchboard_open_sockets", "Open WebSockets in this process", ["kind"])
FRAMES_IN = Counter("switchboard_frames_in_total", "Frames received from clients", ["kind"])
FRAMES_OUT = Counter("switchboard_frames_out_total", "Frames delivered to local sockets", ["kind"])
BROADCAST_LATENCY = Histogram(
    "switchboard_broadcast_latency_seconds",
    "From broadcast to the process hub handing the event to its sockets",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAYER_ERRORS = Counter(
    "switchboard_layer_errors_total", "Channel-layer send/receive failures", ["op"]
)
RATE_LIMITED = Counter("switchboard_rate_limited_total", "Refusals for rate", ["what"])
READINGS_INGESTED = Counter("switchboard_readings_ingested_total", "Readings stored")
MQTT_RECEIVED = Counter("switchboard_mqtt_received_total", "MQTT messages the bridge received")
MQTT_DROPPED = Counter(
    "switchboard_mqtt_dropped_total", "MQTT messages the bridge dropped, by reason", ["reason"]
)
MQTT_BROKER_ERRORS = Counter(
    "switchboard_mqtt_broker_errors_total",
    "Broker administration that failed (left pending for manage.py mqtt_sync)",
)
ALERT_DELIVERY_ATTEMPTS = Counter(
    "switchboard_alert_delivery_attempts_total", "Alert delivery attempts, by outcome", ["outcome"]
)
SOCKETS_TOO_SLOW = Counter(
    "switchboard_sockets_too_slow_total", "Sockets closed (4013) for leaving their sends unread"
)
STREAMS_TOO_SLOW = Counter(
    "switchboard_streams_too_slow_total", "Event streams dropped for leaving their events unread"
)
GC_THAWS = Counter(
    "switchboard_gc_thaws_total",
    "Full collections of everything, frozen objects thawed, once enough connections closed",
)


def observe_broadcast(event: dict) -> None:
    sent_at = event.get("sent_at")
    if sent_at is not None:
        BROADCAST_LATENCY.observe(max(time.time() - sent_at, 0))


def _allowed(request: HttpRequest) -> bool:
    token = settings.SWITCHBOARD_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True
    return request.META.get("REMOTE_ADDR") in settings.SWITCHBOARD_METRICS_ALLOW


@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
