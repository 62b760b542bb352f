"""The game engine: rules plug in, the engine owns seats, inputs, ticks, frames and results.

A game's rules are a small deterministic class (`Rules`): built from the board and the number
of seats, stepped one tick at a time with each seat's inputs, and asked for its cells, who is
alive, and the ranking. It does no I/O, reads no clock and draws no random number but from
its seed. `register` files it under its `kind`; nothing here names a game.

`Match` is the bookkeeping around the rules: each seat's queued inputs with their `seq`, the
highest seq applied per seat (`ack`), the tick number, and the log entry of every tick (the
inputs it applied), from which `Match.replay` rebuilds the same match. `Runner` runs one
match in one process, under a lease (games.store), and `Clock` is the process's tick loop: it
steps all the matches the process runs together, checkpointing every tick before it is
announced, so that another process can take a match over where it stopped.
"""

import asyncio
import contextvars
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from realtime.broadcast import encode_frame
from realtime.errors import Invalid

logger = logging.getLogger(__name__)
T = TypeVar("T")

TICK_HZ = 20
GOLDEN = (math.sqrt(5) - 1) / 2  # 0.618...: the clocks' offsets on the grid (Clock)


class Rules(Protocol):
    """What a game is to the engine."""

    kind: ClassVar[str]
    min_seats: ClassVar[int]
    max_seats: ClassVar[int]

    def __init__(self, *, width: int, height: int, seats: int, seed: int = 0) -> None: ...

    @staticmethod
    def parse_input(frame: dict[str, Any]) -> Any:
        """The game's input from a client frame (JSON-able), or raise Invalid."""

    def step(self, inputs: dict[int, list[Any]]) -> list[Any]:
        """Advance one tick with each seat's inputs in arrival order; the tick's moves."""

    def cells(self) -> list[Any]:
        """The full board, for a fresh `state`."""

    def alive(self) -> list[bool]: ...

    @property
    def finished(self) -> bool: ...

    def ranking(self) -> list[int]:
        """Seats, best first (for light cycles: the last one out first)."""

    def winner(self) -> int | None: ...


GAMES: dict[str, type[Rules]] = {}


def register(rules: type[Rules]) -> type[Rules]:
    """File a game's rules under its `kind` (a class decorator)."""
    GAMES[rules.kind] = rules
    return rules


def rules_for(kind: str) -> type[Rules]:
    import games.cycles  # noqa: F401 - registers the shipped games

    try:
        return GAMES[kind]
    except KeyError:
        raise Invalid(f"Unknown game kind {kind!r}.", code="invalid") from None


@dataclass
class Tick:
    """One tick's outcome: its number, the moves, each seat's ack, and its log entry."""

    number: int
    moves: list[Any]
    acks: dict[int, int]
    entry: dict[str, list[list[Any]]]
    # When its frames go out (epoch seconds; Clock.send_after past its moment on the grid), or
    # 0 for at once (a tick announced again, or replayed to fill a gap).
    due: float = 0.0

    def head(self) -> str:
        """The tick frame encoded once, up to the `ack` value each socket appends (with "}")."""
        return encode_frame({"type": "tick", "tick": self.number, "moves": self.moves})[:-1] + (
            ',"ack":'
        )


def tick_text(head: str, ack: int) -> str:
    return f"{head}{ack}}}"


@dataclass
class Match:
    """One game's rules plus the engine's bookkeeping: seats, queued inputs, acks, ticks."""

    rules: Rules
    seats: int
    tick: int = 0
    acks: dict[int, int] = field(default_factory=dict)
    queued: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)

    @classmethod
    def new(cls, kind: str, *, width: int, height: int, seats: int, seed: int) -> "Match":
        rules = rules_for(kind)(width=width, height=height, seats=seats, seed=seed)
        return cls(rules=rules, seats=seats, acks=dict.fromkeys(range(seats), 0))

    def submit(self, seat: int, seq: int, value: Any) -> bool:
        """Queue a seat's input for the next tick; False for a seat out of range or a seq
        already applied or queued (a replay, or a late duplicate)."""
        if not 0 <= seat < self.seats:
            return False
        queue = self.queued.setdefault(seat, [])
        highest = queue[-1][0] if queue else self.acks[seat]
        if seq <= highest:
            return False
        queue.append((seq, value))
        return True

    def advance(self) -> Tick:
        """Apply what is queued and step the rules one tick."""
        queued, self.queued = self.queued, {}
        entry = {
            str(seat): [[seq, value] for seq, value in items] for seat, items in queued.items()
        }
        return self._step(entry)

    def _step(self, entry: dict[str, list[list[Any]]]) -> Tick:
        inputs: dict[int, list[Any]] = {}
        for seat_key, items in sorted(entry.items(), key=lambda kv: int(kv[0])):
            seat = int(seat_key)
            inputs[seat] = [value for _, value in items]
            # Every input a tick takes counts as done for its sender, even one that a later
            # turn of the same tick replaced or that the rules ignored (a reversal).
            self.acks[seat] = max([self.acks[seat], *(seq for seq, _ in items)])
        self.tick += 1
        moves = self.rules.step(inputs)
        return Tick(self.tick, moves, dict(self.acks), entry)

    @classmethod
    def replay(
        cls, kind: str, *, width: int, height: int, seats: int, seed: int, log: list[dict]
    ) -> tuple["Match", Tick | None]:
        """The match after the ticks of `log` (each tick's entry), and its last tick."""
        match = cls.new(kind, width=width, height=height, seats=seats, seed=seed)
        last = None
        for entry in log:
            last = match._step(entry)
        return match, last

    @property
    def finished(self) -> bool:
        return self.rules.finished


# --- the tick loop ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What the runner needs to know of a game (read from the database by the host)."""

    game_id: int
    kind: str
    status: str  # waiting, countdown, running, finished
    width: int
    height: int
    seats: int
    starts_at: float | None  # epoch seconds: the end of the countdown


class Host(Protocol):
    """The runner's way to the world beyond the match: database and broadcast."""

    async def setup(self, game_id: int) -> Setup: ...

    async def begin(self, game_id: int) -> None:
        """The countdown is over: the game is running."""

    async def publish(self, game_id: int, tick: Tick) -> None:
        """Send a tick frame to every socket of the game, on every process."""

    async def finish(self, game_id: int, match: Match) -> None:
        """Store the result (then it is announced)."""


class Log(Protocol):
    """The lease and the checkpoint of each game (games.store). The calls a tick makes take
    many games at once: one round trip each for every game this process runs."""

    async def renew(self, game_id: int, token: str) -> bool: ...

    async def release(self, game_id: int, token: str) -> None: ...

    async def log_entries(self, game_id: int) -> list[dict]:
        """The tick log so far: each tick's entry."""

    async def drain(self, game_ids: list[int]) -> list[list[list[Any]]]:
        """For each game, the inputs not yet applied by a committed tick ([seat, seq, value],
        ...)."""

    async def commit(self, checkpoints: list["Checkpoint"]) -> list[bool]:
        """Append each game's tick entry while its runner holds the lease (renewing it); False
        for a game whose lease is lost (another process runs it)."""

    async def clock_number(self) -> int:
        """A number for a process's clock that starts: 1, 2, 3... across all processes."""


@dataclass(frozen=True)
class Checkpoint:
    """Tick `tick` of a game, as its runner (the holder of `token`) logs it."""

    game_id: int
    token: str
    tick: int
    entry: dict[str, list[list[Any]]]


class LeaseLost(Exception):
    """Another process holds the game now (this one stalled past its lease)."""


