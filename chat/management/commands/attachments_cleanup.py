"""Remove uploads that no message used within the grace period (run it from cron, hourly)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from chat.attachments import attachments_cleanup


class Command(BaseCommand):
    help = "Delete unused uploads older than --older-than seconds, rows and stored files."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.SWITCHBOARD_ATTACHMENT_GRACE_SECONDS,
            help="seconds (default: SWITCHBOARD_ATTACHMENT_GRACE_SECONDS)",
        )

    def handle(self, *args, older_than: int, **options) -> None:
        removed = attachments_cleanup(older_than=timedelta(seconds=older_than))
        self.stdout.write(f"Removed {removed} unused uploads.")
