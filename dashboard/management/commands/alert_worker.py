"""`manage.py alert_worker`: send alert deliveries (webhooks, e-mail) as they fall due."""

import asyncio

from django.core.management.base import BaseCommand

from dashboard.delivery import run_worker


class Command(BaseCommand):
    help = "Send pending alert deliveries, with retries and backoff (Ctrl+C to stop)."

    def handle(self, *args, **options) -> None:
        asyncio.run(run_worker())
