"""Per-process fan-out.

Each server process (strictly: each event loop) opens one channel on the channel layer and
joins, with that one channel, the group of every room its sockets watch. A room event then
costs one layer message per *process*, not per socket, and the hub writes the event's
pre-encoded text to the local sockets. The tutorial shape (one layer channel and one group
message per consumer) costs several times more CPU per delivery; see docs/architecture.md.
"""

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer

from realtime.metrics import LAYER_ERRORS, observe_broadcast

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    async def hub_event(self, event: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class _Group:
    subscribers: set[Subscriber] = field(default_factory=set)
    joined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Hub:
    """Receives layer events on one channel and hands each to the subscribers of its group."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self._groups: dict[str, _Group] = {}
        self._task: asyncio.Task | None = None
        self._started = asyncio.Lock()

    async def subscribe(self, group: str, subscriber: Subscriber) -> None:
        """Deliver `group`'s events to `subscriber` from now on (the layer join is awaited)."""
        await self._start()
        entry = self._groups.setdefault(group, _Group())
        # Added before the lock: a concurrent unsubscribe then sees it and keeps the group.
        entry.subscribers.add(subscriber)
        async with entry.lock:
            if not entry.joined:
                await self.layer.group_add(group, self.channel)
                entry.joined = True

    async def unsubscribe(self, group: str, subscriber: Subscriber) -> None:
        entry = self._groups.get(group)
        if entry is None:
            return
        entry.subscribers.discard(subscriber)
        if entry.subscribers:
            return
        async with entry.lock:
            if entry.subscribers or not entry.joined:
                return
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                logger.warning("could not leave %s; the layer will expire it", group)
            entry.joined = False
            if not entry.subscribers and self._groups.get(group) is entry:
                del self._groups[group]

    def local_subscribers(self, group: str) -> int:
        entry = self._groups.get(group)
        return len(entry.subscribers) if entry else 0

    async def _start(self) -> None:
        if self._task is not None:
            return
        async with self._started:
            if self._task is None:
                self.channel = await self.layer.new_channel(prefix="hub")
                self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis went away: keep trying, and join the groups again once it is back,
                # since a restarted Redis has forgotten them.
                LAYER_ERRORS.labels("receive").inc()
                logger.warning("hub receive failed; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                await self._rejoin()
                continue
            backoff = 0.1
            entry = self._groups.get(event.get("group", ""))
            if entry is None:
                continue
            observe_broadcast(event)
            for subscriber in list(entry.subscribers):
                try:
                    await subscriber.hub_event(event)
                except Exception:
                    logger.exception("delivering %s to a socket failed", event.get("type"))

    async def _rejoin(self) -> None:
        for group, entry in list(self._groups.items()):
            if entry.joined:
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    return


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub
