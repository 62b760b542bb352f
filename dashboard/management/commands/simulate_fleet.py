"""Vehicles driving between European cities, each a device reporting lat, lon and speed.

Run alone, it needs the servers to share its Redis (REDIS_URL) for its readings to reach their
sockets; under `make run` the server drives the same fleet itself (dashboard.simulators)."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from dashboard.simulators import FLEET_INTERVAL, VEHICLE_COUNT, Fleet, fleet_devices


class Command(BaseCommand):
    help = "Drive the fleet: every vehicle reports every --interval seconds (Ctrl+C to stop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default="alice")
        parser.add_argument("--vehicles", type=int, default=VEHICLE_COUNT)
        parser.add_argument("--interval", type=float, default=FLEET_INTERVAL)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--count", type=int, default=0, help="stop after N rounds (0: never)")

    def handle(
        self, *args, owner: str, vehicles: int, interval: float, seed: int, count: int, **options
    ) -> None:
        owner_user = get_user_model().objects.get(username=owner)
        fleet = Fleet.start(devices=fleet_devices(owner=owner_user, count=vehicles), seed=seed)
        rounds = stored = 0
        while not count or rounds < count:
            stored += fleet.tick(interval)
            rounds += 1
            if not count or rounds < count:
                time.sleep(interval)
        self.stdout.write(f"{stored} readings stored")
