"""Retention: keep raw readings for --raw-days, fold older ones into min/avg/max buckets."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from dashboard.services import readings_downsample


class Command(BaseCommand):
    help = "Fold readings older than --raw-days into --bucket-second rollups (run it daily)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--raw-days", type=float, default=7.0)
        parser.add_argument("--bucket", type=int, default=60, help="rollup bucket in seconds")

    def handle(self, *args, raw_days: float, bucket: int, **options) -> None:
        folded = readings_downsample(older_than=timedelta(days=raw_days), bucket_seconds=bucket)
        self.stdout.write(f"Folded {folded} raw readings into {bucket}-second buckets.")