class Runner:
    """Runs one game in this process while it holds the game's lease: the countdown, the
    catch-up from the checkpoint, and the result; the ticks in between come from the process's
    `Clock`."""

    renew_every: ClassVar[float] = 0.1

    def __init__(self, game_id: int, token: str, *, host: Host, log: Log,
                 seed: Callable[[int], int] = lambda game_id: game_id) -> None:  # fmt: skip
        self.game_id = game_id
        self.token = token
        self.host = host
        self.log = log
        self.seed = seed
        self.match: Match | None = None
        self.over = False  # the game is finished and its result stored

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            logger.warning("game %s: lease lost before it ran", self.game_id)
        except Exception:
            # The lease lapses and another process (or this one) takes the game over.
            logger.exception("the runner of game %s failed", self.game_id)
        finally:
            try:
                async with asyncio.timeout(Clock.log_timeout):
                    await self.log.release(self.game_id, self.token)
            except Exception:  # the log is unreachable: the lease lapses on its own
                logger.warning("game %s: its lease was not released", self.game_id)

    async def _run(self) -> None:
        # The lease is kept from the start: a busy database (a hundred games starting at once)
        # can take longer than the lease to answer, and the game would move to another process.
        setup = await self._renewing(self.host.setup(self.game_id))
        if setup.status not in {"countdown", "running", "finished"}:
            return
        if setup.status == "countdown":
            # Nothing is checkpointed before the game runs: wait, then take what came meanwhile.
            if not await self._wait_until(setup.starts_at or time.time()):
                return
            await self._renewing(self.host.begin(self.game_id))
        entries = await self.log.log_entries(self.game_id)
        match, last = Match.replay(
            setup.kind, width=setup.width, height=setup.height, seats=setup.seats,
            seed=self.seed(self.game_id), log=entries,
        )  # fmt: skip
        self.match = match
        if last is not None:
            # The last checkpointed tick may not have been announced before the previous
            # runner died: announce it again (sockets skip a tick they already sent).
            await self.host.publish(self.game_id, last)
        running = setup.status != "finished" and not match.finished
        if running and not await clock_for(self.log).run(self):
            logger.warning("game %s: lease lost at tick %s", self.game_id, match.tick)
            return
        await self._renewing(self.host.finish(self.game_id, self.match))
        self.over = True

    async def _renewing(self, work: Awaitable[T]) -> T:
        """Await `work` (a database call, which a busy database can make slow) while keeping
        the lease, so that another process does not take the game over meanwhile."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.renew_every)
                if not task.done() and not await self.log.renew(self.game_id, self.token):
                    raise LeaseLost(self.game_id)
        finally:
            task.cancel()  # the runner stopped (lease lost, cancelled): so does its work
        return task.result()

    async def _wait_until(self, when: float) -> bool:
        """Sleep until `when` (epoch seconds), renewing the lease; False if it is lost."""
        while (left := when - time.time()) > 0:
            await asyncio.sleep(min(left, self.renew_every))
            if not await self.log.renew(self.game_id, self.token):
                return False
        return True


class Clock:
    """Ticks every match that this process runs (on one `Log`), together, on one 50 ms grid.

    Each tick takes every game's inputs in one call to the log, steps each match, checkpoints
    them all in one more call, and then publishes each tick that was committed. So a process
    running 50 games makes two round trips to Redis per 50 ms, not 100, and its games tick at
    the same moment instead of queueing behind each other's round trips."""

    interval: ClassVar[float] = 1 / TICK_HZ
    # A tick's frames go out this long after its moment on the grid, not whenever its round
    # trips to the log end (1.5-5 ms, as Redis is busy): a fixed beat at the players, for a few
    # ms of latency (the server's jitter buffer). A tick ready later goes out when ready.
    send_after: ClassVar[float] = 0.015
    # A finished match's result waits this long past its last tick's `due`, so that every
    # process has sent that tick (TickPublisher.others_after) before the result follows it.
    settle: ClassVar[float] = 0.020
    # The longest a tick waits for the log. Past a lease (games.store.LEASE_MS) its commits
    # would be refused anyway: a log that hangs stops the runners, as one that fails does.
    log_timeout: ClassVar[float] = 0.7

    def __init__(self, log: Log) -> None:
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.runners: dict[int, tuple[Runner, asyncio.Future[bool]]] = {}
        # Runners whose match is over and committed, waiting `settle` before the result.
        self.settling: set[asyncio.Future[bool]] = set()
        self.task: asyncio.Task | None = None
        self.offset: float | None = None  # seconds into each period; taken once per clock

    async def run(self, runner: Runner) -> bool:
        """Tick `runner`'s match until it is finished (True) or its lease is lost (False)."""
        done: asyncio.Future[bool] = self.loop.create_future()
        previous = self.runners.get(runner.game_id)
        if previous is not None and not previous[1].done():
            previous[1].set_result(False)  # a runner of the same game replaces it: it stops
        self.runners[runner.game_id] = (runner, done)
        if self.task is None or self.task.done():
            # A context of its own, not that of the runner that happened to start it.
            self.task = self.loop.create_task(self._tick_all(), context=contextvars.Context())
            self.task.add_done_callback(self._stopped)
        try:
            return await done
        finally:
            if self.runners.get(runner.game_id, (None,))[0] is runner:
                del self.runners[runner.game_id]

    def _settled(self, done: asyncio.Future[bool]) -> None:
        """A finished match's last tick has gone out everywhere: its runner stores the result."""
        self.settling.discard(done)
        if not done.done():
            done.set_result(True)

    def _stopped(self, task: asyncio.Task) -> None:
        """The tick loop ended: no runner still registered may wait for it forever."""
        if self.runners and task is self.task:
            error = task.exception() if not task.cancelled() else None
            for _, done in self.runners.values():
                if not done.done():
                    done.set_exception(error or RuntimeError("the clock stopped"))

    async def _tick_all(self) -> None:
        if self.offset is None:
            # Each process ticks at its own offset on the 50 ms grid. Were they all to tick at
            # the same moment, each process would get the others' ticks while it sends its
            # own, in whichever order they came: a tick that came second waits for the whole
            # other burst (measured: a p50 jitter at the sockets of 1.9 ms, against 0.9 ms half
            # a period apart). Offsets by the golden ratio keep clocks started in a row apart.
            try:
                async with asyncio.timeout(self.log_timeout):
                    number = await self.log.clock_number()
                self.offset = clock_offset(number) * self.interval
            except Exception:  # the log is unreachable: the first tick tells every runner
                self.offset = 0.0
        offset = self.offset
        next_at = (math.floor(time.monotonic() / self.interval) + 1) * self.interval + offset
        while self.runners:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._tick(next_at)
            except Exception as error:
                # The log is unreachable: every runner stops and lets its lease lapse (one
                # whose match is over goes on to store the result).
                for _, done in list(self.runners.values()):
                    if not done.done() and done not in self.settling:
                        done.set_exception(error)
                await asyncio.sleep(0)  # let them leave before the next tick
            # A fixed schedule, not a fixed sleep: a slow tick does not delay the next ones;
            # after a stall the schedule starts again from the grid instead of rushing.
            next_at += self.interval
            if next_at < time.monotonic() - self.interval:
                next_at = math.floor(time.monotonic() / self.interval) * self.interval + offset

    async def _tick(self, at: float | None = None) -> None:
        """One tick of every match, for the moment `at` on the grid (time.monotonic(); now if
        None): its frames go out `send_after` later."""
        at = time.monotonic() if at is None else at
        due = time.time() + (at - time.monotonic()) + self.send_after  # Tick.due: epoch seconds
        # A finished match waits for its result (`settle`): it takes no more ticks.
        ticking = [(r, done) for r, done in self.runners.values()
                   if not done.done() and done not in self.settling]  # fmt: skip
        if not ticking:
            return
        # Inputs are taken just before the tick, so a turn waits at most one interval.
        async with asyncio.timeout(self.log_timeout):
            inputs = await self.log.drain([r.game_id for r, _ in ticking])
        stepped: list[tuple[Runner, asyncio.Future[bool], Tick]] = []
        for (runner, done), items in zip(ticking, inputs, strict=True):
            if done.done():
                continue  # the runner was cancelled meanwhile
            try:
                for seat, seq, value in items:
                    runner.match.submit(seat, seq, value)
                stepped.append((runner, done, runner.match.advance()))
            except Exception as error:  # a bug in one game's rules stops that game alone
                done.set_exception(error)
        async with asyncio.timeout(self.log_timeout):
            committed = await self.log.commit([
                Checkpoint(r.game_id, r.token, tick.number, tick.entry) for r, _, tick in stepped
            ])  # fmt: skip
        for (runner, done, tick), ok in zip(stepped, committed, strict=True):
            if done.done():
                continue  # the runner was cancelled meanwhile
            if not ok:
                done.set_result(False)
                continue
            tick.due = due
            try:
                await runner.host.publish(runner.game_id, tick)
            except Exception as error:  # a tick that cannot be sent stops its game alone
                if not done.done():
                    done.set_exception(error)
                continue
            if runner.match.finished and not done.done():
                # Its result after the last tick's frames, on every process.
                wait = at + self.send_after + self.settle - time.monotonic()
                self.settling.add(done)
                self.loop.call_later(max(0.0, wait), self._settled, done)


def clock_offset(number: int) -> float:
    """Where clock `number` ticks within the period, as a fraction of it: any clocks started
    in a row are spread out (1: 0.62, 2: 0.24, 3: 0.85, 4: 0.47, ...)."""
    return (number * GOLDEN) % 1


_clocks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Clock]]" = (
    weakref.WeakKeyDictionary()
)


def clock_for(log: Log) -> Clock:
    """The clock of the running event loop for games checkpointed in `log`."""
    clocks = _clocks.setdefault(asyncio.get_running_loop(), {})
    if log not in clocks:
        clocks[log] = Clock(log)
    return clocks[log]
