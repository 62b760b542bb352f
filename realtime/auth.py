"""The one way a WebSocket is authenticated, and the Origin rule that depends on how.

Browsers authenticate with the session cookie, so their sockets must carry an allowed Origin
(cross-site WebSocket hijacking rides on cookies). Scripts and devices authenticate with an
`Authorization` header, which a foreign page cannot make a browser send, so they may omit
Origin. Credentials in the query string are never read.
"""

from typing import Any
from urllib.parse import urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from dashboard.services import device_authenticate
from realtime import credentials

SESSION = "session"
HEADER = "header"


def header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


class SocketAuthMiddleware:
    """Sets scope["user"] and scope["auth"] ("session" or "header")."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        authorization = header(scope, b"authorization")
        if authorization is not None:
            # Header schemes (Bearer JWT, Api-Key) are resolved here; an unknown or invalid
            # header never falls back to the cookie, so a script's mistake is not masked.
            user, device, expires_at = await database_sync_to_async(authenticate_header)(
                authorization
            )
            scope = {
                **scope, "user": user, "device": device, "auth": HEADER,
                "auth_expires_at": expires_at,
            }  # fmt: skip
        else:
            scope = {**scope, "user": await get_user(scope), "auth": SESSION}
        return await self.app(scope, receive, send)


def authenticate_header(authorization: str) -> tuple[Any, Any, float | None]:
    """Resolve an Authorization header to (user, device, expiry); anonymous if not valid.

    Bearer tokens go through simplejwt's JWTAuthentication and API keys through the device
    check, the same ones the REST API uses. A device socket's user is the device's owner.
    """
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme == "Bearer" and credential:
        jwt = JWTAuthentication()
        try:
            token = jwt.get_validated_token(credential.encode())
            user = jwt.get_user(token)
        except (InvalidToken, AuthenticationFailed):
            return AnonymousUser(), None, None
        return user, None, float(token["exp"])
    if scheme == "Api-Key" and credential:
        device = device_authenticate(key=credential)
        if device is not None:
            return device.owner, device, None
    return AnonymousUser(), None, None


def credential_kind(scope) -> str:
    """Which kind of credential opened this socket (realtime.credentials says what it reaches)."""
    if scope.get("device") is not None:
        return credentials.DEVICE_KEY
    return credentials.JWT if scope.get("auth") == HEADER else credentials.SESSION


class SocketOriginValidator(OriginValidator):
    """Channels' origin matching, applied per the contract's rule for each kind of socket."""

    async def __call__(self, scope, receive, send):
        raw = header(scope, b"origin")
        if raw is None and scope.get("auth") == HEADER:
            return await self.application(scope, receive, send)
        parsed = urlparse(raw) if raw is not None else None
        if self.valid_origin(parsed):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def allowed_origins() -> list[str]:
    if settings.SWITCHBOARD_ALLOWED_ORIGINS:
        return list(settings.SWITCHBOARD_ALLOWED_ORIGINS)
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


def SocketAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    """Cookies and session, then credentials, then the Origin rule, then the consumer."""
    return CookieMiddleware(
        SessionMiddleware(SocketAuthMiddleware(SocketOriginValidator(inner, allowed_origins())))
    )
