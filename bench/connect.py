"""Connect and memory: what one room socket costs the server to open and to hold.

    python -m bench.connect [-n SOCKETS] [--systems A,B] [--profile] [--idle S]

For each system: a private redis-server and ONE server process, one warm socket, then N
subscriber sockets in one room opened from worker processes (bench.clients), then N more.
Figures per system: server CPU per connect (first and second batch, from /proc ticks), RSS per
socket (from N to 2N: the first batch pays one-off growth of the allocator and the hub), and
the idle CPU with 2N sockets open. `--profile` records the Switchboard server with py-spy
(every thread, only while it holds the GIL) during the connects, and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procstat
from bench.clients import SocketSpec, WorkerSpec, open_socket
from bench.fanout import (
    CALM_CORES,
    RESULTS,
    SECRET_KEY,
    SYSTEMS,
    Config,
    System,
    WorkerPool,
    log,
    log_in,
    wait_for_quiet,
)
from bench.servers import LoggedDaphne
from tests.support import procs

CONNECT_SYSTEMS = ["switchboard", "tutorial", "bare-asgi"]


class TracedDaphne(LoggedDaphne):
    """Switchboard under bench.traced_serve (tracemalloc; SIGUSR1 dumps a snapshot)."""

    def command(self) -> list[str]:
        command = super().command()
        return [command[0], "-m", "bench.traced_serve", *command[3:]]


def specs(system: System, server: LoggedDaphne, cookies: list[str], first: int, n: int, cfg):
    shares: list[list[SocketSpec]] = [[] for _ in range(cfg.workers)]
    for i in range(first, first + n):
        cookie = cookies[(i // cfg.sockets_per_user) % len(cookies)]
        spec = SocketSpec(i, f"{server.ws}{system.ws_path}", cookie, server.http)
        shares[i % cfg.workers].append(spec)
    return [WorkerSpec(share, system.wait_hello, cfg.connect_concurrency) for share in shares]


async def batch(system, server, redis_pid, cookies, first, n, cfg, timeline, cores) -> dict:
    """Open n sockets, wait for the server to calm down; CPU and RSS it took. Given the
    machine's `cores`, the clients (the workers and this process) run on one of their own."""
    pids = [server.pid, redis_pid]
    pool = WorkerPool(specs(system, server, cookies, first, n, cfg))
    try:
        await pool.ask(None, 60)
        placement = "the clients share every core with the server and Redis"
        if cores is not None:
            placement = procstat.place_apart(pids, [*pool.pids, os.getpid()], cores)
        rss0, cpu0 = server.rss_bytes(), procstat.cpu_by_pid(pids)
        connected = await pool.ask("connect", 300 + n)
        opened = sum(c["opened"] for c in connected)
        seconds = (max(c["ended"] for c in connected) - min(c["started"] for c in connected)) / 1e9
        await timeline.wait_calm(CALM_CORES, 60 + n / 50)
        cpu1, rss1 = procstat.cpu_by_pid(pids), server.rss_bytes()
    except BaseException:
        pool.stop()
        raise
    failures = collections.Counter()
    for c in connected:
        failures.update(c["failures"])
    return {
        "pool": pool,
        "placement": placement,
        "opened": opened,
        "failures": dict(failures),
        "connects_per_second": round(opened / seconds, 1) if seconds else None,
        "cpu_ms_per_connect": round(
            (cpu1[server.pid] - cpu0[server.pid]) * 1e3 / max(opened, 1), 3
        ),
        "redis_cpu_ms_per_connect": round(
            (cpu1[redis_pid] - cpu0[redis_pid]) * 1e3 / max(opened, 1), 3
        ),
        "rss_kib_per_socket": round((rss1 - rss0) / 1024 / max(opened, 1), 2),
        "rss_mib_after": round(rss1 / 2**20, 1),
    }


