"""Who the client is, on real Daphne processes and the shipped nginx config (issue 12, finding 11).

A client that writes its own X-Forwarded-For or X-Forwarded-Proto gets nothing by it: not past
the per-address login lockout, not past the per-address socket cap, not into /metrics, not
treated as HTTPS. Behind a trusted proxy (SWITCHBOARD_TRUSTED_PROXIES) the address the proxy
forwards is the client, for HTTP and WebSockets alike, and nginx overwrites what a client sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import start_daphnes
from tests.integration.test_nginx import Nginx
from tests.support import procs
from tests.support.clients import PASSWORD, ChatClient, Rest, connect_chat, login

pytestmark = pytest.mark.integration

_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Daphne options of the servers under test: the deploy config's run command (none of note).
DAPHNE_OPTIONS: tuple[str, ...] = ()
FAILURES = 5  # AXES_FAILURE_LIMIT's default
METRICS_CLIENT = "203.0.113.5"  # the one address /metrics answers on the `direct` server
ANONYMOUS_WRITES = 3  # the `direct` server's REST write rate, per minute


@dataclass
class Site:
    env: dict[str, str]
    direct: procs.DaphneProcess  # nothing in front, no trusted proxy
    secure: procs.DaphneProcess  # the production settings, nothing in front
    behind: procs.DaphneProcess  # trusts 127.0.0.1, where nginx runs
    nginx: Nginx


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with procs.RedisServer() as redis, procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database, redis_url=redis.url)
        procs.create_users(env, "proxied", "other")
        cap = {"SWITCHBOARD_MAX_SOCKETS_PER_IP": "2"}
        [direct] = start_daphnes(
            {
                **env, **cap, "SWITCHBOARD_METRICS_ALLOW": METRICS_CLIENT,
                "SWITCHBOARD_REST_WRITE_RATE": f"{ANONYMOUS_WRITES}/min",
            },
            1, *DAPHNE_OPTIONS,
        )  # fmt: skip
        production = {
            **env,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "k3y-" + "q8Zr2vLx9Tn4Wm7Pb1Yc6Hd0Fs5Gj3Ka" * 2,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
        [secure] = start_daphnes(production, 1, *DAPHNE_OPTIONS)
        [behind] = start_daphnes(
            {**env, **cap, "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1"}, 1, *DAPHNE_OPTIONS
        )
        try:
            with Nginx([behind.port]) as nginx:
                yield Site(env, direct, secure, behind, nginx)
        finally:
            for server in (direct, secure, behind):
                server.stop()


@pytest.fixture
def locks_out(site: Site) -> Iterator[None]:
    """For a test that locks an address out: the failed logins it recorded are cleared after
    it, so that the next test (they share the database) can log in."""
    yield
    procs.manage(site.env, "axes_reset")


async def attempt_login(base: str, username: str, password: str, forwarded_for: str) -> int:
    """One login through the form, with an X-Forwarded-For of the client's choosing."""
    headers = {"X-Forwarded-For": forwarded_for}
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        page = await client.get("/accounts/login/", headers=headers)
        token = _CSRF_FIELD.search(page.text).group(1)
        done = await client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={**headers, "Referer": f"{base}/accounts/login/"},
        )
        return done.status_code


async def lock_out(base: str, forwarded_for: str | None = None) -> None:
    """AXES_FAILURE_LIMIT failed logins, each under another name, each "from" another address
    unless `forwarded_for` is given."""
    for i in range(FAILURES):
        status = await attempt_login(
            base, f"guess{i}", "wrong", forwarded_for or f"198.51.100.{i + 1}"
        )
        assert status in (200, 429)


@pytest.mark.usefixtures("locks_out")
async def test_a_forged_forwarded_for_does_not_escape_the_address_lockout(site):
    await lock_out(site.direct.http)
    status = await attempt_login(site.direct.http, "proxied", PASSWORD, "198.51.100.99")
    assert status == 429


async def test_a_forged_forwarded_for_does_not_reach_metrics(site):
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        forged = await http.get(
            f"{site.direct.http}/metrics", headers={"X-Forwarded-For": METRICS_CLIENT}
        )
    assert forged.status_code == 403


async def test_a_forged_forwarded_for_does_not_escape_the_socket_cap(site):
    account = await login(site.direct.http, "proxied")
    async with Rest(site.direct, account) as rest:
        room = await rest.create_room(name="Capped")
    opened = [
        await ChatClient.open(site.direct, account, room["slug"], headers=forged(i)) for i in (1, 2)
    ]
    with pytest.raises(InvalidStatus) as refused:
        await connect_chat(site.direct, account, room["slug"], headers=forged(3))
    assert refused.value.response.status_code == 403
    for client in opened:
        await client.close()


def forged(last: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{last}"}


async def test_a_forged_forwarded_for_does_not_escape_the_anonymous_write_rate(site):
    """DRF counts an anonymous caller's writes (token requests: password guesses) by address,
    and would read that address from X-Forwarded-For if the header reached it."""
    async with httpx.AsyncClient(base_url=site.direct.http, trust_env=False, timeout=30) as http:
        statuses = [
            (
                await http.post(
                    "/api/auth/token/",
                    json={"username": "proxied", "password": f"guess-{i}"},
                    headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
                )
            ).status_code
            for i in range(ANONYMOUS_WRITES + 1)
        ]
    assert statuses[-1] == 429, statuses


async def test_a_forged_forwarded_proto_is_not_https(site):
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        response = await http.get(
            f"{site.secure.http}/accounts/login/", headers={"X-Forwarded-Proto": "https"}
        )
    assert response.status_code == 301  # still plain HTTP: redirected to HTTPS
    assert response.headers["Location"].startswith("https://")


@pytest.mark.usefixtures("locks_out")
async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(site):
    base = site.behind.http  # the test's own address, 127.0.0.1, is the trusted proxy
    await lock_out(base, forwarded_for="198.51.100.1")
    assert await attempt_login(base, "proxied", PASSWORD, "198.51.100.1") == 429
    assert await attempt_login(base, "proxied", PASSWORD, "198.51.100.2") == 302


async def test_behind_a_trusted_proxy_sockets_count_against_the_forwarded_address(site):
    account = await login(site.behind.http, "other")
    async with Rest(site.behind, account) as rest:
        room = await rest.create_room(name="Forwarded")

    opened = [
        await ChatClient.open(site.behind, account, room["slug"], headers=forged(1))
        for _ in range(2)
    ]
    with pytest.raises(InvalidStatus):
        await connect_chat(site.behind, account, room["slug"], headers=forged(1))
    opened.append(await ChatClient.open(site.behind, account, room["slug"], headers=forged(2)))
    for client in opened:
        await client.close()


@pytest.mark.usefixtures("locks_out")
async def test_nginx_overwrites_a_forwarded_for_the_client_wrote(site):
    """The client is the test itself (127.0.0.1); whatever it claims, nginx says 127.0.0.1, so
    every failure counts against its one real address."""
    await lock_out(site.nginx.http)
    assert await attempt_login(site.nginx.http, "proxied", PASSWORD, "198.51.100.99") == 429
