"""The demo's sources of readings: the server sampler and the simulated sensors.

`manage.py sample_server` and `manage.py simulate_devices` run them as processes of their own;
their readings reach the server's sockets over a shared (Redis) channel layer. `make run` has
the in-memory layer, which a second process cannot reach, so it runs them as tasks of the
server process instead: SWITCHBOARD_DEMO_SOURCES=1 lists `run_sources` in
SWITCHBOARD_SERVER_TASKS, which `python -m realtime.serve` starts with the server.
"""

import asyncio
import logging
import math
import random
import time

import psutil
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from dashboard.models import Device
from dashboard.services import device_create, readings_record
from realtime.services import open_socket_count

logger = logging.getLogger(__name__)

BUILTIN_NAME = "Switchboard server"
DEMO_OWNER = "alice"
SAMPLE_INTERVAL = 2.0
SIMULATE_INTERVAL = 1.0

# device -> [(metric, base, spread)]: a wave of period 2π minutes around base, with some noise.
SENSORS = {
    "Greenhouse": [("temperature", 22.0, 4.0), ("humidity", 55.0, 12.0)],
    "Server room": [("temperature", 19.0, 2.0), ("power.kw", 3.2, 0.8)],
}


def builtin_device() -> Device:
    """The device that stands for this server (created for the first superuser if missing)."""
    device = Device.objects.filter(is_builtin=True).first()
    if device is None:
        owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        device, _ = device_create(owner=owner, name=BUILTIN_NAME, is_builtin=True)
    return device


def sensor_devices(*, owner: AbstractBaseUser) -> dict[str, Device]:
    """The owner's simulated sensors by name, created if missing."""
    devices = {}
    for name in SENSORS:
        device = Device.objects.filter(owner=owner, name=name).first()
        devices[name] = device or device_create(owner=owner, name=name)[0]
    return devices


def sensor_value(
    base: float, spread: float, phase: float, rng: random.Random | None = None
) -> float:
    """A simulated reading: the wave at `phase`, plus noise."""
    return round(base + spread * math.sin(phase) + (rng or random).gauss(0, spread / 8), 2)


def server_sample_record(*, device: Device) -> None:
    """One sample of this host's CPU and memory and the open sockets of every process."""
    now = timezone.now()
    open_sockets = open_socket_count(max_age_seconds=settings.SWITCHBOARD_SOCKET_TTL)
    readings_record(device=device, readings=[
        {"metric": "cpu.percent", "value": psutil.cpu_percent(), "ts": now},
        {"metric": "memory.percent", "value": psutil.virtual_memory().percent, "ts": now},
        {"metric": "sockets.open", "value": float(open_sockets), "ts": now},
    ])  # fmt: skip


def sensors_simulate_record(*, devices: dict[str, Device]) -> None:
    """One round of readings from every simulated sensor, through the ingestion service."""
    now, phase = timezone.now(), time.time() / 60
    for name, metrics in SENSORS.items():
        readings = [
            {"metric": metric, "ts": now, "value": sensor_value(base, spread, phase + i)}
            for i, (metric, base, spread) in enumerate(metrics)
        ]
        readings_record(device=devices[name], readings=readings)


async def _every(interval: float, what: str, step) -> None:
    """Run `step` (sync, on the database thread) every `interval` seconds; survive failures."""
    while True:
        await asyncio.sleep(interval)
        try:
            await database_sync_to_async(step)()
        except Exception:
            # A locked database or a missing demo user costs one round, not the demo.
            logger.warning("demo %s failed; trying again", what, exc_info=True)


async def run_sources() -> None:
    """The sampler and the simulator, for as long as the server runs."""
    server = await database_sync_to_async(builtin_device)()
    owner = await database_sync_to_async(get_user_model().objects.get)(username=DEMO_OWNER)
    sensors = await database_sync_to_async(sensor_devices)(owner=owner)
    psutil.cpu_percent()  # the first call only starts the measurement
    await asyncio.gather(
        _every(SAMPLE_INTERVAL, "sampler", lambda: server_sample_record(device=server)),
        _every(SIMULATE_INTERVAL, "simulator", lambda: sensors_simulate_record(devices=sensors)),
    )
