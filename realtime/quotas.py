"""Rate limits as the transports answer them: one limiter (realtime.store), one refusal.

A socket answers a refusal with the `rate_limited` error frame (LiveConsumer.refuse_for_rate);
an HTTP path raises `RateLimited`, which the API's exception handler turns into 429 with
`Retry-After`. Both count in the same windows, so a user's sends over REST and over sockets
share one budget, as do a device's batches over REST and over its socket.
"""

from limits import parse_many

from realtime.errors import DomainError
from realtime.store import rate_allows_sync


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def require_rate_sync(rates: str, *identifiers: str, detail: str = "Too many requests.") -> None:
    """Count one hit; raise RateLimited (429, Retry-After: the shortest window) if over."""
    if not rate_allows_sync(rates, *identifiers):
        window = min(item.get_expiry() for item in parse_many(rates))
        raise RateLimited(detail + " Slow down.", retry_after=window)
