"""Games in a server process: who runs each game, and the runner's way to the database.

Every process keeps one `Supervisor` (per event loop, like realtime.hub). It watches the games
its sockets show: it joins each one's group on the process hub and so learns each change of
status. For a game in countdown or running, it checks the game's lease every `POLL_SECONDS`;
a lease nobody holds (a new game, or its runner's process died) is taken, and the game runs
here from its last checkpointed tick (games.engine.Runner). One lease, one runner: exactly one
process runs a game at a time. A new game is left for a moment to its home process (`home`:
rendezvous hashing over the processes that said they were alive in the last 2 s), so games
spread evenly instead of going to whichever process polled first. Under the in-memory layer
there is one process, and it runs every game.
"""

import asyncio
import collections
import contextlib
import contextvars
import functools
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from channels.db import database_sync_to_async

from games import services
from games.engine import Match, Runner, Setup, Tick
from games.selectors import game_get
from games.store import game_store, new_token
from realtime.broadcast import send_event
from realtime.groups import game_group, game_ticks_group
from realtime.hub import get_hub

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.15
ACTIVE = {"countdown", "running"}
HANDOVER_SECONDS = 0.3  # how long a new game waits for its home process to take it
# The longest a batch of ticks is held for its `due` (Supervisor.deliver_at). A batch that
# says it is due later came from a process whose clock is ahead of this one's.
MAX_HOLD_SECONDS = 0.05
MAX_QUEUED = 20  # batches (a second of ticks) held per sending process, at most


def home(game_id: int, hosts: list[str]) -> str | None:
    """The process that should run a new game: the one that ranks highest for this game
    (rendezvous hashing), so each process gets an even share, and a process that comes or
    goes moves only its own share."""
    return max(hosts, key=lambda host: hashlib.blake2b(f"{game_id}:{host}".encode()).digest(),
               default=None)  # fmt: skip


class TickPublisher:
    """Sends this process's ticks to every process: the ticks its clock (games.engine.Clock)
    publishes in one go travel as one layer event, so a process running 50 games sends 20
    events a second, not 1,000 (channels_redis's receive loop keeps up). Each tick is encoded
    once, up to its `ack` (Tick.head), with each seat's ack beside it. One sender task keeps
    the batches in order.

    A batch goes out on a fixed beat, not whenever its tick's round trips to the log ended:
    this process's own sockets get it at its ticks' `due` (Clock.send_after past their moment
    on the grid), straight from here and whatever the layer does; the other processes hold it
    until `others_after` later (Supervisor.deliver_at). This process skips its own batch when
    the layer brings it back (the event names its `origin`)."""

    # The other processes send a batch this long after its `due`, when the running process has
    # sent its own: two processes sending the same batch at once on one core interleave in
    # whatever order the kernel picks.
    others_after: ClassVar[float] = 0.004

    def __init__(self, supervisor: "Supervisor") -> None:
        self.supervisor = supervisor
        self.due = 0.0
        self.batch: list[list[Any]] = []
        self.queue: asyncio.Queue[tuple[list[list[Any]], float]] = asyncio.Queue()
        self.sender: asyncio.Task | None = None

    def publish(self, game_id: int, tick: Tick) -> None:
        loop = asyncio.get_running_loop()
        if self.sender is None or self.sender.done():
            self.sender = loop.create_task(self._send(), context=contextvars.Context())
        if not self.batch:
            loop.call_soon(self._flush)  # after the clock has published this tick's games
        acks = [tick.acks[seat] for seat in sorted(tick.acks)]
        self.batch.append([game_id, tick.number, tick.head(), acks])
        self.due = max(self.due, tick.due)

    def _flush(self) -> None:
        batch, self.batch, due, self.due = self.batch, [], self.due, 0.0
        self.supervisor.deliver_at(due, batch, self.supervisor.host_id)  # whatever the layer does
        self.queue.put_nowait((batch, due + self.others_after))

    async def _send(self) -> None:
        while True:
            batch, due = await self.queue.get()
            origin = self.supervisor.host_id
            event = {"type": "game.ticks", "group": game_ticks_group(), "ticks": batch,
                     "origin": origin, "due": due}  # fmt: skip
            await send_event(event)


class DjangoHost:
    """The runner's host: the game's setup and result in the database, ticks on the layer."""

    async def setup(self, game_id: int) -> Setup:
        game = await database_sync_to_async(game_get)(game_id=game_id)
        return Setup(
            game_id=game.pk, kind=game.kind, status=game.status, width=game.width,
            height=game.height, seats=len(game.players.all()),
            starts_at=game.starts_at.timestamp() if game.starts_at else None,
        )  # fmt: skip

    async def begin(self, game_id: int) -> None:
        await database_sync_to_async(services.game_begin)(game_id=game_id)

    async def publish(self, game_id: int, tick: Tick) -> None:
        get_publisher().publish(game_id, tick)

    async def finish(self, game_id: int, match: Match) -> None:
        rules = match.rules
        await database_sync_to_async(services.game_finish)(
            game_id=game_id, ranking=rules.ranking(), winner=rules.winner(),
            alive=rules.alive(), ticks=match.tick,
        )  # fmt: skip


