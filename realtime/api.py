"""What every DRF view of the project shares: domain errors as 4xx, and DRF's own auth."""

from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from realtime.errors import DomainError

# Redis holds the throttles' counts, rate limits and presence: while it is unreachable, a
# request is answered with a clear, retryable refusal (a send is then retried with the same
# client_id, which stores it once), never Django's HTML 500.
RETRY_AFTER_SECONDS = 2


def exception_handler(exc, context):
    """Map a DomainError to its status, with the contract's code and a readable reason."""
    if isinstance(exc, DomainError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response({"code": exc.code, "detail": exc.detail}, status=exc.status,
                        headers=headers)  # fmt: skip
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Response(
            {"code": "unavailable", "detail": "The server is briefly unavailable; try again."},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)


@method_decorator(login_not_required, name="dispatch")
class Api(APIView):
    """Base for API views: DRF authenticates and answers 401/403 itself, no login redirect."""

    # Input is validated by the serializers each method names in its extend_schema.
    serializer_class = None
