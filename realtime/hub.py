"""Per-process fan-out.

Each server process (strictly: each event loop) opens one channel on the channel layer and
joins, with that one channel, the group of every room its sockets watch. A room event then
costs one layer message per *process*, not per socket, and the hub writes the event's
pre-encoded text to the local sockets. The tutorial shape (one layer channel and one group
message per consumer) costs several times more CPU per delivery; see docs/architecture.md.
"""

import asyncio
import itertools
import logging
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from realtime.metrics import LAYER_ERRORS, observe_broadcast

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    async def hub_event(self, event: dict[str, Any]) -> None: ...


# Sent to every subscriber after the layer may have dropped events (Redis restarted, flushed
# or failed over): each catches up from the database, as it does for a gap.
RESYNC = "hub.resync"
WATCH_SECONDS = 1.0
_resync_numbers = itertools.count(1)


# Events conflated per group: readings, which a device may send far faster than anyone reads.
CONFLATED = "hub.readings"


@dataclass(eq=False)
class _Group:
    subscribers: set[Subscriber] = field(default_factory=set)
    joined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # When the group last delivered readings, and the readings merged for the window's end.
    sent_at: float = float("-inf")
    waiting: dict[str, Any] | None = None


class Hub:
    """Receives layer events on one channel and hands each to the subscribers of its group."""

    def __init__(self, layer: Any, *, window: float = 0.0) -> None:
        self.layer = layer
        # Readings of a group reach its subscribers at most once per `window` seconds: the
        # first at once, later ones merged into one event delivered as the window ends (every
        # point kept; each socket then conflates for its panels: realtime.conflate). Done
        # here, once per process, rather than once per socket and batch.
        self.window = window
        self.channel: str | None = None
        self._groups: dict[str, _Group] = {}
        self._task: asyncio.Task | None = None
        self._watch: asyncio.Task | None = None
        self._started = asyncio.Lock()
        self._pending: set[asyncio.Future] = set()  # shielded joins and leaves under way

    async def subscribe(self, group: str, subscriber: Subscriber) -> None:
        """Deliver `group`'s events to `subscriber` from now on (the layer join is awaited).

        The caller may be cancelled meanwhile (Django cancels a long poll whose client left),
        but the layer call is not: cancelled half-way, it may have reached Redis with nothing
        here to record it, and the group would hold this process's channel for a day. Shielded,
        it finishes, and the caller's `unsubscribe` (which waits for the lock) undoes it."""
        await self._start()
        entry = self._groups.setdefault(group, _Group())
        # Added before the lock: a concurrent unsubscribe then sees it and keeps the group.
        entry.subscribers.add(subscriber)
        if entry.joined and not entry.lock.locked():
            return  # joined already, and no leave under way: nothing to wait for
        await self._shielded(self._join(group, entry))

    async def unsubscribe(self, group: str, subscriber: Subscriber) -> None:
        entry = self._groups.get(group)
        if entry is None:
            return
        entry.subscribers.discard(subscriber)
        if not entry.subscribers:
            await self._shielded(self._leave(group, entry))

    def _shielded(self, work: Coroutine[Any, Any, None]) -> asyncio.Future:
        """`work` in a task of its own that the caller's cancellation does not stop, held until
        it ends; a failure nobody awaited any more (its caller was cancelled) is logged."""
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._settled)
        return asyncio.shield(task)

    def _settled(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("a hub join or leave failed", exc_info=task.exception())

    async def _join(self, group: str, entry: _Group) -> None:
        async with entry.lock:
            if self._groups.get(group) is not entry or not entry.subscribers:
                # Everyone left while this waited (their caller was cancelled), and the leave
                # that went first dropped the entry: joining now would leave the channel in the
                # group with nothing here to take it out, or take out a newer entry's join.
                return
            if not entry.joined:
                await self.layer.group_add(group, self.channel)
                entry.joined = True

    async def _leave(self, group: str, entry: _Group) -> None:
        async with entry.lock:
            if entry.subscribers:
                return
            if entry.joined:
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
                loop = asyncio.get_running_loop()
                self._task = loop.create_task(self._run())
                if hasattr(self.layer, "connection"):  # channels_redis: Redis can forget us
                    self._watch = loop.create_task(self._watch_redis())

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
                await self._recover()
                continue
            backoff = 0.1
            entry = self._groups.get(event.get("group", ""))
            if entry is None:
                continue
            if event.get("type") != CONFLATED or self.window <= 0 or self._due(entry, event):
                await self._deliver(entry, event)

    async def _deliver(self, entry: _Group, event: dict[str, Any]) -> None:
        observe_broadcast(event)
        for subscriber in list(entry.subscribers):
            try:
                await subscriber.hub_event(event)
            except Exception as error:
                if type(error).__name__ == "Disconnected":
                    continue  # the socket closed a moment ago; its disconnect is under way
                logger.exception("delivering %s to a socket failed", event.get("type"))

    def _due(self, entry: _Group, event: dict[str, Any]) -> bool:
        """True if the group's window has passed (deliver now); else merge into the next one."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if entry.waiting is None and now - entry.sent_at >= self.window:
            entry.sent_at = now
            return True
        if entry.waiting is None:
            entry.waiting = event | {"points": list(event["points"])}
            loop.call_at(entry.sent_at + self.window, self._flush, entry)
        else:
            entry.waiting["points"].extend(event["points"])
            entry.waiting["last_id"] = max(entry.waiting["last_id"], event["last_id"])
        return False

    def _flush(self, entry: _Group) -> None:
        event, entry.waiting = entry.waiting, None
        entry.sent_at = asyncio.get_running_loop().time()
        if event and entry.subscribers:
            asyncio.get_running_loop().create_task(self._deliver(entry, event))

    async def _watch_redis(self) -> None:
        """Notice a Redis that has lost this process's groups, whether or not any call of ours
        failed meanwhile (redis-py retries connection errors itself, so a short outage never
        reaches `_run`): a marker key, refreshed every second, is gone with the groups."""
        marker = f"{self.layer.prefix}:hub-alive:{self.channel}"
        marked = False
        while True:
            try:
                redis = self.layer.connection(0)
                async with asyncio.timeout(2 * WATCH_SECONDS):
                    alive = await redis.exists(marker)
                if marked and not alive:
                    logger.warning("the channel layer lost this process's groups; joining again")
                    await self._rejoin()
                    await redis.set(marker, 1, ex=60)
                    await self._resync()
                else:
                    await redis.set(marker, 1, ex=60)
                marked = True
            except Exception:
                LAYER_ERRORS.labels("watch").inc()
            await asyncio.sleep(WATCH_SECONDS)

    async def _recover(self) -> None:
        try:
            await self._rejoin()
        except Exception:
            return  # the next failure (or the watch) tries again
        await self._resync()

    async def _rejoin(self) -> None:
        for group, entry in list(self._groups.items()):
            async with entry.lock:  # not between a leave's discard and its bookkeeping
                if entry.joined and self._groups.get(group) is entry:
                    await self.layer.group_add(group, self.channel)

    async def _resync(self) -> None:
        """Events may have been lost: every subscriber catches up from the database. Each
        resync has a number (unique in the process, whichever loop's hub sends it), so that
        what they share is redone once, not once each."""
        number = next(_resync_numbers)
        subscribers = {id(s): s for entry in self._groups.values() for s in entry.subscribers}
        for subscriber in subscribers.values():
            try:
                await subscriber.hub_event({"type": RESYNC, "group": None, "number": number})
            except Exception:
                logger.exception("resync of a subscriber failed")


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer(), window=settings.SWITCHBOARD_READINGS_WINDOW)
    return hub
