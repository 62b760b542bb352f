"""The one way a WebSocket is authenticated, and the Origin rule that depends on how.

Browsers authenticate with the session cookie, so their sockets must carry an allowed Origin
(cross-site WebSocket hijacking rides on cookies). Scripts and devices authenticate with an
`Authorization` header, which a foreign page cannot make a browser send, so they may omit
Origin. Credentials in the query string are never read.
"""

import asyncio
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
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
    """Sets scope["cookies"], scope["session"], scope["user"] and scope["auth"] ("session" or
    "header").

    It does what Channels' CookieMiddleware, SessionMiddleware and AuthMiddleware do for a
    socket, in one layer: each of those copies the scope and stays on the stack for the
    socket's life, and SessionMiddleware's `send` wrapper adds a step to every frame sent
    (it saves sessions on HTTP responses only). A socket that changes its session saves it
    itself, as with Channels."""

    def __init__(self, app) -> None:
        self.app = app
        self.session_store = keeping_expiry(import_module(settings.SESSION_ENGINE).SessionStore)

    async def __call__(self, scope, receive, send):
        # Filled in place: the server makes a scope per connection (TrustedProxyMiddleware
        # has copied it already), and a socket holds every copy on its stack for its life.
        cookies = parse_cookie(header(scope, b"cookie") or "")
        scope["cookies"] = cookies
        scope["session"] = self.session_store(cookies.get(settings.SESSION_COOKIE_NAME))
        authorization = header(scope, b"authorization")
        try:
            if authorization is not None:
                # Header schemes (Bearer JWT, Api-Key) are resolved here; an unknown or invalid
                # header never falls back to the cookie, so a script's mistake is not masked.
                user, device, expires_at = await database_sync_to_async(authenticate_header)(
                    authorization
                )
                scope.update(user=user, device=device, auth=HEADER, auth_expires_at=expires_at)
            else:
                user = _sessions.user(scope["session"].session_key)
                if user is None:
                    user = await _sessions.load(scope)
                scope.update(user=user, auth=SESSION)
            return await self.app(scope, receive, send)
        finally:
            _sessions.settled(scope)  # however the socket ended: refused, cancelled, failed


def keeping_expiry(store_class: type) -> type:
    """The session engine's store, keeping the expiry that the database holds for a session it
    reads (`get_expiry_date()` answers "read time + SESSION_COOKIE_AGE" for a session that set
    none of its own). Stores that do not read the database are left as they are."""
    if not hasattr(store_class, "_get_session_from_db"):
        return store_class

    class Store(store_class):
        # Django signs session data with a salt made of the store's class name: the engine's.
        __qualname__ = store_class.__qualname__
        stored_expiry = None

        def _get_session_from_db(self):
            stored = super()._get_session_from_db()
            self.stored_expiry = stored.expire_date if stored is not None else None
            return stored

    return Store


def session_expiry(session) -> float:
    """When a session that was read ends (epoch seconds)."""
    stored = getattr(session, "stored_expiry", None)
    return (stored or session.get_expiry_date()).timestamp()


# How long a session's read serves its other sockets while the socket that read it has not yet
# connected (about one handshake under load); past it they read the session again.
SHARED_READ_SECONDS = 2.0


@dataclass(eq=False, slots=True)
class OpenSession:
    key: str
    user: Any
    expires_at: float  # epoch seconds: the session's own expiry
    holders: int = 0  # open sockets counted in it
    # The session object (one per socket, shared by its scope's copies) whose read made the
    # entry, until that socket has connected or ended.
    reader: Any = None
    read_at: float = 0.0  # time.monotonic() of that read


