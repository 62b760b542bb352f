"""A reconnect storm (issue 17): 500 sockets over two processes, one process killed with
`kill -9` and started again while a sender keeps sending. Every client comes back with the
browser's own backoff and jitter and resumes: nothing lost, nothing twice, no 5xx.

`bench/storm.py` runs the same storm at 10,000 sockets and draws its curve; this is the
behaviour at a size `make test` can afford.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from tests.integration.test_resilience import assert_same_as_history
from tests.support.clients import Rest
from tests.support.transports import ResumingChat, all_reach, browser_backoff

pytestmark = pytest.mark.integration

SOCKETS, USERS, ROOMS = 500, 50, 10  # 10 sockets a user: with the dead ones, under the cap
SEND_INTERVAL = 0.2  # the sender's 5 messages a second
BACK_WITHIN = 20  # seconds from the kill until every socket has resumed


async def test_500_sockets_come_back_after_a_process_is_killed_and_lose_nothing(own_stack):
    stack = own_stack
    one, two = stack.servers
    accounts = await stack.login(USERS)
    sender_account = accounts[0]
    async with Rest(two, sender_account) as rest:
        slugs = [(await rest.create_room())["slug"] for _ in range(ROOMS)]
        rng = random.Random(17)
        clients = [
            ResumingChat(
                [one, two] if n % 2 == 0 else [two, one],
                accounts[n % USERS],
                slugs[n % ROOMS],
                rng=random.Random(rng.random()),
                backoff=browser_backoff,
            )
            for n in range(SOCKETS)
        ]
        for start in range(0, SOCKETS, 50):
            await asyncio.gather(*(c.open() for c in clients[start : start + 50]))
        on_one = [c for c in clients if c.servers[c.next_server % 2] is one]
        assert len(on_one) == SOCKETS // 2

        sent: list[tuple[str, str]] = []  # (slug, client_id) of every message the sender posts

        async def keep_sending(stop: asyncio.Event) -> None:
            n = 0
            while not stop.is_set():
                slug, client_id = slugs[n % ROOMS], str(uuid.uuid4())
                response = await rest.client.post(
                    f"/api/rooms/{slug}/messages/", json={"body": f"m{n}", "client_id": client_id}
                )
                assert response.status_code == 201, (response.status_code, response.text)
                sent.append((slug, client_id))
                n += 1
                await asyncio.sleep(SEND_INTERVAL)  # noqa: sleep-ok the sender's pace

        stop = asyncio.Event()
        sending = asyncio.create_task(keep_sending(stop))
        try:
            loop = asyncio.get_running_loop()
            resumes_before = {id(c): len(c.resumed_at) for c in on_one}
            killed_at = loop.time()
            one.kill()  # SIGKILL: no close frames, no cleanup
            one.start()  # a supervisor brings it back on the same port

            def back(client: ResumingChat) -> bool:
                return len(client.resumed_at) > resumes_before[id(client)] and client.live

            await asyncio.gather(
                *(c.view.until(lambda c=c: back(c), BACK_WITHIN * 2, "resumed") for c in on_one)
            )
            slowest = max(c.resumed_at[-1] for c in on_one) - killed_at
            stop.set()
            await sending
            last = {slug: (await rest.post_message(slug, "the last"))["seq"] for slug in slugs}
            for slug in slugs:
                await all_reach([c for c in clients if c.slug == slug], last[slug], within=30)
        finally:
            stop.set()
            await asyncio.gather(*(c.stop() for c in clients))
        histories = {slug: await rest.history(slug) for slug in slugs}

    assert slowest < BACK_WITHIN, f"the last socket resumed {slowest:.1f}s after the kill"
    for slug, history in histories.items():
        assert_same_as_history([c for c in clients if c.slug == slug], history)
        stored = [m["client_id"] for m in history if m["client_id"]]
        assert stored == [client_id for s, client_id in sent if s == slug]
    refusals = [e for c in clients for e in c.failed_connects if "HTTP 5" in e]
    assert refusals == [], refusals[:5]
