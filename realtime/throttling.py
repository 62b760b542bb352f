"""REST write limits (CONTRACT.md §7: SWITCHBOARD_REST_WRITE_RATE), counted by the one limiter."""

from django.conf import settings
from limits import parse
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from realtime.store import rate_allows_sync

_PERIODS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def drf_rate(rate: str) -> str:
    """DRF's rate syntax ("120/min", "5/s") in the limiter's ("120/minute")."""
    count, _, period = rate.partition("/")
    return f"{int(count)}/{_PERIODS[period.strip()[0]]}"


class WriteRateThrottle(BaseThrottle):
    """SWITCHBOARD_REST_WRITE_RATE unsafe requests per user (per address when anonymous).

    Counted by realtime.store's limiter, in Redis whenever Redis is configured, so the limit
    holds across processes. Reads are not throttled here. DRF answers 429 with Retry-After.
    """

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        if user and user.is_authenticated:
            who = f"user:{user.pk}"
        else:
            who = f"ip:{self.get_ident(request)}"
        rate = drf_rate(settings.SWITCHBOARD_REST_WRITE_RATE)
        self.window = parse(rate).get_expiry()
        return rate_allows_sync(rate, "rest-writes", who)

    def wait(self) -> float:
        return self.window
