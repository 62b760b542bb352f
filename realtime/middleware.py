"""A request id on every HTTP request: in the logs (structlog contextvars) and the response."""

import re
import uuid

import structlog
from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

_CLEAN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id(request) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _CLEAN.match(given) else uuid.uuid4().hex


def _bind(request) -> str:
    # Left bound, not unbound on the way out: Django logs 4xx/5xx responses after the
    # middleware chain returns. Each ASGI request runs in a context of its own, and the next
    # request in a thread binds its own id over this one.
    request_id = _request_id(request)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


@sync_and_async_middleware
def request_id_middleware(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request):
            request_id = _bind(request)
            response = await get_response(request)
            response["X-Request-ID"] = request_id
            return response

    else:

        def middleware(request):
            request_id = _bind(request)
            response = get_response(request)
            response["X-Request-ID"] = request_id
            return response

    return middleware
