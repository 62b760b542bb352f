"""REST write limits (CONTRACT.md §7: SWITCHBOARD_REST_WRITE_RATE)."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import UserRateThrottle


class WriteRateThrottle(UserRateThrottle):
    """SWITCHBOARD_REST_WRITE_RATE unsafe requests per user (per address when anonymous).

    Counted in the default cache, which is Redis whenever REDIS_URL is set, so the limit holds
    across processes. Reads are not throttled here. DRF answers 429 with Retry-After.
    """

    scope = "writes"

    def get_rate(self) -> str:
        return settings.SWITCHBOARD_REST_WRITE_RATE

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
