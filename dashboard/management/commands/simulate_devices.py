"""Simulated devices that push readings through the real ingestion service, for demos."""

import math
import random
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from dashboard.models import Device
from dashboard.services import device_create, readings_record

SENSORS = {
    "Greenhouse": [("temperature", 22.0, 4.0), ("humidity", 55.0, 12.0)],
    "Server room": [("temperature", 19.0, 2.0), ("power.kw", 3.2, 0.8)],
}


def _wave(base: float, spread: float, phase: float) -> float:
    return round(base + spread * math.sin(phase) + random.gauss(0, spread / 8), 2)


class Command(BaseCommand):
    help = "Push simulated sensor readings every --interval seconds (Ctrl+C to stop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default="alice")
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--count", type=int, default=0, help="stop after N rounds (0: never)")

    def handle(self, *args, owner: str, interval: float, count: int, **options) -> None:
        user = get_user_model().objects.get(username=owner)
        devices = {}
        for name in SENSORS:
            device = Device.objects.filter(owner=user, name=name).first()
            devices[name] = device or device_create(owner=user, name=name)[0]
        rounds = 0
        while not count or rounds < count:
            now = timezone.now()
            phase = time.time() / 60
            for name, metrics in SENSORS.items():
                readings = [
                    {"metric": metric, "ts": now, "value": _wave(base, spread, phase + i)}
                    for i, (metric, base, spread) in enumerate(metrics)
                ]
                readings_record(device=devices[name], readings=readings)
            rounds += 1
            if not count or rounds < count:
                time.sleep(interval)
