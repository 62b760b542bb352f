"""A market feed of 200 symbols through the real ingestion path, for demos and benchmarks.

As a process of its own its readings reach the servers' sockets over Redis (REDIS_URL); `make
run` runs the same feed inside the server instead (dashboard.simulators)."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from dashboard.simulators import MARKET_TICK, MAX_MARKET_RATE, Market, market_device


class Command(BaseCommand):
    help = "Move 200 prices by a seeded random walk, --rate times a second each (Ctrl+C to stop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default="alice")
        parser.add_argument(
            "--rate",
            type=float,
            default=5.0,
            help=f"updates per second per symbol (max {MAX_MARKET_RATE:g})",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--count", type=int, default=0, help="stop after N batches (0: never)")

    def handle(self, *args, owner: str, rate: float, seed: int, count: int, **options) -> None:
        device = market_device(owner=get_user_model().objects.get(username=owner))
        market = Market.open(device=device, rate=rate, seed=seed)
        ticks = stored = 0
        due = time.monotonic()
        while not count or ticks < count:
            stored += market.tick(MARKET_TICK)
            ticks += 1
            due += MARKET_TICK
            if not count or ticks < count:
                time.sleep(max(0.0, due - time.monotonic()))
        self.stdout.write(f"{stored} readings stored")
