"""Fan-out benchmark: Switchboard's per-process hub beside three baselines.

    python -m bench.fanout [-n SUBSCRIBERS] [-r RATE] [-d SECONDS] [--systems A,B] [--quick]

For each system in turn: a private redis-server, two server processes, N subscriber sockets in
one room split across the two, and publishers sending `message.send` frames at a fixed total
rate. The baselines: the Channels tutorial shape, a bare ASGI broadcast under Daphne, and the
`websockets` library's broadcast. bench/README.md says what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import procstat
from bench.accounts import PASSWORD, ROOM, Accounts
from bench.clients import Publisher, SocketSpec, WorkerSpec, open_socket, publish, worker_main
from bench.report import merge_counts, percentile_ms, problem_lines, ratios, summarize, table
from bench.servers import BareAsgiDaphne, LoggedDaphne, TutorialDaphne, WebsocketsServer
from tests.support import procs
from tests.support.timing import within

RESULTS = Path(__file__).resolve().parent / "results"
SECRET_KEY = "bench-only-secret-key-shared-by-both-apps-0123456789"
SERVERS = 2
PUBLISHER_RATE = 1.0  # messages/s per publisher user, under Switchboard's chat send rate
CALM_CORES = 0.05  # servers below this are considered idle
DRAIN_STALL = 5.0  # seconds without a new delivery after which the drain gives up
BUSY_MACHINE = 0.25  # cores used by processes outside the benchmark that make figures doubtful


@dataclass
class System:
    name: str
    server_class: type[LoggedDaphne]
    ws_path: str
    wait_hello: bool  # does a socket announce that it is subscribed (Switchboard's hello)?
    sessions: bool  # does it authenticate sockets by Django session (so users must log in)?
    env_extra: dict[str, str] = field(default_factory=dict)
    mix: bool = False  # publishers also reply and react (bench.clients.MIX_EVERY)


SYSTEMS = {
    system.name: system
    for system in [
        System("switchboard", LoggedDaphne, f"/ws/rooms/{ROOM}/", wait_hello=True, sessions=True),
        # The same, with replies and reactions in the traffic: each reply also sends every
        # socket the parent's new reply count, each reaction the message's reactions.
        System(
            "switchboard-mix",
            LoggedDaphne,
            f"/ws/rooms/{ROOM}/",
            wait_hello=True,
            sessions=True,
            mix=True,
        ),
        # The same app on channels_redis's pub/sub layer instead of its core layer.
        System(
            "switchboard-pubsub",
            LoggedDaphne,
            f"/ws/rooms/{ROOM}/",
            wait_hello=True,
            sessions=True,
            env_extra={"DJANGO_SETTINGS_MODULE": "bench.pubsub_settings"},
        ),
        System(
            "tutorial",
            TutorialDaphne,
            f"/ws/chat/{ROOM}/",
            wait_hello=False,
            sessions=True,
            env_extra={"DJANGO_SETTINGS_MODULE": "bench.tutorial.settings"},
        ),
        # The floors put the socket in the room as the handshake completes, with no await in
        # between (the tutorial joins its group before accept): a finished handshake means
        # subscribed.
        System("bare-asgi", BareAsgiDaphne, f"/ws/rooms/{ROOM}/", wait_hello=False, sessions=False),
        System(
            "websockets", WebsocketsServer, f"/ws/rooms/{ROOM}/", wait_hello=False, sessions=False
        ),
    ]
}


@dataclass
class Config:
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    subscribers: int = 500
    rate: float = 2.0
    duration: float = 20.0
    warmup: float = 5.0
    idle: float = 5.0
    workers: int = 2
    sockets_per_user: int = 10
    connect_concurrency: int = 32
    drain_timeout: float = 60.0
    wait_quiet: float = 300.0

    @property
    def measured_messages(self) -> int:
        return max(1, round(self.rate * self.duration))

    @property
    def warmup_messages(self) -> int:
        return max(1, round(self.rate * self.warmup))

    @property
    def subscriber_users(self) -> int:
        return math.ceil(self.subscribers / self.sockets_per_user)

    @property
    def publishers(self) -> int:
        """At least one per server process, so that both have served a socket before RSS."""
        return max(SERVERS, math.ceil(self.rate / PUBLISHER_RATE))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class WorkerPool:
    """The subscriber processes (spawned, each with its own asyncio loop) and their pipes."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for spec in specs:
            ours, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, spec), daemon=True)
            process.start()
            theirs.close()  # so that a dead worker turns our recv into EOFError
            self.pipes.append(ours)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def ask(self, message: Any, seconds: float) -> list[Any]:
        """Send `message` (None: nothing) to every worker and gather their answers in time."""
        if message is not None:
            for pipe in self.pipes:
                pipe.send(message)
        replies = [asyncio.to_thread(pipe.recv) for pipe in self.pipes]
        return await within(asyncio.gather(*replies), seconds)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.close()  # a worker still waiting for a command gets EOFError and exits
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()


def worker_specs(cfg: Config, system: System, accounts: Accounts, servers: list[LoggedDaphne]):
    """Subscriber i is served by process i % 2; consecutive sockets share a user (so each user
    is on both processes), and each worker gets an even share of both processes' sockets."""
    shares: list[list[SocketSpec]] = [[] for _ in range(cfg.workers)]
    for i in range(cfg.subscribers):
        server = servers[i % SERVERS]
        cookie = accounts.subscribers[i // cfg.sockets_per_user]
        spec = SocketSpec(i, f"{server.ws}{system.ws_path}", cookie, server.http)
        shares[(i // SERVERS) % cfg.workers].append(spec)
    return [WorkerSpec(share, system.wait_hello, cfg.connect_concurrency) for share in shares]


class Measurement:
    """One system's run, phase by phase, against servers that are already up."""

    def __init__(
        self,
        system: System,
        cfg: Config,
        accounts: Accounts,
        servers: list[LoggedDaphne],
        redis: procs.RedisServer,
    ) -> None:
        self.system, self.cfg, self.accounts = system, cfg, accounts
        self.servers = servers
        self.app_pids = [s.pid for s in servers]
        self.redis_pid = redis.proc.pid
        self.server_pids = [*self.app_pids, self.redis_pid]
        self.figures: dict[str, Any] = {"subscribers": cfg.subscribers}
        self.k0 = cfg.warmup_messages
        self.k1 = self.k0 + cfg.measured_messages

    def phase(self, name: str, what: str) -> None:
        self.timeline.mark(name)
        log(f"{self.system.name}: {what}")

    def rss(self) -> int:
        return sum(server.rss_bytes() for server in self.servers)

    async def run(self) -> dict[str, Any]:
        self.timeline = procstat.CpuTimeline(self.server_pids)
        self.publishers = await self.open_publishers()
        pool = WorkerPool(worker_specs(self.cfg, self.system, self.accounts, self.servers))
        try:
            await pool.ask(None, 60)  # each says "ready"
            await self.connect(pool)
            await self.settle_and_idle()
            await self.publish_and_measure(pool)
            finished = await self.drain(pool)
        finally:
            pool.stop()
            self.figures["server_cpu_timeline"] = await self.timeline.stop()
        self.publishers_closed_early = [
            p.closed_early for p in self.publishers if p.closed_early is not None
        ]
        await asyncio.gather(*(p.close() for p in self.publishers))
        self.tally(finished, self.teardown_from)
        return self.figures

    async def open_publishers(self) -> list[Publisher]:
        sockets = []
        for i, cookie in enumerate(self.accounts.publishers):
            server = self.servers[i % SERVERS]
            url = f"{server.ws}{self.system.ws_path}"
            sockets.append(await open_socket(url, cookie, server.http, self.system.wait_hello))
        return [Publisher(ws, self.system.mix).start() for ws in sockets]

    async def connect(self, pool: WorkerPool) -> None:
        cfg, f = self.cfg, self.figures
        self.rss_before = self.rss()
        self.connect_cpu0 = procstat.cpu_by_pid(self.server_pids)
        self.phase("connect", f"opening {cfg.subscribers} subscriber sockets")
        self.connected = await pool.ask("connect", 120 + cfg.subscribers / 5)
        opened = sum(c["opened"] for c in self.connected)
        started = min(c["started"] for c in self.connected)
        seconds = (max(c["ended"] for c in self.connected) - started) / 1e9
        f["opened"] = opened
        f["connect_seconds"] = round(seconds, 3)
        f["connects_per_second"] = round(opened / seconds, 1) if seconds else None

    async def settle_and_idle(self) -> None:
        """Wait for the servers to finish what the connects set off, read RSS, then measure what
        they burn holding the sockets with no traffic (timers, heartbeats, pings)."""
        cfg, f = self.cfg, self.figures
        self.phase("settle", "waiting for the servers to calm down")
        # What connects set off grows with the sockets (Switchboard's presence frames go to
        # every socket of the room), so the wait does too.
        limit = 60 + cfg.subscribers / 50
        f["settle_seconds"] = round(await self.timeline.wait_calm(CALM_CORES, limit), 1)
        f["settled"] = f["settle_seconds"] < limit
        cpu = procstat.cpu_by_pid(self.server_pids)
        used = sum(cpu[p] - self.connect_cpu0[p] for p in self.server_pids)
        f["cpu_ms_per_connect"] = round(used * 1e3 / max(f["opened"], 1), 2)
        rss_after = self.rss()
        f["rss_kib_per_socket"] = round(
            (rss_after - self.rss_before) / max(f["opened"], 1) / 1024, 1
        )
        f["rss_mib_app_before"] = round(self.rss_before / 2**20, 1)
        f["rss_mib_app_after"] = round(rss_after / 2**20, 1)

        self.phase("idle", f"{cfg.idle:g} s idle with {f['opened']} sockets open")
        before, t0 = procstat.cpu_by_pid(self.server_pids), time.monotonic()
        await asyncio.sleep(cfg.idle)
        after, t1 = procstat.cpu_by_pid(self.server_pids), time.monotonic()
        self.idle_cores = sum(after[p] - before[p] for p in self.server_pids) / (t1 - t0)

    async def publish_and_measure(self, pool: WorkerPool) -> None:
        cfg = self.cfg
        self.phase("warmup", f"warm-up, {self.k0} messages at {cfg.rate:g}/s")
        start = time.monotonic() + 0.2
        await publish(self.publishers, 0, self.k0, cfg.rate, start)
        window_start = start + self.k0 / cfg.rate
        await sleep_until(window_start)

        n = self.k1 - self.k0
        self.phase("measure", f"measuring, {n} messages at {cfg.rate:g}/s")
        self.watched = [*self.server_pids, *pool.pids, os.getpid()]
        self.machine0 = procstat.machine_busy_seconds()
        self.cpu0, self.t0 = procstat.cpu_by_pid(self.watched), time.monotonic_ns()
        await publish(self.publishers, self.k0, n, cfg.rate, window_start)
        await sleep_until(window_start + n / cfg.rate)
        self.cpu1, self.t1 = procstat.cpu_by_pid(self.watched), time.monotonic_ns()
        self.machine1 = procstat.machine_busy_seconds()

    async def drain(self, pool: WorkerPool) -> list[dict[str, Any]]:
        """Wait for late deliveries while they keep coming (bounded), then collect every
        worker's receipts. A server that is behind is given time: what never comes is lost."""
        self.phase("drain", "waiting for the last deliveries")
        expected = self.figures["opened"] * (self.k1 - self.k0)
        deadline = time.monotonic() + self.cfg.drain_timeout
        received, progress_at = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - progress_at < DRAIN_STALL:
            now_received = sum(await pool.ask(("count", self.k0, self.k1), 30))
            if now_received >= expected:
                break
            if now_received != received:
                received, progress_at = now_received, time.monotonic()
            await asyncio.sleep(0.2)
        self.teardown_from = [s.log_offset() for s in self.servers]
        self.phase("finish", "closing the subscriber sockets")
        return await pool.ask("finish", 60)

    def tally(self, finished: list[dict[str, Any]], teardown_from: list[int]) -> None:
        f = self.figures
        cpu = {pid: self.cpu1[pid] - self.cpu0[pid] for pid in self.watched}
        window = (self.t1 - self.t0) / 1e9
        figures = summarize(
            [w["records"] for w in finished], self.k0, self.k1, self.t0, self.t1, SERVERS
        )
        deliveries = max(figures.pop("in_window"), 1)
        # Every frame the subscribers got in the window: the messages and what else the
        # traffic sends them (with the mix: reply counts and reactions).
        others = sum(1 for w in finished for ns in w["mix_received"] if self.t0 <= ns <= self.t1)
        server_cpu = sum(cpu[p] for p in self.server_pids)
        ours = sum(cpu.values())

        def us_per_delivery(seconds: float) -> float:
            return round(seconds * 1e6 / deliveries, 2)

        f.update(
            messages=self.k1 - self.k0,
            window_seconds=round(window, 3),
            deliveries_in_window=deliveries,
            frames_in_window=deliveries + others,
            cpu_us_per_delivery=us_per_delivery(server_cpu),
            cpu_us_per_frame=round(server_cpu * 1e6 / (deliveries + others), 2),
            cpu_us_per_delivery_app=us_per_delivery(sum(cpu[p] for p in self.app_pids)),
            cpu_us_per_delivery_redis=us_per_delivery(cpu[self.redis_pid]),
            cpu_us_per_delivery_above_idle=us_per_delivery(server_cpu - self.idle_cores * window),
            server_cores_busy=round(server_cpu / window, 3),
            server_cores_busy_idle=round(self.idle_cores, 3),
            client_cores_busy=round((ours - server_cpu) / window, 3),
            other_cores_busy=round(max(self.machine1 - self.machine0 - ours, 0) / window, 3),
            **figures,
        )
        f["expected_deliveries"] = f["opened"] * (self.k1 - self.k0)
        f["lost"] = f["expected_deliveries"] - f["received"]
        own = sorted(
            ns for p in self.publishers for k, ns in p.own_copies.items() if self.k0 <= k < self.k1
        )
        f["sender_copy_latency_ms_p50"] = percentile_ms(own, 0.5)
        f["sender_copy_latency_ms_max"] = percentile_ms(own, 1.0)
        f["other_frames_at_subscribers"] = other_frames([w["other_frames"] for w in finished])
        if self.system.mix:
            sent = {
                kind: [k for p in self.publishers for k in getattr(p, kind)]
                for kind in ("replies", "reactions")
            }
            f["mix_sent"] = {kind: len(ks) for kind, ks in sent.items()}
            f["mix_sent_in_window"] = {
                kind: sum(self.k0 <= k < self.k1 for k in ks) for kind, ks in sent.items()
            }
        f["problems"] = self.problems(finished, teardown_from)

    def problems(self, finished: list[dict[str, Any]], teardown_from: list[int]) -> dict:
        logs = []
        for server, split in zip(self.servers, teardown_from, strict=True):
            run_count, run_first = server.trouble(0, split)
            teardown_count, teardown_first = server.trouble(split)
            logs.append(
                {
                    "path": str(server.log_path),
                    "run_trouble": run_count,
                    "run_first": run_first,
                    "teardown_trouble": teardown_count,
                    "teardown_first": teardown_first,
                }
            )
        return {
            "failed_connects": merge_counts(c["failures"] for c in self.connected),
            "subscriber_error_frames": sum(w["error_frames"] for w in finished),
            "subscriber_error_samples": [s for w in finished for s in w["error_samples"]][:5],
            "unexpected_closes": merge_counts(w["unexpected_closes"] for w in finished),
            "publisher_error_frames": [e for p in self.publishers for e in p.error_frames][:5],
            "publishers_closed_early": self.publishers_closed_early,
            "servers_exited": [
                s.proc.returncode for s in self.servers if s.proc.poll() is not None
            ],
            "server_logs": logs,
        }


def other_frames(per_worker: list[dict[str, tuple[int, int]]]) -> dict[str, dict[str, float]]:
    """{type: {"frames", "mib"}} over all workers, from their {type: (frames, characters)}."""
    totals: dict[str, list[int]] = {}
    for counts in per_worker:
        for kind, (n, chars) in counts.items():
            total = totals.setdefault(kind, [0, 0])
            total[0] += n
            total[1] += chars
    return {k: {"frames": n, "mib": round(c / 2**20, 2)} for k, (n, c) in totals.items() if n}


async def wait_for_quiet(at_most: float) -> None:
    """Wait (at most `at_most` seconds) for the machine to be nearly idle before a system runs;
    on a shared machine, someone else's test run would otherwise be measured too."""
    started = time.monotonic()
    while True:
        before = procstat.machine_busy_seconds()
        await asyncio.sleep(2)
        cores = (procstat.machine_busy_seconds() - before) / 2
        if cores < BUSY_MACHINE:
            return
        if time.monotonic() - started >= at_most:
            log(f"the machine is still busy ({cores:.2f} cores); going on anyway")
            return
        log(f"the machine is busy ({cores:.2f} cores used by others); waiting")
        await asyncio.sleep(8)


async def run_system(
    system: System, cfg: Config, db_url: str, accounts: Accounts, log_dir: Path
) -> dict[str, Any]:
    await wait_for_quiet(cfg.wait_quiet)
    log(f"{system.name}: starting redis-server and {SERVERS} server processes")
    redis = procs.RedisServer().start()
    env = procs.app_env(
        database_url=db_url,
        redis_url=redis.url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        # All sockets come from 127.0.0.1: Switchboard's per-address cap must let them in.
        SWITCHBOARD_MAX_SOCKETS_PER_IP=str(max(1000, cfg.subscribers + cfg.publishers + 100)),
        **system.env_extra,
    )
    servers: list[LoggedDaphne] = []
    try:
        for i in range(SERVERS):
            server = system.server_class(env, log_dir / f"{system.name}-{i}.log")
            servers.append(server.start())
        return await Measurement(system, cfg, accounts, servers, redis).run()
    finally:
        for server in servers:
            server.stop()
        redis.kill()


async def log_in(cfg: Config, db_url: str, log_dir: Path) -> Accounts:
    """Create the users and log them in through a Switchboard process of its own, which no
    system under test then reuses; the tutorial reads the same sessions."""
    env = procs.app_env(database_url=db_url, DJANGO_SECRET_KEY=SECRET_KEY)
    log("migrating a fresh SQLite database and creating users")
    procs.manage(env, "migrate", "--noinput")
    publishers, subscribers = Accounts.usernames(cfg.publishers, cfg.subscriber_users)
    procs.create_users(env, *publishers, *subscribers, password=PASSWORD)
    log(f"logging in {len(publishers) + len(subscribers)} users, creating room '{ROOM}'")
    accounts = Accounts()
    with procs.RedisServer() as redis:
        env = procs.app_env(database_url=db_url, redis_url=redis.url, DJANGO_SECRET_KEY=SECRET_KEY)
        with LoggedDaphne(env, log_dir / "login.log") as server:
            await accounts.prepare(server.http, publishers, subscribers)
    return accounts


async def run(cfg: Config, log_dir: Path) -> dict[str, dict[str, Any]]:
    systems = [SYSTEMS[name] for name in cfg.systems]
    results: dict[str, dict[str, Any]] = {}
    with procs.sqlite_database() as db_url:
        if any(system.sessions for system in systems):
            accounts = await log_in(cfg, db_url, log_dir)
        else:  # the floors take anyone: no cookies
            accounts = Accounts([""] * cfg.publishers, [""] * cfg.subscriber_users)
        for system in systems:
            results[system.name] = await run_system(system, cfg, db_url, accounts, log_dir)
    return results


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description="Fan-out: Switchboard beside three baselines (bench/README.md).",
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"which to run, comma-separated, always in this order ({','.join(SYSTEMS)})",
    )
    parser.add_argument("-n", "--subscribers", type=int, help="subscriber sockets (500)")
    parser.add_argument("-r", "--rate", type=float, help="messages per second, in total (2)")
    parser.add_argument("-d", "--duration", type=float, help="measured seconds (20)")
    parser.add_argument("--warmup", type=float, help="seconds of publishing before that (5)")
    parser.add_argument("--idle", type=float, help="seconds of quiet measured before that (5)")
    parser.add_argument("--workers", type=int, default=2, help="subscriber processes (2)")
    parser.add_argument("--sockets-per-user", type=int, default=10, help="(10)")
    parser.add_argument("--connect-concurrency", type=int, default=32, help="per worker (32)")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds (60)")
    parser.add_argument(
        "--wait-quiet", type=float, default=300.0, help="seconds to wait for an idle machine (300)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 sockets, 5 s")
    args = parser.parse_args(argv)
    quick = {"subscribers": 100, "duration": 5.0, "warmup": 2.0, "idle": 2.0}
    systems = {name.strip() for name in args.systems.split(",") if name.strip()}
    if not systems or systems - SYSTEMS.keys():
        parser.error(f"--systems: choose from {', '.join(SYSTEMS)}")
    cfg = Config(
        systems=[name for name in SYSTEMS if name in systems],
        workers=args.workers,
        sockets_per_user=args.sockets_per_user,
        connect_concurrency=args.connect_concurrency,
        drain_timeout=args.drain_timeout,
        wait_quiet=args.wait_quiet,
    )
    for name in ("subscribers", "rate", "duration", "warmup", "idle"):
        value = getattr(args, name)
        if value is None and args.quick:
            value = quick.get(name)
        if value is not None:
            setattr(cfg, name, value)
    if min(cfg.subscribers, cfg.rate, cfg.duration, cfg.idle, cfg.workers) <= 0:
        parser.error("subscribers, rate, duration, idle and workers must be positive")
    if cfg.sockets_per_user > 20:
        parser.error("--sockets-per-user above 20 meets Switchboard's per-user socket cap")
    return cfg


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    # Many sockets: this process and every server and worker it starts may open all it can.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / "logs" / f"fanout-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)

    results = asyncio.run(run(cfg, log_dir))
    # Switchboard's figures over each baseline's, when Switchboard ran.
    rat = {
        name: ratios(results["switchboard"], result)
        for name, result in results.items()
        if "switchboard" in results and name not in {"switchboard", "switchboard-mix"}
    }
    # The mix against the same floors: does the bar still hold with replies and reactions?
    rat |= {
        f"mix/{name}": ratios(results["switchboard-mix"], result)
        for name, result in results.items()
        if "switchboard-mix" in results and name in {"switchboard", "bare-asgi", "websockets"}
    }
    report = {
        "benchmark": "fanout",
        "started_at": stamp,
        "config": {**asdict(cfg), "publishers": cfg.publishers, "server_processes": SERVERS},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "systems": results,
        "ratios_switchboard_over": rat,
    }
    text = json.dumps(report, indent=2)
    out = RESULTS / f"fanout-{stamp}.json"
    out.write_text(text)
    (RESULTS / "latest.json").write_text(text)

    print(
        f"\nFan-out: {cfg.subscribers} subscribers in one room on {SERVERS} server processes, "
        f"{cfg.rate:g} msg/s from {cfg.publishers} publishers, {cfg.duration:g} s measured "
        f"(after {cfg.warmup:g} s warm-up)\n"
    )
    print(table(results, rat))
    problems = problem_lines(results, BUSY_MACHINE)
    print("\nproblems:" + ("" if problems else " none"))
    for line in problems:
        print(f"  {line}")
    print(f"\nresults: {out}\nserver logs: {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
