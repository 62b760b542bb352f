"""Users logged in the way a browser does it, through the real login page, and the room."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

PASSWORD = "pw-Switchboard-1"
ROOM = "bench"


@dataclass
class Accounts:
    """`Cookie` header values for the publisher and subscriber users, made once, used by both
    systems (the tutorial app reads the same session table)."""

    publishers: list[str] = field(default_factory=list)
    subscribers: list[str] = field(default_factory=list)

    @staticmethod
    def usernames(publishers: int, subscribers: int) -> tuple[list[str], list[str]]:
        return (
            [f"bench-pub-{i}" for i in range(publishers)],
            [f"bench-sub-{i}" for i in range(subscribers)],
        )

    async def prepare(self, http: str, publishers: list[str], subscribers: list[str]) -> None:
        """Log everyone in at `http` and create the room as the first publisher."""
        gate = asyncio.Semaphore(8)

        async def one(username: str) -> httpx.AsyncClient:
            async with gate:
                return await login(http, username)

        results = await asyncio.gather(
            *(one(u) for u in [*publishers, *subscribers]), return_exceptions=True
        )
        clients = [r for r in results if isinstance(r, httpx.AsyncClient)]
        try:
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            await create_room(clients[0], http)
            cookies = [f"sessionid={c.cookies['sessionid']}" for c in clients]
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        self.publishers = cookies[: len(publishers)]
        self.subscribers = cookies[len(publishers) :]


async def login(http: str, username: str) -> httpx.AsyncClient:
    """GET /accounts/login/ for the CSRF cookie, then POST the form (with Referer)."""
    client = httpx.AsyncClient(base_url=http, trust_env=False, timeout=30)
    try:
        (await client.get("/accounts/login/")).raise_for_status()
        response = await client.post(
            "/accounts/login/",
            data={
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
                "username": username,
                "password": PASSWORD,
            },
            headers={"Referer": f"{http}/accounts/login/"},
        )
        if response.status_code != 302 or "sessionid" not in client.cookies:
            raise RuntimeError(f"login of {username} failed: HTTP {response.status_code}")
    except BaseException:
        await client.aclose()
        raise
    return client


async def create_room(client: httpx.AsyncClient, http: str) -> None:
    """POST /api/rooms/ with the session and the CSRF header, as the room page's script does."""
    response = await client.post(
        "/api/rooms/",
        json={"name": "Bench", "slug": ROOM},
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{http}/"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/rooms/ -> {response.status_code}: {response.text[:300]}")
