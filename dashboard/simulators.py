"""The Markets and Fleet demos' sources: a market feed of 200 symbols and 50 vehicles on the road.

Each is a pure, seeded step (state in, readings out, tested without a server) and a loop that
ingests the readings as a device would: counted by the device's ingest budget
(SWITCHBOARD_DEVICE_INGEST_RATE, the limiter of `/api/ingest/`), validated by
`validate_readings`, stored and announced by `readings_record`. `manage.py simulate_market` and
`simulate_fleet` run them as processes of their own (over Redis); `make run` runs them as tasks
of the server (SWITCHBOARD_DEMO_SOURCES), like dashboard.demo.
"""

import asyncio
import logging
import math
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from dashboard.models import Device
from dashboard.serializers import MAX_BATCH, validate_readings
from dashboard.services import device_create, iso, readings_record
from realtime.store import rate_allows_sync

logger = logging.getLogger(__name__)

MARKET_DEVICE = "Market feed"
SYMBOL_COUNT = 200
# Updates per second per symbol: the demo's default; `simulate_market --rate` goes up to 50.
DEMO_MARKET_RATE = 2.0
MAX_MARKET_RATE = 50.0
MARKET_TICK = 0.1  # seconds between batches
WELL_KNOWN = [
    "aapl", "msft", "nvda", "goog", "amzn", "meta", "tsla", "avgo", "jpm", "v", "wmt", "xom",
    "ma", "unh", "jnj", "pg", "hd", "cost", "orcl", "bac", "ko", "pep", "nflx", "amd", "crm",
]  # fmt: skip

FLEET_PREFIX = "Vehicle"
VEHICLE_COUNT = 50
FLEET_INTERVAL = 1.0
# The demo's vehicles cover in a second what a real one covers in ten minutes, so that they move
# visibly on a map of Europe; the `speed` they report is the real one (km/h).
FLEET_SPEEDUP = 600.0
CITIES = {
    "Lisbon": (38.72, -9.14), "Madrid": (40.42, -3.70), "Barcelona": (41.39, 2.17),
    "Lyon": (45.76, 4.84), "Paris": (48.86, 2.35), "London": (51.51, -0.13),
    "Brussels": (50.85, 4.35), "Amsterdam": (52.37, 4.90), "Hamburg": (53.55, 9.99),
    "Berlin": (52.52, 13.40), "Copenhagen": (55.68, 12.57), "Prague": (50.08, 14.44),
    "Munich": (48.14, 11.58), "Vienna": (48.21, 16.37), "Milan": (45.46, 9.19),
    "Rome": (41.90, 12.50), "Warsaw": (52.23, 21.01), "Budapest": (47.50, 19.04),
    "Zurich": (47.37, 8.54), "Marseille": (43.30, 5.37),
}  # fmt: skip


def ingest(*, device: Device, readings: list[dict]) -> int:
    """Readings in as `/api/ingest/` takes them: the device's budget, validation, one service.

    Returns how many were stored: 0 when the budget refuses the batch (dropped, as a device
    answered 429 would have to retry)."""
    stored = 0
    for start in range(0, len(readings), MAX_BATCH):
        if not rate_allows_sync(settings.SWITCHBOARD_DEVICE_INGEST_RATE, "ingest", str(device.pk)):
            logger.warning("device %s is over its ingest budget; batch dropped", device.pk)
            continue
        clean = validate_readings({"readings": readings[start : start + MAX_BATCH]})
        if isinstance(clean, dict):
            raise ValueError(f"the simulator made invalid readings: {str(clean)[:300]}")
        stored += readings_record(device=device, readings=clean)
    return stored


def _owned_device(owner: AbstractBaseUser, name: str) -> Device:
    device = Device.objects.filter(owner=owner, name=name).first()
    return device or device_create(owner=owner, name=name)[0]


# --- markets -----------------------------------------------------------------------------------


def market_symbols(count: int = SYMBOL_COUNT, seed: int = 7) -> list[str]:
    """`count` distinct ticker symbols (metric names): well-known ones, then made-up ones."""
    rng = random.Random(seed)
    symbols = list(WELL_KNOWN[:count])
    taken = set(symbols)
    while len(symbols) < count:
        symbol = "".join(rng.choices(string.ascii_lowercase, k=rng.choice((3, 4))))
        if symbol not in taken:
            taken.add(symbol)
            symbols.append(symbol)
    return symbols


def market_open(symbols: list[str], rng: random.Random) -> dict[str, float]:
    """Opening prices, between 5 and 900."""
    return {
        symbol: round(math.exp(rng.uniform(math.log(5), math.log(900))), 2) for symbol in symbols
    }


def market_step(
    prices: dict[str, float], rng: random.Random, *, updates: int, start: datetime, span: float
) -> list[dict]:
    """`updates` moves of every price (a geometric random walk), spread over `span` seconds
    from `start`; `prices` is updated in place. Returns the readings, oldest first."""
    readings = []
    for n in range(updates):
        ts = iso(start + timedelta(seconds=span * n / updates))
        for symbol, price in prices.items():
            price = max(0.01, round(price * math.exp(rng.gauss(0, 0.0008)), 2))
            prices[symbol] = price
            readings.append({"metric": symbol, "value": price, "ts": ts})
    return readings


