"""The per-process hub joins a group with its first local subscriber and leaves it with its last,
even when the caller is cancelled while the layer call is on its way (Django cancels a long poll
or a stream whose client left; Daphne cancels a consumer still busy 10 s after its client went).
A join that reached Redis with nothing here to record it held the process's channel in the
group for a day: the soak found `asgi:group:user.27` still joined once every client was gone."""

import asyncio
import contextlib

from channels.layers import InMemoryChannelLayer

from realtime.hub import Hub


class SlowReplyLayer(InMemoryChannelLayer):
    """The in-memory layer, but a group call's reply is held back until `reply` is set: the
    command has done its work, as a Redis command sent but not yet answered has."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = asyncio.Event()
        self.reply = asyncio.Event()
        self.slow = False
        self.calls: list[str] = []  # what the hub asked of the layer, in order

    async def _held(self) -> None:
        if self.slow:
            self.sent.set()
            await self.reply.wait()

    async def group_add(self, group: str, channel: str) -> None:
        self.calls.append("add")
        await super().group_add(group, channel)
        await self._held()

    async def group_discard(self, group: str, channel: str) -> None:
        self.calls.append("discard")
        await super().group_discard(group, channel)
        await self._held()


class Socket:
    async def hub_event(self, event) -> None:
        pass


async def cancelled_in_flight(layer: SlowReplyLayer, call) -> None:
    """Run `call` until its layer command is sent, then cancel it, as a client leaving does."""
    layer.slow = True
    task = asyncio.create_task(call)
    await layer.sent.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_subscribe_cancelled_mid_join_is_undone_by_its_unsubscribe():
    layer = SlowReplyLayer()
    hub = Hub(layer)
    socket = Socket()
    await cancelled_in_flight(layer, hub.subscribe("user.27", socket))

    leaving = asyncio.create_task(hub.unsubscribe("user.27", socket))  # the caller's `finally`
    layer.reply.set()
    await leaving

    assert layer.groups == {}
    assert hub.local_subscribers("user.27") == 0
    assert hub._groups == {}


async def test_an_unsubscribe_cancelled_mid_leave_still_leaves():
    layer = SlowReplyLayer()
    hub = Hub(layer)
    socket = Socket()
    await hub.subscribe("user.27", socket)
    assert set(layer.groups["user.27"]) == {hub.channel}

    await cancelled_in_flight(layer, hub.unsubscribe("user.27", socket))
    layer.reply.set()
    # A later subscriber finds the group as the layer has it: left, then joined again.
    await hub.subscribe("user.27", socket)
    assert set(layer.groups["user.27"]) == {hub.channel}
    await hub.unsubscribe("user.27", socket)

    assert layer.groups == {}
    assert hub._groups == {}


async def test_a_join_that_failed_leaves_no_entry_behind_once_its_caller_unsubscribes():
    class DownLayer(InMemoryChannelLayer):
        async def group_add(self, group: str, channel: str) -> None:
            raise ConnectionError("Redis is down")

    hub = Hub(DownLayer())
    socket = Socket()
    with contextlib.suppress(ConnectionError):
        await hub.subscribe("room.1", socket)
    await hub.unsubscribe("room.1", socket)
    assert hub._groups == {}


async def test_a_join_whose_caller_left_while_it_waited_for_a_leave_is_not_sent():
    """A's leave is on its way; B subscribes behind it and is cancelled, so B's join and then
    B's leave wait their turn. A's leave drops the group; B's join must not join it again: on
    an entry nobody holds, that join (and B's leave after it) would later undo a newer join."""
    layer = SlowReplyLayer()
    hub = Hub(layer)
    a, b, c = Socket(), Socket(), Socket()
    await hub.subscribe("room.1", a)

    await cancelled_in_flight(layer, hub.unsubscribe("room.1", a))  # its leave goes on
    joining = asyncio.create_task(hub.subscribe("room.1", b))
    await asyncio.sleep(0)  # noqa: sleep-ok one turn of the loop: b's join queues on the lock
    joining.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await joining
    leaving = asyncio.create_task(hub.unsubscribe("room.1", b))  # b's caller's `finally`
    layer.reply.set()
    await leaving
    await asyncio.gather(*hub._pending)
    assert layer.groups == {} and hub._groups == {}

    await hub.subscribe("room.1", c)
    assert layer.calls == ["add", "discard", "add"]  # a's join and leave, then c's join
    assert set(layer.groups["room.1"]) == {hub.channel}
    assert hub.local_subscribers("room.1") == 1
