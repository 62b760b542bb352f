"""`python -m bench.games`: room games at scale, and the floor beside them.

100 concurrent games of light cycles, 4 players each, at 20 Hz, over two Daphne processes and
Redis (each game's sockets on both processes; every player a bot that steers away from walls).
For the window it reports: tick interval jitter at the players (|interval - 50 ms|: p50, p99,
max), input-to-visible latency (a turn sent until a tick acks it: p50, p99), bytes per second
per player, server CPU per game-second, and ticks lost or repeated at any socket. Beside it,
the floor: a bare asyncio loop ticking the same games (games.engine.Match, one task per game,
the runner's schedule) in one process with no sockets, Redis or database.

Jitter is taken from each socket's kernel receive timestamps (SO_TIMESTAMPNS): when a frame
reached the player's machine, not when this one process, 400 players, got round to reading it
(that figure is kept beside it as `harness_jitter_*`). The bots run on a core of their own
(the last one) and the servers and Redis on the others, as players on machines of their own
would (`place_apart`); `--shared-cores` lets them share every core, as before 2026-12-08.

Writes bench/results/games-<UTC time>.json and prints a table. The machine's other load shows
in the figures: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import gc
import json
import os
import random
import socket
import statistics
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Frame, Opcode

from bench.procstat import cpu_by_pid, cpu_seconds, pin, place_apart
from bench.servers import LoggedDaphne
from games.engine import Match
from tests.support import procs
from tests.support.clients import Rest, connect_socket, login

RESULTS = Path(__file__).resolve().parent / "results"
TICK_MS = 50.0
STEPS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
SIDES = {"up": ("left", "right"), "down": ("right", "left"),
         "left": ("down", "up"), "right": ("up", "down")}  # fmt: skip


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))], 2)


def free_run(walls: set, x: int, y: int, direction: str, size: int, limit: int = 12) -> int:
    """How many cells a cycle at (x, y) could go in `direction` before a wall or the edge."""
    dx, dy = STEPS[direction]
    for n in range(1, limit + 1):
        cx, cy = x + dx * n, y + dy * n
        if not (0 <= cx < size and 0 <= cy < size) or (cx, cy) in walls:
            return n - 1
    return limit


def steer(walls: set, x: int, y: int, heading: str, size: int, rng: random.Random) -> str | None:
    """A bot's turn: away from a wall two cells ahead (a turn lands a tick or two late), and
    now and then at random; None to go on."""
    ahead = free_run(walls, x, y, heading, size)
    if ahead > 3 and rng.random() > 0.03:
        return None
    options = [(free_run(walls, x, y, side, size), side) for side in SIDES[heading]]
    best_run, best = max(options)
    return best if best_run > ahead or ahead <= 3 else None


# Linux: SO_TIMESTAMPNS (asm-generic), also the type of its cmsg. Python does not name it.
SO_TIMESTAMPNS = 35


class KernelStampedSocket(socket.socket):
    """A TCP socket that keeps when the kernel received the last bytes it read (SO_TIMESTAMPNS,
    wall-clock seconds): when the frame reached the player's machine, however long this one
    harness process, 400 players on cores it shares with the servers, took to get to it."""

    received_at: float | None = None

    def enable(self) -> KernelStampedSocket:
        self.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return self

    def recv(self, size: int, flags: int = 0) -> bytes:  # what asyncio's transport calls
        data, ancillary, _, _ = self.recvmsg(size, socket.CMSG_SPACE(16), flags)
        # None when the kernel stamped nothing: the first socket to ask turns stamping on for
        # the machine a moment later (a deferred kernel work item).
        self.received_at = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", payload)
                self.received_at = seconds + nanoseconds / 1e9
        return data


async def kernel_stamped(server) -> KernelStampedSocket:
    """A connected socket to `server` that stamps what it receives."""
    sock = KernelStampedSocket(socket.AF_INET, socket.SOCK_STREAM).enable()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    return sock


class StampedConnection(ClientConnection):
    """A client socket that keeps, for each text frame, when it was read off the wire: by the
    kernel (its socket's receive timestamp) and by this process's loop (`data_received`,
    before this process's 400 bots queue behind each other to handle it)."""

    def __init__(self, *args, sock: KernelStampedSocket, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock = sock
        self.read_at: tuple[float, float | None] = (0.0, None)
        self.stamps: collections.deque[tuple[float, float | None]] = collections.deque()

    def data_received(self, data: bytes) -> None:
        self.read_at = (time.perf_counter(), self.sock.received_at)
        super().data_received(data)

    def process_event(self, event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            self.stamps.append(self.read_at)
        super().process_event(event)


@dataclass
class Bot:
    """One player's socket: what it received, and its turns' round trips."""

    name: str
    size: int
    seat: int | None = None
    ticks: list[int] = field(default_factory=list)
    arrivals: list[float | None] = field(default_factory=list)  # the kernel's receive times
    read_at: list[float] = field(default_factory=list)  # the harness loop's, perf_counter
    bytes_in: int = 0
    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    finished: bool = False


async def receive(ws: StampedConnection) -> dict:
    """The next frame, outside the measured play (its stamp is dropped)."""
    text = await ws.recv()
    ws.stamps.popleft()
    return json.loads(text)


async def play(bot: Bot, ws, state: dict, window: list[float], rng: random.Random) -> None:
    """Steer one cycle from its `state` until the result; `window` (set later, in place)
    bounds what counts."""
    bot.seat = state["you"]
    walls = {(x, y) for x, y, _ in state["cells"]}
    mine = [(x, y) for x, y, s in state["cells"] if s == bot.seat]
    head, heading = (mine[-1] if mine else None), None
    seq = acked = 0
    async for text in ws:
        now, received_at = ws.stamps.popleft()
        frame = json.loads(text)
        if window[0] <= now <= window[1]:
            bot.bytes_in += len(text) + 2  # payload and the smallest WebSocket header
        kind = frame["type"]
        if kind == "state":
            bot.seat = frame["you"]
            walls = {(x, y) for x, y, _ in frame["cells"]}
            mine = [(x, y) for x, y, s in frame["cells"] if s == bot.seat]
            head = mine[-1] if mine else None
        elif kind == "tick":
            bot.ticks.append(frame["tick"])
            bot.arrivals.append(received_at)
            bot.read_at.append(now)
            for seat, x, y, alive in frame["moves"]:
                if alive:
                    walls.add((x, y))
                if seat == bot.seat:
                    if head is not None and alive:
                        heading = next(
                            d for d, s in STEPS.items() if s == (x - head[0], y - head[1])
                        )
                    head = (x, y) if alive else None
            for n in range(acked + 1, frame["ack"] + 1):
                if n in bot.sent and window[0] <= bot.sent[n] <= window[1]:
                    bot.latencies.append((now - bot.sent[n]) * 1000)
            acked = max(acked, frame["ack"])
            if head is not None and heading is not None:
                turn = steer(walls, *head, heading, bot.size, rng)
                if turn is not None:
                    seq += 1
                    bot.sent[seq] = time.perf_counter()
                    await ws.send(json.dumps({"type": "turn", "dir": turn, "seq": seq}))
                    heading = turn  # as far as this bot's next choice goes
        elif kind == "result":
            bot.finished = True
            return


def tick_figures(bots: list[Bot], window: list[float]) -> dict:
    """Jitter (|interval - 50 ms| between a socket's consecutive ticks) and lost or repeated
    ticks, at every socket. Jitter is taken from the kernel's receive times, when each frame
    reached the player's machine; `harness_jitter_*` from when this process's loop read it,
    which adds the harness's own queueing (one process for 400 players, on the servers'
    cores). Both count the ticks the loop read within the window."""
    jitter, harness, unstamped, lost, repeated = [], [], 0, 0, 0
    for bot in bots:
        pairs = zip(bot.ticks, bot.ticks[1:], bot.arrivals, bot.arrivals[1:], bot.read_at,
                    bot.read_at[1:], strict=False)  # fmt: skip
        for n_a, n_b, a, b, read_a, read_b in pairs:
            if n_b == n_a + 1 and window[0] <= read_a and read_b <= window[1]:
                harness.append(abs((read_b - read_a) * 1000 - TICK_MS))
                if a is None or b is None:
                    unstamped += 1
                else:
                    jitter.append(abs((b - a) * 1000 - TICK_MS))
        for a, b in zip(bot.ticks, bot.ticks[1:], strict=False):
            lost += max(0, b - a - 1)
            repeated += b <= a
    return {"jitter_ms_p50": percentile(jitter, 0.5), "jitter_ms_p99": percentile(jitter, 0.99),
            "jitter_ms_max": percentile(jitter, 1.0),
            "harness_jitter_ms_p50": percentile(harness, 0.5),
            "harness_jitter_ms_p99": percentile(harness, 0.99),
            "harness_jitter_ms_max": percentile(harness, 1.0),
            "intervals_unstamped": unstamped,
            "ticks_lost": lost, "ticks_repeated": repeated}  # fmt: skip


async def served(
    games: int, players: int, size: int, warmup: float, duration: float, shared_cores: bool
) -> dict:
    names = [f"gamer{i:04d}" for i in range(games * players)]
    cores = os.sched_getaffinity(0)
    with procs.RedisServer() as redis, procs.sqlite_database() as database:
        env = procs.app_env(
            database_url=database, redis_url=redis.url,
            SWITCHBOARD_REST_WRITE_RATE="100000/min", SWITCHBOARD_CHAT_SEND_RATE="100000/minute",
            SWITCHBOARD_GAME_COUNTDOWN_SECONDS="1", SWITCHBOARD_LOG_LEVEL="WARNING",
        )  # fmt: skip
        procs.manage(env, "migrate", "-v0")
        procs.create_users(env, *names)
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        with (
            LoggedDaphne(env, RESULTS / f"games-{stamp}-one.log") as one,
            LoggedDaphne(env, RESULTS / f"games-{stamp}-two.log") as two,
        ):
            servers = [one, two]
            if shared_cores:
                placement = "the bots share every core with the servers and Redis"
            else:
                # The bots stand for players on machines of their own. Sharing the cores, they
                # woke for every tick's frames just as a server was sending them, and the
                # kernel (250 Hz here) let whichever it picked run a whole 4 ms tick: measured
                # with `perf sched`, most of the servers' 4 ms waits in the middle of a tick
                # were the bots' process on their core. SCHED_IDLE did not keep them off.
                placement = place_apart([redis.proc.pid, one.pid, two.pid], [os.getpid()], cores)
            gate = asyncio.Semaphore(8)

            async def log_in(name):
                async with gate:
                    return await login(one.http, name)

            accounts = await asyncio.gather(*(log_in(n) for n in names))
            async with Rest(one, accounts[0]) as rest:
                slug = (await rest.create_room(name="Arcade"))["slug"]
            bots: list[Bot] = []
            tasks = []
            start = time.perf_counter()
            window = [start + 1e9, start + 2e9]  # set, in place, once every game runs
            rng = random.Random(7)
            sockets = []
            for g in range(games):
                group = accounts[g * players : (g + 1) * players]
                async with Rest(one, group[0]) as rest:
                    game = await rest.post(f"/api/rooms/{slug}/games/",
                                           {"width": size, "height": size}, 201)  # fmt: skip
                opened, states = [], []
                for p, account in enumerate(group):
                    server = servers[(g + p) % 2]
                    # No flow control: a bot that falls behind must not stop the reading
                    # (and so the timing) of its socket.
                    sock = await kernel_stamped(server)
                    ws = await connect_socket(
                        server, f"/ws/games/{game['id']}/", account, sock=sock, max_queue=None,
                        create_connection=functools.partial(StampedConnection, sock=sock),
                    )  # fmt: skip
                    state = await receive(ws)
                    if state["you"] is None:
                        await ws.send(json.dumps({"type": "join"}))
                        while (state := await receive(ws))["type"] != "state":
                            pass
                    opened.append(ws)
                    states.append(state)
                for p, (ws, state) in enumerate(zip(opened, states, strict=True)):
                    bot = Bot(f"g{g}p{p}", size)
                    bots.append(bot)
                    sockets.append(ws)
                    tasks.append(asyncio.create_task(play(bot, ws, state, window, rng)))
            # Every game starts at once, so all of them run through the window.
            for creator in sockets[::players]:
                await creator.send(json.dumps({"type": "start"}))
            await asyncio.sleep(1 + warmup)  # the last countdown, then the warm-up  # sleep-ok
            # The bots are the instrument: a collection of their own heap (tens of ms with 400
            # sockets) would show as jitter that no server caused.
            gc.collect()
            gc.freeze()
            gc.disable()
            try:
                # The frames that queued up during that collection are read late, and then two
                # at once: the window opens once they are gone.
                await asyncio.sleep(1)  # sleep-ok: lets the harness catch up
                t0 = time.perf_counter()
                window[:] = [t0, t0 + duration]
                cpu0 = cpu_by_pid([s.pid for s in servers])
                harness0 = cpu_seconds_self()
                running0 = sum(1 for b in bots[::players] if not b.finished)
                await asyncio.sleep(duration)  # the measured window  # sleep-ok
                cpu1 = cpu_by_pid([s.pid for s in servers])
                harness = cpu_seconds_self() - harness0
                running1 = sum(1 for b in bots[::players] if not b.finished)
            finally:
                gc.enable()
                gc.unfreeze()
            for ws in sockets:
                await ws.close()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            # A bot that was sending a turn as the harness closed its socket ended normally.
            failed = [
                o for o in outcomes
                if isinstance(o, BaseException) and not isinstance(o, ConnectionClosedOK)
            ]  # fmt: skip
            for error in failed[:3]:
                print(f"a bot failed: {error!r}")  # noqa: T201
            trouble = sum(s.trouble()[0] for s in servers)
    pin([os.getpid()], cores)  # the floor runs alone: on any core
    cpu = sum(cpu1[p] - cpu0[p] for p in cpu1)
    game_seconds = (running0 + running1) / 2 * duration
    latencies = [ms for b in bots for ms in b.latencies]
    return {
        "games": games, "players": players, "board": size, "duration_s": duration,
        "placement": placement,
        "games_running_at_start": running0, "games_running_at_end": running1,
        **tick_figures([b for b in bots], window),
        "input_to_visible_ms_p50": percentile(latencies, 0.5),
        "input_to_visible_ms_p99": percentile(latencies, 0.99),
        "turns_measured": len(latencies),
        "bytes_per_s_per_player": round(statistics.mean(b.bytes_in / duration for b in bots), 1),
        "server_cpu_s": round(cpu, 2),
        "harness_cpu_s": round(harness, 2),  # the bots' process, on the same cores
        "server_cpu_ms_per_game_second": (
            round(cpu * 1000 / game_seconds, 3) if game_seconds else None
        ),
        "server_log_trouble_lines": trouble,
        "bots_failed": len(failed),  # each one a socket not measured
    }  # fmt: skip


async def floor(games: int, players: int, size: int, duration: float) -> dict:
    """The same games ticked by a bare asyncio loop in this process: no sockets, no Redis."""
    rng = random.Random(7)
    arrivals: list[list[float]] = [[] for _ in range(games)]
    matches = [Match.new("cycles", width=size, height=size, seats=players, seed=g)
               for g in range(games)]  # fmt: skip
    seqs = [[0] * players for _ in range(games)]
    stop_at = time.perf_counter() + duration

    async def run(g: int) -> None:
        match = matches[g]
        next_at = time.monotonic() + TICK_MS / 1000
        while time.perf_counter() < stop_at and not match.finished:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for seat in range(players):
                if rng.random() < 0.1:
                    seqs[g][seat] += 1
                    match.submit(seat, seqs[g][seat], rng.choice(list(STEPS)))
            tick = match.advance()
            tick.head()  # the frame is encoded once per tick, as the runner does
            arrivals[g].append(time.perf_counter())
            next_at = max(next_at + TICK_MS / 1000, time.monotonic() - TICK_MS / 1000)

    cpu0 = cpu_seconds_self()
    started = time.perf_counter()
    await asyncio.gather(*(run(g) for g in range(games)))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds_self() - cpu0
    jitter = [abs((b - a) * 1000 - TICK_MS) for times in arrivals
              for a, b in zip(times, times[1:], strict=False)]  # fmt: skip
    game_seconds = sum(len(t) for t in arrivals) * TICK_MS / 1000
    return {
        "games": games, "jitter_ms_p50": percentile(jitter, 0.5),
        "jitter_ms_p99": percentile(jitter, 0.99), "jitter_ms_max": percentile(jitter, 1.0),
        "elapsed_s": round(elapsed, 2),
        "cpu_ms_per_game_second": round(cpu * 1000 / game_seconds, 3),
    }  # fmt: skip


def cpu_seconds_self() -> float:
    return cpu_seconds(os.getpid())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-g", "--games", type=int, default=100)
    parser.add_argument("-p", "--players", type=int, default=4)
    parser.add_argument("-s", "--size", type=int, default=128)
    parser.add_argument("-d", "--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--quick", action="store_true", help="10 games, 5 s")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the bots run on the servers' cores too")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.games, args.duration = 10, 5
    figures = {
        "switchboard": asyncio.run(
            served(args.games, args.players, args.size, args.warmup, args.duration,
                   args.shared_cores)  # fmt: skip
        ),
        "floor": asyncio.run(floor(args.games, args.players, args.size, args.duration)),
        "targets": {"jitter_ms_p99": 5, "input_to_visible_ms_p99": 100, "intervals_unstamped": 0,
                    "bytes_per_s_per_player": 2048, "ticks_lost": 0, "ticks_repeated": 0,
                    "bots_failed": 0},
    }  # fmt: skip
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(figures, indent=2)
    (RESULTS / f"games-{stamp}.json").write_text(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
