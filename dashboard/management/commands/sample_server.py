"""The built-in source: this server's CPU, memory and open sockets, recorded as a device."""

import time

import psutil
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from dashboard.models import Device
from dashboard.services import device_create, readings_record
from realtime.services import open_socket_count

BUILTIN_NAME = "Switchboard server"


def builtin_device() -> Device:
    device = Device.objects.filter(is_builtin=True).first()
    if device is None:
        owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        device, _ = device_create(owner=owner, name=BUILTIN_NAME, is_builtin=True)
    return device


class Command(BaseCommand):
    help = "Sample cpu.percent, memory.percent and sockets.open every --interval seconds."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=2.0)
        parser.add_argument("--count", type=int, default=0, help="stop after N samples (0: never)")

    def handle(self, *args, interval: float, count: int, **options) -> None:
        device = builtin_device()
        psutil.cpu_percent()  # the first call only starts the measurement
        samples = 0
        while not count or samples < count:
            time.sleep(interval)
            readings_record(
                device=device,
                readings=[
                    {"metric": "cpu.percent", "value": psutil.cpu_percent(), "ts": timezone.now()},
                    {"metric": "memory.percent", "value": psutil.virtual_memory().percent,
                     "ts": timezone.now()},
                    {"metric": "sockets.open", "ts": timezone.now(), "value": float(
                        open_socket_count(max_age_seconds=settings.SWITCHBOARD_SOCKET_TTL))},
                ],
            )  # fmt: skip
            samples += 1
