"""Who the client is, decided once for HTTP and WebSockets: the trusted proxy rule.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only from a peer listed in
SWITCHBOARD_TRUSTED_PROXIES (addresses or CIDR networks, default none). Then the client is the
rightmost X-Forwarded-For address that is not itself a trusted proxy (everything to its left
was written by the client and proves nothing), and the scheme is the proxy's X-Forwarded-Proto.
Otherwise both headers are ignored. Either way they are removed from the scope, so nothing
downstream (DRF's throttle identity, ipware, a future SECURE_PROXY_SSL_HEADER) can read them
as the client wrote them. Everything that asks for the client address (REMOTE_ADDR, the login
lockout, the per-address socket cap, /metrics' allow-list) sees the resolved one.

Daphne's own `--proxy-headers` believes the leftmost X-Forwarded-For from anyone: do not use it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"
SCHEMES = {
    "http": {"http": "http", "https": "https"},
    "websocket": {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"},
}


@functools.lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The setting's entries as networks; a malformed entry stops the process from starting."""
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as error:
        raise ImproperlyConfigured(f"SWITCHBOARD_TRUSTED_PROXIES: {error}") from error


@functools.lru_cache(maxsize=4096)  # every connect asks about its peer (and hops) again
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(text: str, networks: Iterable[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def resolve_client(
    peer: str, forwarded_for: list[str], networks: tuple[Network, ...]
) -> str | None:
    """The client's address behind the trusted proxies, or None to keep the peer's."""
    if not _trusted(peer, networks):
        return None
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = None
    for hop in reversed(hops):
        if _address(hop) is None:
            break  # garbage written by a client beyond the proxies: stop believing
        client = hop
        if not _trusted(hop, networks):
            break
    return client.strip("[]") if client is not None else None


class TrustedProxyMiddleware:
    """ASGI middleware around the whole application: resolves scope["client"] and "scheme"."""

    def __init__(self, app: Any) -> None:
        self.app = app
        trusted_networks(tuple(settings.SWITCHBOARD_TRUSTED_PROXIES))  # a bad entry fails here

    async def __call__(self, scope, receive, send):
        if scope["type"] in SCHEMES:
            scope = self.resolve(scope)
        return await self.app(scope, receive, send)

    @staticmethod
    def resolve(scope: dict[str, Any]) -> dict[str, Any]:
        networks = trusted_networks(tuple(settings.SWITCHBOARD_TRUSTED_PROXIES))
        headers = scope.get("headers") or []
        forwarded_for = [v.decode("latin1") for k, v in headers if k == FORWARDED_FOR]
        protos = [v.decode("latin1") for k, v in headers if k == FORWARDED_PROTO]
        scope = dict(scope)
        if forwarded_for or protos:
            # Only then a list of its own: a socket's scope lives as long as the socket.
            scope["headers"] = [
                (k, v) for k, v in headers if k not in (FORWARDED_FOR, FORWARDED_PROTO)
            ]
        peer = (scope.get("client") or (None, 0))[0]
        if peer is None or not _trusted(peer, networks):
            return scope
        client = resolve_client(peer, forwarded_for, networks)
        if client is not None:
            scope["client"] = (client, 0)
        if protos:
            # The last value is the nearest proxy's; each hop that appends writes its own.
            proto = protos[-1].rsplit(",", 1)[-1].strip().lower()
            scheme = SCHEMES[scope["type"]].get(proto)
            if scheme is not None:
                scope["scheme"] = scheme
        return scope


def client_address(request: HttpRequest) -> str | None:
    """The client's address as TrustedProxyMiddleware resolved it (django-axes asks this)."""
    return request.META.get("REMOTE_ADDR") or None
