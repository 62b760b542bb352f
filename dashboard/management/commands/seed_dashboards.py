"""Demo devices, a dashboard and an alert rule, so a fresh `make run` has charts that move."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.demo import builtin_device, sensor_devices
from dashboard.models import AlertRule, Dashboard
from dashboard.services import dashboard_create
from dashboard.simulators import fleet_devices, market_device, market_symbols

CANDLES = ["aapl", "msft", "nvda"]


class Command(BaseCommand):
    help = "Create the demo devices and the ops, markets and fleet dashboards. Re-runnable."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        alice = get_user_model().objects.get(username="alice")
        server = builtin_device()
        sensors = sensor_devices(owner=alice)
        if not Dashboard.objects.filter(slug="ops").exists():
            dashboard = dashboard_create(
                owner=alice, name="Operations", slug="ops", is_public=True,
                panels=[
                    {"title": "Server CPU", "device": server, "metric": "cpu.percent",
                     "kind": "line", "thresholds": {"warn": 70, "crit": 90}},
                    {"title": "Server memory", "device": server, "metric": "memory.percent",
                     "kind": "gauge", "thresholds": {"warn": 80, "crit": 95}},
                    {"title": "Open sockets", "device": server, "metric": "sockets.open",
                     "kind": "stat"},
                    {"title": "Greenhouse temperature", "device": sensors["Greenhouse"],
                     "metric": "temperature", "kind": "line", "thresholds": {"crit": 25}},
                    {"title": "Greenhouse humidity", "device": sensors["Greenhouse"],
                     "metric": "humidity", "kind": "line"},
                    {"title": "Server room power (kW)", "device": sensors["Server room"],
                     "metric": "power.kw", "kind": "gauge", "thresholds": {"warn": 3.8}},
                ],
            )  # fmt: skip
            AlertRule.objects.create(
                owner=alice, device=sensors["Greenhouse"], metric="temperature", op=">",
                threshold=25, for_seconds=10, dashboard=dashboard,
            )  # fmt: skip
        market = market_device(owner=alice)
        if not Dashboard.objects.filter(slug="markets").exists():
            dashboard_create(
                owner=alice, name="Markets", slug="markets", is_public=True,
                panels=[
                    {"title": "Ticker", "device": market, "kind": "ticker",
                     "metrics": market_symbols()},
                    *({"title": f"{symbol.upper()} candles", "device": market, "metric": symbol,
                       "kind": "candles"} for symbol in CANDLES),
                ],
            )  # fmt: skip
        vehicles = fleet_devices(owner=alice)
        if not Dashboard.objects.filter(slug="fleet").exists():
            dashboard_create(
                owner=alice, name="Fleet", slug="fleet", is_public=True,
                panels=[
                    {"title": "Vehicles", "kind": "map", "devices": vehicles},
                    {"title": f"{vehicles[0].name} speed (km/h)", "device": vehicles[0],
                     "metric": "speed", "kind": "line", "thresholds": {"warn": 120}},
                    {"title": f"{vehicles[1].name} speed (km/h)", "device": vehicles[1],
                     "metric": "speed", "kind": "stat"},
                ],
            )  # fmt: skip
        self.stdout.write(
            self.style.SUCCESS(
                "Dashboards ready: /dashboards/ops/, /dashboards/markets/, /dashboards/fleet/"
            )
        )