class OpenSessions:
    """The sessions of this process's open sockets: session key -> user, so that a user's next
    tab (or the reconnect of all of them after a restart) skips the session and user queries.

    An entry lives while a socket of that session is open here, and that socket hears on its
    user's group every event that ends a session (realtime.sessions: logout, a new password,
    deactivation), which drops the entry (`forget`). So a connect can miss a session's end only
    for the moment the socket already open on that session misses it too.

    An entry is made by the read itself, and until the socket that read it has connected (or
    ended: `settled`), it serves the session's other sockets too for up to SHARED_READ_SECONDS,
    as that read is as fresh for them as for it. A browser's tabs, or a restarted process's
    clients, connect within one handshake of each other: before that they each read the
    session again. A session past its expiry is never served from here."""

    def __init__(self) -> None:
        self.entries: dict[str, OpenSession] = {}
        self.loading: dict[str, asyncio.Future] = {}  # session key -> its read under way
        # Moves on every `forget`: a read begun before an end was heard may have seen the
        # session before it ended, so it makes no entry (it serves its own socket only).
        self.generation = 0
        self.resync = None  # the number of the last RESYNC that emptied the entries

    async def load(self, scope) -> Any:
        """The session's user from the database (Channels' get_user). A browser's tabs (or a
        restarted process's clients) connect together: one read serves those at once."""
        key = scope["session"].session_key
        if not key:
            return await get_user(scope)
        pending = self.loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)  # one socket given up must not fail the others
        generation = scope["session_read_generation"] = self.generation
        pending = self.loading[key] = asyncio.ensure_future(get_user(scope))
        pending.add_done_callback(lambda _: self.loading.pop(key, None))
        user = await asyncio.shield(pending)
        # Only the socket that read it gets here, and not once cancelled: the auth layer
        # settles the entry however that socket ends.
        if user.is_authenticated and key not in self.entries and generation == self.generation:
            expires_at = session_expiry(scope["session"])
            reader = scope["session"]
            self.entries[key] = OpenSession(key, user, expires_at, 0, reader, time.monotonic())
        return user

    def user(self, session_key: str | None) -> Any:
        entry = self.entries.get(session_key) if session_key else None
        if entry is None or entry.expires_at <= time.time():
            return None
        if not entry.holders and time.monotonic() - entry.read_at > SHARED_READ_SECONDS:
            del self.entries[entry.key]  # its reader is still connecting: read it again
            return None
        return entry.user

    def hold(self, scope) -> OpenSession | None:
        """A socket opened on its session (called once it hears its user's group): the entry
        it is now counted in, to `release` when it closes (None if not counted)."""
        session = scope.get("session")
        key = session.session_key if session is not None else None
        if scope.get("auth") != SESSION or not key or not scope["user"].is_authenticated:
            return None
        entry = self.entries.get(key)
        if entry is None:
            if scope.get("session_read_generation") != self.generation:
                # Served from an entry forgotten since, or read before an end was heard
                # (its socket heard it too, if it applies): not kept.
                return None
            entry = self.entries[key] = OpenSession(key, scope["user"], session_expiry(session))
        if entry.reader is session:
            entry.reader = None
        entry.holders += 1
        return entry

    def settled(self, scope) -> None:
        """The socket that read a session has connected or ended: from now on its entry lives
        only while sockets hold it."""
        session = scope.get("session")
        key = session.session_key if session is not None else None
        entry = self.entries.get(key) if key else None
        if entry is not None and entry.reader is session:
            entry.reader = None
            if not entry.holders:
                del self.entries[key]

    def release(self, entry: OpenSession) -> None:
        entry.holders -= 1
        if entry.holders <= 0 and entry.reader is None and self.entries.get(entry.key) is entry:
            del self.entries[entry.key]

    def forget_all(self, resync: int | None = None) -> None:
        """The layer may have lost ends of sessions (realtime.hub's RESYNC, numbered: every
        socket hears it, the first empties the entries): each session is read again."""
        if resync is not None and resync == self.resync:
            return
        self.resync = resync
        self.generation += 1
        self.entries.clear()

    def forget(self, user_id: int, session_key: str | None) -> None:
        """A session (or, with None, every session) of the user ended."""
        self.generation += 1
        for key, entry in list(self.entries.items()):
            if entry.user.pk == user_id and session_key in (None, key):
                del self.entries[key]


_sessions = OpenSessions()


def open_sessions() -> OpenSessions:
    return _sessions


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
    """Cookies, session and credentials, then the Origin rule, then the consumer."""
    return SocketAuthMiddleware(SocketOriginValidator(inner, allowed_origins()))
