"""Simulated devices that push readings through the real ingestion service, for demos.

As a process of its own its readings reach the servers' sockets over Redis (REDIS_URL); `make
run` runs the same simulator inside the server instead (dashboard.demo)."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from dashboard.demo import DEMO_OWNER, SIMULATE_INTERVAL, sensor_devices, sensors_simulate_record


class Command(BaseCommand):
    help = "Push simulated sensor readings every --interval seconds (Ctrl+C to stop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default=DEMO_OWNER)
        parser.add_argument("--interval", type=float, default=SIMULATE_INTERVAL)
        parser.add_argument("--count", type=int, default=0, help="stop after N rounds (0: never)")

    def handle(self, *args, owner: str, interval: float, count: int, **options) -> None:
        devices = sensor_devices(owner=get_user_model().objects.get(username=owner))
        rounds = 0
        while not count or rounds < count:
            sensors_simulate_record(devices=devices)
            rounds += 1
            if not count or rounds < count:
                time.sleep(interval)