def start_profiler(pid: int, out: Path) -> subprocess.Popen | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        log("py-spy is not installed (requirements-dev.txt): no profile")
        return None
    command = [spy, "record", "--pid", str(pid), "--rate", "250", "--gil", "--format", "raw"]
    return subprocess.Popen(
        [*command, "--output", str(out)],  # blocking: stacks as they were
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profiler(spy: subprocess.Popen) -> None:
    spy.send_signal(2)  # SIGINT: py-spy writes what it has and exits
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()


def summarize_profile(path: Path, top: int = 40) -> list[str]:
    """Inclusive share of samples by function (once per stack), from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples; inclusive share by function:"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["own share:"] + [f"{100 * n / total:6.1f}%  {f}" for f, n in own.most_common(20)]
    return lines


async def snapshot(server: LoggedDaphne, log_dir: Path, number: int) -> None:
    path = log_dir / f"snapshot-{number}.pickle"
    server.proc.send_signal(10)  # SIGUSR1
    while not path.exists():  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.5)


def snapshot_diff(log_dir: Path, sockets: int, top: int = 45) -> list[str]:
    """What the second batch of sockets added, by line and by traceback, per socket."""
    import tracemalloc

    first = tracemalloc.Snapshot.load(str(log_dir / "snapshot-0.pickle"))
    second = tracemalloc.Snapshot.load(str(log_dir / "snapshot-1.pickle"))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, second = first.filter_traces(ignore), second.filter_traces(ignore)
    lines = []
    total = sum(s.size_diff for s in second.compare_to(first, "filename"))
    lines.append(f"tracemalloc: {total / 1024 / sockets:.2f} KiB per socket in all")
    for stat in second.compare_to(first, "lineno")[:top]:
        frame = stat.traceback[0]
        lines.append(
            f"{stat.size_diff / sockets:8.0f} B {stat.count_diff / sockets:6.2f} blocks  "
            f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        )
    lines.append("by traceback:")
    for stat in second.compare_to(first, "traceback")[:25]:
        lines.append(f"{stat.size_diff / sockets:8.0f} B {stat.count_diff / sockets:6.2f} blocks")
        for frame in list(stat.traceback)[-8:]:
            lines.append(f"      {frame.filename.split('site-packages/')[-1]}:{frame.lineno}")
    return lines


async def run_system(system: System, cfg: Config, db_url: str, accounts, args, log_dir: Path):
    await wait_for_quiet(cfg.wait_quiet)
    cores = os.sched_getaffinity(0)
    redis = procs.RedisServer().start()
    env = procs.app_env(
        database_url=db_url,
        redis_url=redis.url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        SWITCHBOARD_MAX_SOCKETS_PER_IP=str(2 * cfg.subscribers + 100),
        **system.env_extra,
    )
    server_class = system.server_class
    if args.tracemalloc and system.name == "switchboard":
        server_class = TracedDaphne
        env["TRACED_SERVE_DIR"] = str(log_dir)
    server = server_class(env, log_dir / f"connect-{system.name}.log").start()
    pools: list[WorkerPool] = []
    result: dict[str, Any] = {}
    try:
        warm = await open_socket(
            f"{server.ws}{system.ws_path}", accounts.publishers[0], server.http, system.wait_hello
        )
        timeline = procstat.CpuTimeline([server.pid, redis.proc.pid])
        spy = None
        if args.profile and system.name.startswith("switchboard"):
            spy = start_profiler(server.pid, log_dir / f"profile-{system.name}.txt")
            await asyncio.sleep(1)
        cookies = accounts.subscribers
        n = cfg.subscribers
        placing = None if args.shared_cores else cores
        log(f"{system.name}: opening {n} sockets")
        first = await batch(system, server, redis.proc.pid, cookies, 0, n, cfg, timeline, placing)
        pools.append(first.pop("pool"))
        if spy is not None:
            stop_profiler(spy)
            lines = summarize_profile(log_dir / f"profile-{system.name}.txt")
            print("\n".join(lines))
        if server_class is TracedDaphne:
            await snapshot(server, log_dir, 0)
        log(f"{system.name}: opening {n} more")
        second = await batch(system, server, redis.proc.pid, cookies, n, n, cfg, timeline, placing)
        pools.append(second.pop("pool"))
        if server_class is TracedDaphne:
            await snapshot(server, log_dir, 1)
            print("\n".join(snapshot_diff(log_dir, n)))
        before, t0 = procstat.cpu_by_pid([server.pid, redis.proc.pid]), time.monotonic()
        log(f"{system.name}: {args.idle:g} s idle with {first['opened'] + second['opened']} open")
        await asyncio.sleep(args.idle)
        after, t1 = procstat.cpu_by_pid([server.pid, redis.proc.pid]), time.monotonic()
        await timeline.stop()
        result = {
            "first": first,
            "second": second,
            "idle_cores": round(sum(after.values()) - sum(before.values()), 3) / (t1 - t0),
        }
        await warm.close()
    finally:
        procstat.pin([os.getpid()], cores)  # the next system's server starts from here
        for pool in pools:
            await pool.ask("finish", 120)
            pool.stop()
        server.stop()
        redis.kill()
    return result


async def run(cfg: Config, args, log_dir: Path) -> dict[str, Any]:
    results = {}
    with procs.sqlite_database() as db_url:
        cfg.subscribers *= 2  # the users of both batches
        accounts = await log_in(cfg, db_url, log_dir)
        cfg.subscribers //= 2
        for name in cfg.systems:
            system = SYSTEMS[name]
            results[name] = await run_system(system, cfg, db_url, accounts, args, log_dir)
            log(f"{name}: {json.dumps(results[name])}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connect", description=__doc__)
    parser.add_argument("-n", "--sockets", type=int, default=1000, help="per batch (1000)")
    parser.add_argument("--systems", default=",".join(CONNECT_SYSTEMS))
    parser.add_argument("--profile", action="store_true", help="py-spy on Switchboard")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Switchboard's memory")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured (10)")
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="let the clients share every core with the server (before 2026-12-08)",
    )
    args = parser.parse_args(argv)
    cfg = Config(
        systems=[s.strip() for s in args.systems.split(",") if s.strip()],
        subscribers=args.sockets,
        wait_quiet=args.wait_quiet,
    )
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / "logs" / f"connect-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run(cfg, args, log_dir))
    out = RESULTS / f"connect-{stamp}.json"
    report = {"benchmark": "connect", "sockets": args.sockets, **results}
    out.write_text(json.dumps(report, indent=2))
    for name, r in results.items():
        print(
            f"{name:12} connect {r['first']['cpu_ms_per_connect']:.2f} / "
            f"{r['second']['cpu_ms_per_connect']:.2f} ms CPU (+redis "
            f"{r['second']['redis_cpu_ms_per_connect']:.2f}), {r['second']['connects_per_second']}"
            f"/s; RSS {r['first']['rss_kib_per_socket']:.1f} / "
            f"{r['second']['rss_kib_per_socket']:.1f} KiB/socket; idle {r['idle_cores']:.3f} cores"
        )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
