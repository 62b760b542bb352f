"""Reconnect storm: `python -m bench.storm [-n 10000] [--rooms 20] [--idle 30]`.

N room sockets over two `python -m realtime.serve` processes (one redis-server, SQLite), held by
worker processes. First the idle phase: the servers' CPU with every socket open and nothing
sent (presence refresh, keepalive, metrics) and their RSS. Then a sender posts 5 messages a
second round the rooms through the process that survives, one process is killed with
`kill -9` and started again, and every client of it comes back with the browser's backoff and
jitter (static/js/backoff.js, tests.support.transports.browser_backoff) and resumes from the
last seq it saw. Reported: how long until every socket had resumed (the curve, as a PNG),
messages lost or duplicated per socket, handshakes answered 5xx, and the delivery latency of
the surviving process's own clients while the storm ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import multiprocessing
import random
import resource
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench import procstat
from bench.accounts import Accounts, login
from bench.fanout import RESULTS, SECRET_KEY, Config, log, log_in
from bench.report import percentile_ms
from bench.servers import LoggedDaphne
from tests.support import procs
from tests.support.timing import within
from tests.support.transports import browser_backoff

DOCS_PNG = Path(__file__).resolve().parent.parent / "docs" / "storm.png"
SEND_RATE = 5.0  # messages per second, round the rooms
SENDERS = 5  # users taking turns, each under the chat send rate
BACK_WITHIN = 20.0  # the target: seconds from the kill until every socket has resumed


@dataclass
class Spec:
    sid: int
    servers: list[str]  # ws base URLs, home first
    origins: list[str]
    slug: str
    cookie: str


class StormClient:
    """One browser tab: reconnects with the browser's backoff, resumes after the last seq it
    saw, and checks that seqs come one by one (a gap is a loss, a repeat a duplicate)."""

    def __init__(self, spec: Spec, worker: Worker) -> None:
        self.spec, self.worker = spec, worker
        self.rng = random.Random(spec.sid)
        self.last_seq: int | None = None
        self.duplicates = self.gaps = 0
        self.resumed_at: list[int] = []  # monotonic ns of each `resumed`
        self.server = 0  # index into spec.servers of the current connection
        self.live = False
        self.up = asyncio.Event()  # set at the first hello
        # Seqs received between a reconnect's hello and its `resumed`: live ones and the
        # replay may cross there, and the client orders them by seq (as the browser does).
        self.catchup: set[int] = set()

    async def run(self) -> None:
        attempt = 0
        while not self.worker.stopping:
            server = attempt % 2  # a failed attempt tries the other process next, as a balancer
            url = f"{self.spec.servers[server]}/ws/rooms/{self.spec.slug}/"
            try:
                async with connect(
                    url,
                    origin=self.spec.origins[server],
                    additional_headers={"Cookie": self.spec.cookie},
                    compression=None,
                    proxy=None,
                    ping_interval=None,
                    open_timeout=60,
                    close_timeout=2,
                ) as ws:
                    self.server = server
                    attempt = 0
                    await self.session(ws)
            except InvalidStatus as error:
                self.worker.statuses[error.response.status_code] += 1
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
                pass  # refused, cut mid-handshake (a process killed) or too slow: try again
            self.live = False
            if self.worker.stopping:
                return
            await asyncio.sleep(browser_backoff(attempt, self.rng))
            attempt += 1

    async def session(self, ws) -> None:
        hello = json.loads(await ws.recv())
        if self.last_seq is None:
            self.last_seq = hello["last_seq"]
            self.live = True
            self.worker.ready += 1
            self.up.set()
        else:
            self.catchup = set()
            await ws.send(json.dumps({"type": "resume", "after_seq": self.last_seq}))
        async for text in ws:
            if text.startswith('{"type":"message"'):
                self.on_message(text)
            elif text.startswith('{"type":"resumed"'):
                self.on_resumed(json.loads(text)["last_seq"])

    def on_resumed(self, last_seq: int) -> None:
        """Everything up to `last_seq` must have come, once, since the last seq seen."""
        expected = set(range(self.last_seq + 1, last_seq + 1))
        self.gaps += len(expected - self.catchup)
        self.last_seq = max(last_seq, *self.catchup, self.last_seq)
        self.live = True
        self.resumed_at.append(time.monotonic_ns())

    def on_message(self, text: str) -> None:
        seq = int(text[text.index('"seq":') + 6 :].split(",", 1)[0].split("}", 1)[0])
        if not self.live:
            if seq > self.last_seq:
                self.catchup.add(seq)
            return
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        if seq > self.last_seq + 1:
            self.gaps += seq - self.last_seq - 1
        self.last_seq = seq
        mark = text.find("storm t=")
        if mark >= 0 and self.live:
            sent = int(text[mark + 8 : text.index(";", mark)])
            process = (self.spec.sid % 2 + self.server) % 2  # which of the two, not home/other
            now = time.monotonic_ns()
            self.worker.latencies.append((process, self.spec.sid % 2, now, now - sent))


class Worker:
    def __init__(self, conn: Connection, specs: list[Spec]) -> None:
        self.conn, self.specs = conn, specs
        self.stopping = False
        self.ready = 0
        self.statuses: Counter[int] = Counter()
        self.latencies: list[tuple[int, int, int, int]] = []  # (process, home, at, ns)

    async def run(self) -> None:
        clients = [StormClient(spec, self) for spec in self.specs]
        gate = asyncio.Semaphore(32)

        async def start(client: StormClient) -> asyncio.Task:
            async with gate:
                task = asyncio.create_task(client.run())
                up = asyncio.create_task(client.up.wait())
                await asyncio.wait([task, up], return_when=asyncio.FIRST_COMPLETED)
                up.cancel()
                return task

        tasks = await asyncio.gather(*(start(c) for c in clients))
        self.conn.send({"ready": self.ready})
        while True:
            command = await asyncio.to_thread(self.conn.recv)
            if command == "mark":
                self.latencies.clear()
                # The harness's own full collections (2,500 sockets a worker) would show up as
                # delivery latency: what the sockets hold from here on is left out of them.
                gc.collect()
                gc.freeze()
                self.conn.send("ok")
            elif command == "status":
                self.conn.send({"live": sum(c.live for c in clients)})
            elif command == "finish":
                self.stopping = True
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.conn.send(
                    {
                        "clients": [
                            (c.spec.sid, c.spec.slug, c.last_seq, c.duplicates, c.gaps,
                             c.resumed_at)
                            for c in clients
                        ],
                        "statuses": dict(self.statuses),
                        "latencies": self.latencies,
                    }
                )  # fmt: skip
                return


def worker_main(conn: Connection, specs: list[Spec]) -> None:
    asyncio.run(Worker(conn, specs).run())


async def ask(pipes: list[Connection], message, seconds: float) -> list:
    for pipe in pipes:
        pipe.send(message)
    return await within(asyncio.gather(*(asyncio.to_thread(p.recv) for p in pipes)), seconds)


async def open_senders(server: LoggedDaphne, cookies: list[str], slugs: list[str]) -> dict:
    """The sender's sockets on the surviving process, one per room, opened before the storm."""
    sockets = {}
    for n, slug in enumerate(slugs):
        ws = await connect(
            f"{server.ws}/ws/rooms/{slug}/",
            origin=server.http,
            additional_headers={"Cookie": cookies[n % len(cookies)]},
            proxy=None,
            compression=None,
        )
        await ws.recv()
        sockets[slug] = ws
    return sockets


