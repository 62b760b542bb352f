"""The built-in source: this server's CPU, memory and open sockets, recorded as a device.

As a process of its own its readings reach the servers' sockets over Redis (REDIS_URL); `make
run` runs the same sampler inside the server instead (dashboard.demo)."""

import time

import psutil
from django.core.management.base import BaseCommand

from dashboard.demo import SAMPLE_INTERVAL, builtin_device, server_sample_record


class Command(BaseCommand):
    help = "Sample cpu.percent, memory.percent and sockets.open every --interval seconds."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=SAMPLE_INTERVAL)
        parser.add_argument("--count", type=int, default=0, help="stop after N samples (0: never)")

    def handle(self, *args, interval: float, count: int, **options) -> None:
        device = builtin_device()
        psutil.cpu_percent()  # the first call only starts the measurement
        samples = 0
        while not count or samples < count:
            time.sleep(interval)
            server_sample_record(device=device)
            samples += 1
