"""`manage.py mqtt_bridge`: ingest what devices publish to the MQTT broker (dashboard.bridge).

A process of its own beside a Redis layer (its readings reach every server's sockets through
it). Its counters (dropped messages by reason) are its own: `--metrics-port` serves them as one
more Prometheus target, on 127.0.0.1."""

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from dashboard.bridge import run_bridge


class Command(BaseCommand):
    help = "Subscribe to devices/+/readings on SWITCHBOARD_MQTT_URL and ingest (Ctrl+C to stop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--metrics-port", type=int, default=0, help="serve /metrics (0: no)")

    def handle(self, *args, metrics_port: int, **options) -> None:
        if not settings.SWITCHBOARD_MQTT_URL:
            raise CommandError("Set SWITCHBOARD_MQTT_URL (e.g. mqtt://127.0.0.1:1883).")
        if metrics_port:
            start_http_server(metrics_port, addr="127.0.0.1")
        asyncio.run(run_bridge())