def market_device(*, owner: AbstractBaseUser) -> Device:
    return _owned_device(owner, MARKET_DEVICE)


@dataclass
class Market:
    """A running market feed: its device, prices and random source."""

    device: Device
    prices: dict[str, float]
    rng: random.Random
    rate: float
    carry: float = 0.0  # fractional updates owed by earlier ticks (a rate below 1/tick)

    @classmethod
    def open(cls, *, device: Device, rate: float, seed: int = 1) -> "Market":
        rng = random.Random(seed)
        rate = min(max(rate, 0.0), MAX_MARKET_RATE)
        return cls(device=device, prices=market_open(market_symbols(), rng), rng=rng, rate=rate)

    def tick(self, seconds: float = MARKET_TICK) -> int:
        """One batch: every symbol moves `rate` x `seconds` times (carried over if below 1)."""
        self.carry += self.rate * seconds
        updates, self.carry = int(self.carry), self.carry - int(self.carry)
        if not updates:
            return 0
        readings = market_step(
            self.prices, self.rng, updates=updates, start=timezone.now(), span=seconds
        )
        return ingest(device=self.device, readings=readings)


# --- fleets ------------------------------------------------------------------------------------


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass
class Vehicle:
    """A vehicle driving a closed route of cities, at `along` km from the route's first city."""

    route: list[tuple[float, float]]
    along: float
    speed: float  # km/h

    def position(self) -> tuple[float, float]:
        """Where it is: interpolated on the leg it is driving."""
        legs = list(zip(self.route, self.route[1:] + self.route[:1], strict=True))
        total = sum(_km(a, b) for a, b in legs)
        left = self.along % total
        for a, b in legs:
            length = _km(a, b)
            if left <= length:
                share = left / length if length else 0.0
                return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)
            left -= length
        return self.route[0]


def fleet_routes(count: int, rng: random.Random) -> list[Vehicle]:
    """`count` vehicles, each on a loop of 3 to 5 cities, somewhere along it."""
    names = list(CITIES)
    vehicles = []
    for _ in range(count):
        stops = rng.sample(names, rng.randint(3, 5))
        route = [CITIES[name] for name in stops]
        vehicles.append(
            Vehicle(route=route, along=rng.uniform(0, 2000), speed=rng.uniform(60, 110))
        )
    return vehicles


def fleet_step(vehicles: list[Vehicle], rng: random.Random, *, seconds: float) -> list[list[dict]]:
    """Drive every vehicle for `seconds` (x FLEET_SPEEDUP); each one's lat, lon and speed."""
    out = []
    for vehicle in vehicles:
        vehicle.speed = min(130.0, max(20.0, vehicle.speed + rng.gauss(0, 4)))
        vehicle.along += vehicle.speed * seconds * FLEET_SPEEDUP / 3600
        lat, lon = vehicle.position()
        out.append([
            {"metric": "lat", "value": round(lat, 5)},
            {"metric": "lon", "value": round(lon, 5)},
            {"metric": "speed", "value": round(vehicle.speed, 1)},
        ])  # fmt: skip
    return out


def fleet_devices(*, owner: AbstractBaseUser, count: int = VEHICLE_COUNT) -> list[Device]:
    return [_owned_device(owner, f"{FLEET_PREFIX} {n:02d}") for n in range(1, count + 1)]


@dataclass
class Fleet:
    """A running fleet: one device per vehicle."""

    devices: list[Device]
    vehicles: list[Vehicle]
    rng: random.Random

    @classmethod
    def start(cls, *, devices: list[Device], seed: int = 1) -> "Fleet":
        rng = random.Random(seed)
        return cls(devices=devices, vehicles=fleet_routes(len(devices), rng), rng=rng)

    def tick(self, seconds: float = FLEET_INTERVAL) -> int:
        """Every vehicle reports once; one transaction for the round (one commit, not 50)."""
        now = timezone.now()
        stored = 0
        with transaction.atomic():
            for device, readings in zip(
                self.devices, fleet_step(self.vehicles, self.rng, seconds=seconds), strict=True
            ):
                stored += ingest(device=device, readings=[r | {"ts": iso(now)} for r in readings])
        return stored


# --- in the server (make run) ------------------------------------------------------------------


async def _every(interval: float, what: str, step) -> None:
    """Run `step` (sync, on the database thread) every `interval` seconds; survive failures."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += interval
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            await database_sync_to_async(step)()
        except Exception:
            logger.warning("demo %s failed; trying again", what, exc_info=True)
        due = max(due, loop.time() - interval)  # a slow round is not caught up in a burst


async def run_sources() -> None:
    """The market feed and the fleet, for as long as the server runs."""
    owner = await database_sync_to_async(get_user_model().objects.get)(username="alice")
    device = await database_sync_to_async(market_device)(owner=owner)
    market = Market.open(device=device, rate=DEMO_MARKET_RATE)
    fleet = Fleet.start(devices=await database_sync_to_async(fleet_devices)(owner=owner))
    await asyncio.gather(
        _every(MARKET_TICK, "market", market.tick),
        _every(FLEET_INTERVAL, "fleet", fleet.tick),
    )
