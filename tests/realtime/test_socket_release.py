"""A socket gives back its place in the caps and its presence whichever way it ends: the client
goes, a handler fails, or the server cancels a consumer that is still busy (Daphne does, 10 s
after the client went). Through the real ASGI stack, on the in-process store."""

import asyncio
import contextlib

import pytest

from realtime.store import zstore
from tests.chat.test_consumers import join, next_frame
from tests.factories import make_room

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(user):
    return make_room(creator=user)


def entries() -> dict[str, int]:
    """The socket-cap and presence entries this process holds, by key."""
    return {key: len(members) for key, members in zstore().sets.items() if members}


async def until_released(within: float = 5) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        held = entries()
        if not held or loop.time() > deadline:
            return held
        await asyncio.sleep(0.01)  # noqa: sleep-ok polling the store until a deadline


async def test_a_consumer_cancelled_by_the_server_still_releases_its_socket(
    layer, user, other, room
):
    alice, _ = await join(user)
    bob, _ = await join(other)
    assert (await next_frame(alice, skip=()))["type"] == "presence"  # bob arrived
    bob.future.cancel()  # as Daphne does to an application still busy after its client went
    with contextlib.suppress(asyncio.CancelledError):
        await bob.future
    frame = await next_frame(alice, skip=())
    assert frame == {"type": "presence", "online": [{"id": user.pk, "username": "alice"}]}
    await alice.disconnect()
    assert await until_released() == {}


async def test_a_connect_whose_room_read_fails_leaves_no_subscription_behind(
    layer, user, other, room, monkeypatch
):
    from chat import policy
    from realtime.groups import room_group
    from realtime.hub import get_hub
    from tests.chat.test_consumers import open_socket

    alice, _ = await join(user)  # the process now knows the room: the next connect subscribes
    group = room_group(room.pk)  # to its group before it reads the room
    assert get_hub().local_subscribers(group) == 1

    def database_down(**kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(policy, "room_to_read", database_down)
    with contextlib.suppress(Exception):
        _, connected = await open_socket(other, room.slug)
        assert not connected
    assert get_hub().local_subscribers(group) == 1
    await alice.disconnect()
    assert get_hub().local_subscribers(group) == 0