async def sender(sockets: dict, slugs: list[str], stop: asyncio.Event) -> int:
    """5 msg/s round the rooms (each room's socket is its own user's: under the send rate)."""
    drains = [asyncio.create_task(_drain(ws)) for ws in sockets.values()]
    start, n = time.monotonic(), 0
    while not stop.is_set():
        ws = sockets[slugs[n % len(slugs)]]
        body = f"storm t={time.monotonic_ns()};"
        frame = {"type": "message.send", "body": body, "client_id": uuid.uuid4().hex}
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))
        n += 1
        await asyncio.sleep(max(start + n / SEND_RATE - time.monotonic(), 0))
    for ws in sockets.values():
        await ws.close()
    await asyncio.gather(*drains)
    return n


async def _drain(ws) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


def latency_timeline(samples: list[tuple[int, int]], zero_ns: int) -> list[list]:
    """[second since the kill, deliveries, p50 ms, p99 ms] per whole second with deliveries."""
    by_second: dict[int, list[int]] = {}
    for at, ns in samples:
        by_second.setdefault(math.floor((at - zero_ns) / 1e9), []).append(ns)
    timeline = []
    for second in sorted(by_second):
        ordered = sorted(by_second[second])
        timeline.append(
            [second, len(ordered), percentile_ms(ordered, 0.5), percentile_ms(ordered, 0.99)]
        )
    return timeline


