"""The trusted proxy rule (realtime.proxy): X-Forwarded-For and X-Forwarded-Proto are believed
from the listed proxies only, for HTTP and WebSockets alike (issue 12, finding 11)."""

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from config.asgi import application
from realtime.proxy import TrustedProxyMiddleware, resolve_client, trusted_networks

pytestmark = pytest.mark.django_db


def http_scope(peer: str, headers: dict[str, str], path: str = "/metrics") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": (peer, 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
    }  # fmt: skip


async def get_status(peer: str, **headers: str) -> int:
    """GET /metrics through the project's whole ASGI application, as Daphne would call it."""
    scope = http_scope(peer, {k.replace("_", "-"): v for k, v in headers.items()})
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(10)
    await app.wait(10)
    return start["status"]


async def test_a_forged_forwarded_for_does_not_reach_metrics(settings):
    settings.SWITCHBOARD_TRUSTED_PROXIES = []
    assert await get_status("127.0.0.1") == 200
    assert await get_status("203.0.113.9") == 403
    assert await get_status("203.0.113.9", X_Forwarded_For="127.0.0.1") == 403


async def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(settings):
    settings.SWITCHBOARD_TRUSTED_PROXIES = ["127.0.0.1"]
    # nginx on the same host: the peer is loopback, the client is who nginx names.
    assert await get_status("127.0.0.1", X_Forwarded_For="198.51.100.7") == 403
    # The client's own leftmost entry proves nothing.
    assert await get_status("127.0.0.1", X_Forwarded_For="127.0.0.1, 198.51.100.7") == 403
    assert await get_status("127.0.0.1") == 200  # the proxy host itself, unproxied


def test_the_rightmost_untrusted_hop_is_the_client():
    networks = trusted_networks(("10.0.0.0/8", "::1"))
    chain = ["127.0.0.1, 198.51.100.7", "10.0.0.3, 10.0.0.2"]
    assert resolve_client("10.0.0.1", chain, networks) == "198.51.100.7"
    assert resolve_client("::1", ["2001:db8::5"], networks) == "2001:db8::5"
    assert resolve_client("::ffff:10.0.0.1", ["198.51.100.8"], networks) == "198.51.100.8"
    assert resolve_client("10.0.0.1", ["10.0.0.3, 10.0.0.2"], networks) == "10.0.0.3"
    assert resolve_client("10.0.0.1", ["198.51.100.7, not-an-address"], networks) is None
    assert resolve_client("198.51.100.9", ["198.51.100.7"], networks) is None  # not a proxy


async def captured_scope(scope: dict) -> dict:
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    await TrustedProxyMiddleware(inner)(scope, None, None)
    return seen


@pytest.mark.parametrize("kind, secure", [("http", "https"), ("websocket", "wss")])
async def test_the_scheme_is_the_proxys_and_the_headers_are_consumed(settings, kind, secure):
    settings.SWITCHBOARD_TRUSTED_PROXIES = ["10.0.0.0/8"]
    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    trusted = await captured_scope({**http_scope("10.1.2.3", forwarded), "type": kind})
    assert (trusted["client"][0], trusted["scheme"]) == ("198.51.100.7", secure)
    untrusted = await captured_scope({**http_scope("203.0.113.9", forwarded), "type": kind})
    assert (untrusted["client"][0], untrusted["scheme"]) == ("203.0.113.9", "http")
    for scope in (trusted, untrusted):
        names = {name for name, _ in scope["headers"]}
        assert not names & {b"x-forwarded-for", b"x-forwarded-proto"}


def test_a_malformed_trusted_proxy_entry_stops_the_start(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SWITCHBOARD_TRUSTED_PROXIES = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="SWITCHBOARD_TRUSTED_PROXIES"):
        TrustedProxyMiddleware(application)


def test_the_login_lockout_counts_the_resolved_address_not_a_header(user, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            "/accounts/login/",
            {"username": f"guess{i}", "password": "wrong"},
            REMOTE_ADDR="10.6.6.6",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
    again = Client().post(
        "/accounts/login/",
        {"username": "alice", "password": "pw-Switchboard-1"},
        REMOTE_ADDR="10.6.6.6",
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )
    assert again.status_code == 429
