"""`manage.py mqtt_sync`: apply device key changes the broker missed while it was down."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.mqtt import BrokerError, broker_sync


class Command(BaseCommand):
    help = "Bring the MQTT broker's device clients in line with the database."

    def handle(self, *args, **options) -> None:
        if not settings.SWITCHBOARD_MQTT_URL:
            raise CommandError("Set SWITCHBOARD_MQTT_URL (e.g. mqtt://127.0.0.1:1883).")
        try:
            changed = broker_sync()
        except BrokerError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{changed} device(s) updated on the broker.")