@dataclass
class Replica:
    """This process's copy of a game, rebuilt from its checkpoint and kept up with it, from
    which sockets fill a gap in their tick stream (the layer drops events when a process falls
    behind: channels_redis over `capacity`)."""

    match: Match
    recent: dict[int, Tick] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ticks(self, game_id: int, first: int, last: int) -> list[Tick]:
        """Ticks `first`..`last`, as the runner published them (those the log holds)."""
        async with self.lock:
            if self.match.tick < last:
                for entry in await game_store().log_entries(game_id, self.match.tick):
                    tick = self.match._step(entry)
                    self.recent[tick.number] = tick
                for number in [n for n in self.recent if n <= self.match.tick - KEEP_TICKS]:
                    del self.recent[number]
            return [self.recent[n] for n in range(first, last + 1) if n in self.recent]


KEEP_TICKS = 200


class Supervisor:
    """Takes the lease of every orphaned active game this process shows, and runs it."""

    def __init__(self) -> None:
        self.sockets: dict[int, set[Any]] = {}  # game id -> local sockets showing it
        self.status: dict[int, str] = {}
        self.runners: dict[int, asyncio.Task] = {}
        self.replicas: dict[int, Replica] = {}
        self.host = DjangoHost()
        self.host_id = new_token()  # this process, among those that run games
        self.countdowns: dict[int, float] = {}  # games in countdown shown here, seen since
        self.clock = time.monotonic
        self._task: asyncio.Task | None = None
        # Tick batches held for their time, per process that sent them (deliver_at).
        self._lanes: dict[str, collections.deque[tuple[float, list[list[Any]]]]] = {}
        self._lane_tasks: set[asyncio.Task] = set()
        self._wake = asyncio.Event()

    async def watch(self, game_id: int, status: str, socket: Any) -> None:
        """A local socket shows this game (its status as the socket read it); it gets the
        game's ticks through `room_event`."""
        if not self.sockets:
            await get_hub().subscribe(game_ticks_group(), self)
        first = game_id not in self.sockets
        self.sockets.setdefault(game_id, set()).add(socket)
        self.status.setdefault(game_id, status)
        if first:
            await get_hub().subscribe(game_group(game_id), self)
        self._ensure_running()
        if status in ACTIVE:
            self._wake.set()

    async def unwatch(self, game_id: int, socket: Any) -> None:
        sockets = self.sockets.get(game_id, set())
        sockets.discard(socket)
        if sockets:
            return
        self.sockets.pop(game_id, None)
        if game_id not in self.runners:
            self.status.pop(game_id, None)
        self.replicas.pop(game_id, None)
        await get_hub().unsubscribe(game_group(game_id), self)
        if not self.sockets:
            await get_hub().unsubscribe(game_ticks_group(), self)

    async def missed_ticks(self, game_id: int, setup: dict, first: int, last: int) -> list[Tick]:
        """The ticks a socket of this process missed, from the game's checkpoint."""
        replica = self.replicas.get(game_id)
        if replica is None or (first <= replica.match.tick and first not in replica.recent):
            replica = self.replicas[game_id] = Replica(Match.new(**setup))
        return await replica.ticks(game_id, first, last)

    def note_status(self, game_id: int, status: str) -> None:
        if game_id in self.sockets or game_id in self.runners:
            self.status[game_id] = status
            if status in ACTIVE:
                self._wake.set()  # a game just started: take it at once, not at the next poll

    async def hub_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "game.ticks":
            if event.get("origin") != self.host_id:  # this process's own went from here
                self.deliver_at(event.get("due", 0.0), event["ticks"], event.get("origin", ""))
            return
        status = event.get("game_status")
        if status is not None:
            self.note_status(int(event["group"].split(".")[1]), status)

    def deliver_at(self, due: float, batch: list[list[Any]], origin: str) -> None:
        """Hand a batch of ticks from process `origin` to this process's sockets at `due`
        (epoch seconds; at once if it has passed), after that origin's batches before it.
        Each origin has a lane of its own, so that a batch held for its time holds neither
        another process's ticks, nor the hub's other events, nor the tick loop. A lane keeps
        at most MAX_QUEUED batches: past that the oldest is dropped, and the sockets fill the
        gap from the checkpoint as after a layer drop."""
        lane = self._lanes.get(origin)
        if lane is None:
            lane = self._lanes[origin] = collections.deque()
            task = asyncio.get_running_loop().create_task(
                self._deliver_lane(origin, lane), context=contextvars.Context()
            )
            self._lane_tasks.add(task)
            task.add_done_callback(functools.partial(self._lane_ended, origin, lane))
        if len(lane) >= MAX_QUEUED:
            lane.popleft()
        lane.append((due, batch))

    async def _deliver_lane(self, origin: str, lane: collections.deque) -> None:
        try:
            while lane:
                due, batch = lane.popleft()
                try:
                    wait = due - time.time()
                    if 0 < wait <= MAX_HOLD_SECONDS:  # further off: clocks apart, no wait
                        await asyncio.sleep(wait)
                    await self.deliver_ticks(batch)
                except Exception:  # a malformed batch: the next ones still go
                    logger.exception("delivering a batch of ticks from %s failed", origin)
        finally:
            if self._lanes.get(origin) is lane:
                del self._lanes[origin]  # empty: the next batch starts a lane again

    def _lane_ended(self, origin: str, lane: collections.deque, task: asyncio.Task) -> None:
        self._lane_tasks.discard(task)
        if self._lanes.get(origin) is lane:  # cancelled before it ran: its `finally` never did
            del self._lanes[origin]

    async def deliver_ticks(self, batch: list[list[Any]]) -> None:
        """A batch of ticks (TickPublisher) to the sockets of this process that show them."""
        for game_id, number, head, acks in batch:
            tick = {"type": "game.tick", "tick": number, "head": head, "acks": acks}
            for socket in list(self.sockets.get(game_id, ())):
                try:
                    await socket.room_event(tick)
                except Exception as error:
                    if type(error).__name__ != "Disconnected":
                        logger.exception("delivering a tick of game %s failed", game_id)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            # A context of its own: not the log context (socket id, user) of the socket that
            # happened to start it.
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._poll(), context=contextvars.Context())

    async def _poll(self) -> None:
        failing = False
        while self.sockets or self.runners:
            try:
                await self.adopt_orphans()
            except Exception:
                # Every poll (and each one says it is alive) reaches Redis: an outage is
                # logged once as a warning, not every 150 ms.
                log = logger.debug if failing else logger.warning
                log("game supervisor: lease check failed", exc_info=True)
                failing = True
            else:
                if failing:
                    logger.warning("game supervisor: lease checks work again")
                failing = False
            self._wake.clear()
            # Not asyncio.wait_for: Python 3.11's swallows a cancel that comes as the wait ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
        self.countdowns.clear()

    async def adopt_orphans(self) -> None:
        """Take the lease of each active game shown here that no process runs, and run it."""
        store = game_store()
        hosts = await store.hosts(self.host_id)
        candidates = [
            game_id for game_id, status in self.status.items()
            if status in ACTIVE and game_id not in self.runners and game_id in self.sockets
        ]  # fmt: skip
        now = self.clock()
        for game_id in set(self.countdowns) - set(candidates):
            del self.countdowns[game_id]
        for game_id in candidates:
            if self.status[game_id] == "countdown":
                self.countdowns.setdefault(game_id, now)
        if not candidates:
            return
        held = await store.held(candidates)
        for game_id, is_held in zip(candidates, held, strict=True):
            # The awaits let sockets go meanwhile: a game no longer shown here is not taken.
            if is_held or game_id not in self.sockets or game_id in self.runners:
                continue
            if self._left_to_home(game_id, hosts, now):
                continue
            token = new_token()
            if await store.acquire(game_id, token):
                self._start(game_id, token)

    def _left_to_home(self, game_id: int, hosts: list[str], now: float) -> bool:
        """A new game is left to its home process for HANDOVER_SECONDS from when its countdown
        was first seen here, so that games spread evenly; after that anyone takes it (the home
        may have died, even after taking it, or show no socket of the game). A running game
        with no runner is never left: whoever sees it first takes it over."""
        if self.status.get(game_id) != "countdown" or home(game_id, hosts) == self.host_id:
            return False
        return now - self.countdowns.get(game_id, now) < HANDOVER_SECONDS

    def _start(self, game_id: int, token: str) -> None:
        runner = Runner(game_id, token, host=self.host, log=game_store())
        task = asyncio.get_running_loop().create_task(runner.run(), context=contextvars.Context())
        self.runners[game_id] = task
        logger.info("running game %s here", game_id)

        def done(_: asyncio.Task) -> None:
            self.runners.pop(game_id, None)
            if runner.over:
                self.status[game_id] = "finished"  # before its status event comes round
            if game_id not in self.sockets:
                self.status.pop(game_id, None)

        task.add_done_callback(done)


_publishers: dict[asyncio.AbstractEventLoop, TickPublisher] = {}


def get_publisher() -> TickPublisher:
    """The tick publisher of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    if loop not in _publishers:
        for old in [old for old in _publishers if old.is_closed()]:
            del _publishers[old]
        _publishers[loop] = TickPublisher(get_supervisor())
    return _publishers[loop]


_supervisors: dict[asyncio.AbstractEventLoop, Supervisor] = {}


def get_supervisor() -> Supervisor:
    """The supervisor of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    supervisor = _supervisors.get(loop)
    if supervisor is None:
        for old in [old for old in _supervisors if old.is_closed()]:
            del _supervisors[old]  # tests: a fresh loop per test
        supervisor = _supervisors[loop] = Supervisor()
    return supervisor
