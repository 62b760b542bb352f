"""Demo devices, a dashboard and an alert rule, so a fresh `make run` has charts that move."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.demo import builtin_device, sensor_devices
from dashboard.models import AlertRule, Dashboard
from dashboard.services import dashboard_create


class Command(BaseCommand):
    help = "Create the built-in server device, demo sensors and the 'ops' dashboard. Re-runnable."

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
        self.stdout.write(self.style.SUCCESS("Dashboards ready: /dashboards/ops/"))
