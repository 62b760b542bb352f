"""The presence store answers a room's online members only when the caller does not hold them
already (realtime.store): on a real redis-server, and in memory for the single process."""

import asyncio

import pytest

from config.redis_options import RedisTarget
from realtime import presence
from realtime.store import NOT_KNOWN, MemoryZStore, Opening, RedisZStore
from tests.support import procs


@pytest.fixture(scope="module")
def redis_url():
    with procs.RedisServer() as redis:
        yield redis.url


@pytest.fixture(params=["redis", "memory"])
async def store(request):
    if request.param == "memory":
        yield MemoryZStore()
        return
    store = RedisZStore(RedisTarget(url=request.getfixturevalue("redis_url")))
    await store.redis.flushdb()
    yield store
    await store.redis.aclose()


ROOM = ("sb:presence:room:1", "sb:presence:room:1:user:{}", "sb:presence:room:1:version")


def keys(user_id: int) -> tuple[str, str, str]:
    return ROOM[0], ROOM[1].format(user_id), ROOM[2]


async def test_the_members_come_only_when_the_caller_holds_another_set(store):
    first = await store.presence_join(keys(1), "socket-a", "1|ann")
    assert first.changed and first.members == ["1|ann"]
    known = (first.version, len(first.members))
    # Ann's second tab changes nothing: the caller holds that set, so no members come back.
    again = await store.presence_join(keys(1), "socket-b", "1|ann", known)
    assert (again.changed, again.version, again.members) == (False, first.version, None)
    # Asked without the set, or with an older one, the members come.
    assert (await store.presence_join(keys(1), "socket-c", "1|ann")).members == ["1|ann"]
    assert (await store.presence_sweep(ROOM[::2], (first.version - 1, 1))).members == ["1|ann"]
    # A change always brings the members, with a newer version.
    bob = await store.presence_join(keys(2), "socket-d", "2|bob", known)
    assert bob.changed and sorted(bob.members) == ["1|ann", "2|bob"]
    assert bob.version > first.version
    # The version an unchanged answer reports is the one the change reported, to the last
    # digit (before Redis 7, Lua wrote a 16-digit number back with 14 significant digits).
    swept = await store.presence_sweep(ROOM[::2], (bob.version, 2))
    assert (swept.version, swept.members) == (bob.version, None)


async def test_a_set_that_changed_size_without_a_new_version_is_sent_again(store):
    first = await store.presence_join(keys(1), "socket-a", "1|ann")
    await store.presence_join(keys(2), "socket-b", "2|bob")
    held = await store.presence_sweep(ROOM[::2], NOT_KNOWN)
    # A socket's entries removed as a whole when it closes (Registry.close) leave the version.
    await store.remove_many([(ROOM[0], "2|bob")])
    answer = await store.presence_sweep(ROOM[::2], (held.version, len(held.members)))
    assert answer.version == held.version > first.version
    assert answer.members == ["1|ann"]


async def test_open_in_room_leaves_the_members_out_as_a_join_does(store):
    caps_keys = ("sb:sockets:user:1", "sb:sockets:addr:127.0.0.1")
    refused, first = await store.open_in_room(
        (*caps_keys, *keys(1)), Opening("socket-a", "1|ann", (10, 10))
    )
    assert refused == 0 and first.members == ["1|ann"]
    refused, again = await store.open_in_room(
        (*caps_keys, *keys(1)), Opening("socket-b", "1|ann", (10, 10), (first.version, 1))
    )
    assert refused == 0 and (again.changed, again.members) == (False, None)
    # Over a cap: refused, and nothing else answered.
    assert await store.open_in_room(
        (*caps_keys, *keys(1)), Opening("socket-c", "1|ann", (2, 10), (first.version, 1))
    ) == (1, None)


async def test_sockets_answered_with_the_same_set_at_once_share_one_parse(redis_url, monkeypatch):
    """Connects that ask together, holding an older set, are each answered with the members of
    the new one: the process parses and encodes it once (it was a sixth of a connect's CPU in
    bench.connect's second batch, 200 users online)."""
    store = RedisZStore(RedisTarget(url=redis_url))
    await store.redis.flushdb()
    monkeypatch.setattr(presence, "zstore", lambda: store)
    monkeypatch.setattr(presence.Registry, "_start", lambda self: None)  # no heartbeat here
    announced = []

    async def announce(self, room_id, online):
        announced.append(online)

    monkeypatch.setattr(presence.Registry, "_announce", announce)
    parses = []
    parse = presence.online_users
    monkeypatch.setattr(
        presence, "online_users", lambda members: parses.append(1) or parse(members)
    )
    registry = presence.Registry()
    ann = [presence.SocketRef(f"ann-{n}", 1, "ann", "127.0.0.1", "user:1") for n in range(3)]
    first = await registry.open_in_room(ann[0], 7)
    # Another process's socket: a new set, which this process does not hold yet.
    await store.presence_join(
        ("sb:presence:room:7", "sb:presence:room:7:user:2", "sb:presence:room:7:version"),
        "bob-0", "2|bob",
    )  # fmt: skip
    second, third = await asyncio.gather(*(registry.open_in_room(r, 7) for r in ann[1:]))
    assert second.online is third.online
    assert [u["username"] for u in third.online.users] == ["ann", "bob"]
    assert third.version > first.version and len(parses) == 2
    await store.redis.aclose()