def draw(curve: list[tuple[float, int]], total: int, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.step([t for t, _ in curve], [n for _, n in curve], where="post", label="resumed")
    ax.axhline(total, color="grey", linestyle=":", label=f"sockets of the killed process ({total})")
    ax.axvline(BACK_WITHIN, color="red", linestyle="--", label=f"target {BACK_WITHIN:g} s")
    ax.set_xlabel("seconds since kill -9")
    ax.set_ylabel("sockets resumed")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


async def run(args) -> dict:
    n, rooms = args.sockets, args.rooms
    cfg = Config(subscribers=n, rate=SENDERS)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / "logs" / f"storm-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    figures: dict = {"sockets": n, "rooms": rooms, "started_at": stamp}
    with procs.sqlite_database() as db_url:
        accounts: Accounts = await log_in(cfg, db_url, log_dir)
        redis = procs.RedisServer().start()
        env = procs.app_env(
            database_url=db_url,
            redis_url=redis.url,
            DJANGO_SECRET_KEY=SECRET_KEY,
            SWITCHBOARD_MAX_SOCKETS_PER_IP=str(3 * n + 100),
        )
        servers = [LoggedDaphne(env, log_dir / f"storm-{i}.log").start() for i in range(2)]
        pool: list[tuple[multiprocessing.Process, Connection]] = []
        try:
            client = await login(servers[1].http, "bench-pub-0")
            slugs = []
            for i in range(rooms):
                room = await client.post(
                    "/api/rooms/",
                    json={"name": f"Storm {i}", "slug": f"storm-{i}"},
                    headers={
                        "X-CSRFToken": client.cookies["csrftoken"],
                        "Referer": f"{servers[1].http}/",
                    },
                )
                room.raise_for_status()
                slugs.append(f"storm-{i}")
            await client.aclose()
            specs = [
                Spec(
                    i,
                    [servers[i % 2].ws, servers[1 - i % 2].ws],
                    [servers[i % 2].http, servers[1 - i % 2].http],
                    slugs[i % rooms],
                    accounts.subscribers[i // cfg.sockets_per_user],
                )
                for i in range(n)
            ]
            context = multiprocessing.get_context("spawn")
            # A browser is a machine of its own: the survivor's own clients are held by workers
            # of their own, so their latency is not the time a worker spent reconnecting the
            # killed process's clients (a worker holding both measured its own backlog).
            per_home = max(1, args.workers // 2)
            shares = [specs[home::2][w::per_home] for home in (0, 1) for w in range(per_home)]
            for share in shares:
                ours, theirs = context.Pipe()
                process = context.Process(target=worker_main, args=(theirs, share), daemon=True)
                process.start()
                theirs.close()
                pool.append((process, ours))
            pipes = [p for _, p in pool]
            pids = [s.pid for s in servers] + [redis.proc.pid]
            log(f"opening {n} sockets in {rooms} rooms")
            t0 = time.monotonic()
            ready = await within(
                asyncio.gather(*(asyncio.to_thread(p.recv) for p in pipes)), 600 + n / 10
            )
            figures["connect_seconds"] = round(time.monotonic() - t0, 1)
            figures["opened"] = sum(r["ready"] for r in ready)
            timeline = procstat.CpuTimeline(pids)
            await timeline.wait_calm(0.05 * 3, 120)
            await timeline.stop()
            log(f"{figures['opened']} open; {args.idle:g} s idle")
            before, t1 = procstat.cpu_by_pid(pids), time.monotonic()
            await asyncio.sleep(args.idle)
            after, t2 = procstat.cpu_by_pid(pids), time.monotonic()
            figures["idle_cores_servers"] = round(
                sum(after[p] - before[p] for p in pids[:2]) / (t2 - t1), 4
            )
            figures["idle_cores_redis"] = round((after[pids[2]] - before[pids[2]]) / (t2 - t1), 4)
            figures["rss_mib_servers"] = [round(s.rss_bytes() / 2**20, 1) for s in servers]

            stop = asyncio.Event()
            senders = await open_senders(servers[1], accounts.publishers[:SENDERS], slugs)
            await ask(pipes, "mark", 60)  # latencies from here: 10 s calm, then the storm
            sending = asyncio.create_task(sender(senders, slugs, stop))
            await asyncio.sleep(10)
            log("kill -9 of process one; starting it again")
            killed_ns = time.monotonic_ns()
            servers[0].kill()
            await asyncio.to_thread(servers[0].start)  # the sender and the checks go on
            figures["restart_seconds"] = round((time.monotonic_ns() - killed_ns) / 1e9, 1)
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                live = sum(r["live"] for r in await ask(pipes, "status", 60))
                if live >= figures["opened"]:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(5)  # messages after everyone is back
            stop.set()
            figures["messages_sent"] = await sending
            await asyncio.sleep(3)  # the last deliveries
            results = await ask(pipes, "finish", 120)
        finally:
            for process, pipe in pool:
                pipe.close()
                process.join(10)
                if process.is_alive():
                    process.kill()
            for server in servers:
                server.stop()
            redis.kill()
    clients = [c for r in results for c in r["clients"]]
    top = {}
    for _, slug, last, *_ in clients:
        top[slug] = max(top.get(slug, 0), last or 0)
    lost = sum(top[slug] - (last or 0) for _, slug, last, *_ in clients)
    killed = [c for c in clients if c[0] % 2 == 0]
    resumes = sorted((c[5][0] - killed_ns) / 1e9 for c in killed if c[5] and c[5][0] > killed_ns)
    figures.update(
        resumed=len(resumes),
        killed_process_sockets=len(killed),
        all_back_seconds=round(resumes[-1], 2) if len(resumes) == len(killed) else None,
        back_p50_seconds=round(resumes[len(resumes) // 2], 2) if resumes else None,
        lost=lost + sum(c[4] for c in clients),
        duplicates=sum(c[3] for c in clients),
        http_statuses=dict(sum((Counter(r["statuses"]) for r in results), Counter())),
    )
    samples = [tuple(s) for r in results for s in r["latencies"]]
    # The target: the surviving process's own clients (home 1, never cut). Beside it, every
    # delivery by the survivor, the killed process's clients it took in included.
    own = [(at, ns) for server, home, at, ns in samples if server == 1 and home == 1]
    surviving = sorted(ns for _, ns in own)
    moved = sorted(ns for server, _, _, ns in samples if server == 1)
    calm = sorted(ns for _, _, at, ns in samples if at < killed_ns)
    figures["latency_ms_p99_before_kill"] = percentile_ms(calm, 0.99)
    figures["survivor_latency_ms_p50"] = percentile_ms(surviving, 0.5)
    figures["survivor_latency_ms_p99"] = percentile_ms(surviving, 0.99)
    figures["survivor_latency_ms_max"] = percentile_ms(surviving, 1.0)
    figures["survivor_all_clients_latency_ms_p99"] = percentile_ms(moved, 0.99)
    figures["survivor_latency_by_second"] = latency_timeline(own, killed_ns)
    figures["http_5xx"] = sum(v for k, v in figures["http_statuses"].items() if int(k) >= 500)
    curve = [(0.0, 0)] + [(t, i + 1) for i, t in enumerate(resumes)]
    figures["curve"] = [(round(t, 3), k) for t, k in curve[:: max(1, len(curve) // 400)]]
    png = RESULTS / f"storm-{stamp}.png"
    draw(
        curve,
        len(killed),
        png,
        f"{n} sockets, 2 processes, one killed -9 and restarted ({stamp} UTC)",
    )
    figures["png"] = str(png)
    out = RESULTS / f"storm-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2))
    if args.docs:
        shutil.copy(png, DOCS_PNG)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("-n", "--sockets", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    parser.add_argument("--wait", type=float, default=90.0, help="longest wait for resumes")
    parser.add_argument("--docs", action="store_true", help="also copy the PNG to docs/")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    figures = asyncio.run(run(args))
    shown = {k: v for k, v in figures.items() if k not in ("curve", "survivor_latency_by_second")}
    print(json.dumps(shown, indent=2))
    ok = (
        figures["all_back_seconds"] is not None
        and figures["all_back_seconds"] <= BACK_WITHIN
        and figures["lost"] == 0
        and figures["duplicates"] == 0
        and figures["http_5xx"] == 0
        and (figures["survivor_latency_ms_p99"] or 0) <= 500
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
