"""`python -m bench.ingest`: readings per second into Switchboard, and how soon a dashboard
socket on the other process sees them.

Two Daphne processes share a redis-server and a SQLite file. A device pushes batches over
REST (`POST /api/ingest/`) on process 1, then over the device socket (`/ws/devices/`) on
process 1, then over MQTT (a real Mosquitto, with `manage.py mqtt_bridge` as a process of its
own), while a dashboard socket on process 2 charts the series. For MQTT the broker answers a
publish before anything is stored, so its rate is counted to the moment the database holds every
reading sent (counted in the SQLite file itself: the dashboard conflates, so it never sees every
point), and its latency is measured paced at 1,000 readings/s.
For each path: readings stored per second, the batch round trip (p50/p99), and the time from
sending a batch to the dashboard socket holding its last point (p50/p99; the dashboard
coalesces to 10 frames/s, so up to ~100 ms of that is by design). Baseline, in the same run
and on the same database file: bulk-inserting the same batches straight through the ORM in
one process (the storage floor).

The ticker case (issue 15): 200 symbols x 50 updates a second posted over REST to both
processes while ticker dashboards on process 2 count their frames (target: at most 10 a second
per socket, by conflation), with the servers' CPU. `--only ticker` runs it alone.

Writes bench/results/ingest-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiomqtt
import httpx
import websockets

from bench import procstat
from bench.notes import RESULTS, percentile
from tests.support import procs
from tests.support.clients import Rest, login

FLOOR = """
import json, sys, time
from datetime import datetime, UTC
import django; django.setup()
from django.contrib.auth import get_user_model
from dashboard.models import Device, Reading
owner = get_user_model().objects.get(username="bench0")
device = Device.objects.create(owner=owner, name="floor")
batches, size = int(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
for b in range(batches):
    now = datetime.now(UTC)
    Reading.objects.bulk_create(
        [Reading(device=device, metric="load", value=float(i), ts=now) for i in range(size)])
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def storage_floor(env: dict[str, str], batches: int, size: int) -> float:
    """Seconds to bulk-insert the same batches through the ORM, in one process."""
    floor = subprocess.run(
        [sys.executable, "-c", FLOOR, str(batches), str(size)],
        cwd=procs.ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(floor.stdout)["seconds"]


def run(batches: int, size: int) -> dict:
    with (
        procs.RedisServer() as redis,
        procs.sqlite_database() as database,
        procs.MosquittoServer() as broker,
    ):
        env = procs.app_env(
            database_url=database, redis_url=redis.url,
            SWITCHBOARD_DEVICE_INGEST_RATE="100000/second",
            SWITCHBOARD_REST_WRITE_RATE="100000/min",
            SWITCHBOARD_MQTT_URL=broker.url, SWITCHBOARD_MQTT_ADMIN_USER=broker.admin_user,
            SWITCHBOARD_MQTT_ADMIN_PASSWORD=broker.admin_password,
        )  # fmt: skip
        procs.manage(env, "migrate", "-v0")
        procs.create_users(env, "bench0")
        floor_seconds = storage_floor(env, batches, size)
        bridge = procs.ManageProcess(env, "mqtt_bridge", ready="subscribed to devices/+/readings")
        stored = StoredCount(database.removeprefix("sqlite:///"))
        with bridge:
            results = asyncio.run(over_daphne(env, batches, size, broker, stored))
    floor_rate = batches * size / floor_seconds
    for path in results.values():
        path["ratio_to_storage_floor"] = round(path["readings_per_second"] / floor_rate, 3)
    return {
        "batches": batches,
        "batch_size": size,
        "storage_floor_readings_per_second": round(floor_rate),
        **results,
    }


class StoredCount:
    """How many readings of a device with values in [low, high) the database holds now."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, device: int, low: float, high: float) -> int:
        query = (
            "SELECT COUNT(*) FROM dashboard_reading"
            " WHERE device_id = ? AND value >= ? AND value < ?"
        )
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
            return db.execute(query, (device, low, high)).fetchone()[0]

    async def until(
        self, device: int, low: float, high: float, count: int, seconds: float
    ) -> float | None:
        """When the database first held all `count` (polled every 50 ms: a database file has
        nothing to wait on), or None if it did not within `seconds`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    if await asyncio.to_thread(self, device, low, high) >= count:
                        return time.perf_counter()
                    await asyncio.sleep(0.05)
        return None


class Arrivals:
    """When the dashboard socket first held each value; `wait_for` a set of them."""

    def __init__(self) -> None:
        self.at: dict[float, float] = {}
        self.changed = asyncio.Event()

    def add(self, value: float, when: float) -> None:
        self.at.setdefault(value, when)
        self.changed.set()

    async def wait_for(self, values: set[float], seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not values <= self.at.keys():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            pass  # reported as batches_not_seen


async def over_daphne(
    env: dict[str, str],
    batches: int,
    size: int,
    broker: procs.MosquittoServer,
    stored: StoredCount,
) -> dict:
    with procs.DaphneProcess(env) as one, procs.DaphneProcess(env) as two:
        account = await login(one.http, "bench0")
        async with Rest(one, account) as rest:
            device = await rest.create_device("Bench sensor")
            dashboard = await rest.create_dashboard(
                name="Bench", panels=[{"title": "Load", "device": device["id"],
                                       "metric": "load", "kind": "line"}],
            )  # fmt: skip
        viewer = await websockets.connect(
            f"{two.ws}/ws/dashboards/{dashboard['slug']}/", origin=two.http, proxy=None,
            additional_headers={"Cookie": f"sessionid={account.sessionid}"}, max_size=None,
        )  # fmt: skip
        assert json.loads(await viewer.recv())["type"] == "snapshot"
        arrivals = Arrivals()

        async def watch() -> None:
            async for raw in viewer:
                frame = json.loads(raw)
                if frame.get("type") == "readings":
                    now = time.perf_counter()
                    for _, value in frame["points"]:
                        arrivals.add(value, now)

        watcher = asyncio.create_task(watch())
        results = {}
        headers = {"Authorization": f"Api-Key {device['api_key']}"}
        async with httpx.AsyncClient(base_url=one.http, headers=headers, trust_env=False) as c:

            async def rest_batch(values: list[float]) -> None:
                now = datetime.now(UTC).isoformat()
                response = await c.post("/api/ingest/", json={"readings": [
                    {"metric": "load", "value": v, "ts": now} for v in values]})  # fmt: skip
                assert response.status_code == 202, response.text

            results["rest"] = await measure(rest_batch, batches, size, 0, arrivals)
        socket = await websockets.connect(
            f"{one.ws}/ws/devices/", proxy=None, additional_headers=headers
        )

        async def socket_batch(values: list[float]) -> None:
            await socket.send(json.dumps({"type": "readings", "readings": [
                {"metric": "load", "value": v} for v in values]}))  # fmt: skip
            ack = json.loads(await socket.recv())
            assert ack == {"type": "ack", "accepted": len(values)}, ack

        results["socket"] = await measure(socket_batch, batches, size, 10**7, arrivals)
        await socket.close()
        results["mqtt"] = await over_mqtt(broker, device, batches, size, arrivals, stored)
        watcher.cancel()
        await viewer.close()
    return results


async def measure(send, batches: int, size: int, offset: int, arrivals: Arrivals) -> dict:
    round_trips, sent_at = [], {}
    started = time.perf_counter()
    for b in range(batches):
        values = [float(offset + b * size + i) for i in range(size)]
        sent_at[values[-1]] = time.perf_counter()
        await send(values)
        round_trips.append((time.perf_counter() - sent_at[values[-1]]) * 1000)
    elapsed = time.perf_counter() - started
    await arrivals.wait_for(set(sent_at), seconds=10)
    seen = [(arrivals.at[v] - t) * 1000 for v, t in sent_at.items() if v in arrivals.at]
    return {
        "readings_per_second": round(batches * size / elapsed),
        "batch_round_trip_p50_ms": round(percentile(round_trips, 50), 2),
        "batch_round_trip_p99_ms": round(percentile(round_trips, 99), 2),
        "to_dashboard_p50_ms": round(percentile(seen, 50), 2) if seen else None,
        "to_dashboard_p99_ms": round(percentile(seen, 99), 2) if seen else None,
        "batches_not_seen": len(sent_at) - len(seen),
    }


PACED_RATE = 1000  # readings per second, for the latency measurement
PACED_SECONDS = 10


async def over_mqtt(
    broker: procs.MosquittoServer,
    device: dict,
    batches: int,
    size: int,
    arrivals: Arrivals,
    stored: StoredCount,
) -> dict:
    """Flat out (rate: until the database holds every reading), then paced (latency)."""
    topic = f"devices/{device['id']}/readings"
    client = aiomqtt.Client(
        "127.0.0.1", broker.port, username=str(device["id"]), password=device["api_key"],
        protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=100,
    )  # fmt: skip

    def payload(values: list[float]) -> bytes:
        return json.dumps({"readings": [{"metric": "load", "value": v} for v in values]}).encode()

    async with client:
        offset, sent_at = 2 * 10**7, {}
        started = time.perf_counter()
        for b in range(batches):
            values = [float(offset + b * size + i) for i in range(size)]
            sent_at[values[-1]] = time.perf_counter()
            await client.publish(topic, payload(values), qos=1)
        published = time.perf_counter()
        total = batches * size
        done = await stored.until(device["id"], offset, offset + total, total, seconds=120)
        await arrivals.wait_for(set(sent_at), seconds=5)
        flat_out = {
            # None: not every reading was stored within 120 s (readings_stored says how many).
            "readings_per_second": round(total / (done - started)) if done else None,
            "readings_stored": stored(device["id"], offset, offset + total),
            "publish_seconds": round(published - started, 3),
            "flat_out_batches_not_seen": len(sent_at) - len(sent_at.keys() & arrivals.at.keys()),
        }
        # Paced: PACED_RATE readings a second in batches of `size`, each timed to the socket.
        offset, sent_at, interval = 3 * 10**7, {}, size / PACED_RATE
        count = int(PACED_SECONDS * PACED_RATE / size)
        started = time.perf_counter()
        for b in range(count):
            await asyncio.sleep(max(0.0, started + b * interval - time.perf_counter()))
            values = [float(offset + b * size + i) for i in range(size)]
            sent_at[values[-1]] = time.perf_counter()
            await client.publish(topic, payload(values), qos=1)
        await arrivals.wait_for(set(sent_at), seconds=30)
    seen = [(arrivals.at[v] - t) * 1000 for v, t in sent_at.items() if v in arrivals.at]
    return {
        **flat_out,
        "paced_readings_per_second": PACED_RATE,
        "to_dashboard_p50_ms": round(percentile(seen, 50), 2) if seen else None,
        "to_dashboard_p99_ms": round(percentile(seen, 99), 2) if seen else None,
        "batches_not_seen": len(sent_at) - len(seen),
    }


# --- the ticker: 200 symbols x 50 Hz, conflated per dashboard socket (issue 15) ---------------


async def ticker(
    env: dict[str, str], *, seconds: float, symbols: int, rate: float, viewers: int
) -> dict:
    """A market device posts `symbols` prices `rate` times a second each (batches of 1,000,
    alternating between the two processes) while `viewers` ticker dashboards on process 2
    count their frames: frames/s per socket (target <= 10), and the servers' CPU."""
    names = [f"s{n:03d}" for n in range(symbols)]
    with procs.DaphneProcess(env) as one, procs.DaphneProcess(env) as two:
        account = await login(one.http, "bench0")
        async with Rest(one, account) as rest:
            device = await rest.create_device("Bench market")
            dashboard = await rest.create_dashboard(name="Bench ticker", panels=[
                {"title": "Ticker", "device": device["id"], "kind": "ticker", "metrics": names}
            ])  # fmt: skip
        sockets = [
            await websockets.connect(
                f"{two.ws}/ws/dashboards/{dashboard['slug']}/",
                origin=two.http,
                proxy=None,
                additional_headers={"Cookie": f"sessionid={account.sessionid}"},
                max_size=None,
            )  # fmt: skip
            for _ in range(viewers)
        ]
        for socket in sockets:
            assert json.loads(await socket.recv())["type"] == "snapshot"
        frames: list[list[float]] = [[] for _ in sockets]
        points: list[int] = [0 for _ in sockets]

        async def watch(n: int, socket) -> None:
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") == "readings":
                    frames[n].append(time.perf_counter())
                    points[n] += len(frame["points"])

        watchers = [asyncio.create_task(watch(n, s)) for n, s in enumerate(sockets)]
        moves_per_batch = max(1, 1000 // symbols)
        batches_per_second = rate / moves_per_batch
        headers = {"Authorization": f"Api-Key {device['api_key']}"}
        pids = [one.pid, two.pid]
        cpu_before = procstat.cpu_by_pid(pids)
        stored, refused = 0, 0
        async with (
            httpx.AsyncClient(
                base_url=one.http, headers=headers, trust_env=False, timeout=120
            ) as c1,
            httpx.AsyncClient(
                base_url=two.http, headers=headers, trust_env=False, timeout=120
            ) as c2,
        ):

            async def post(client, readings) -> None:
                nonlocal stored, refused
                response = await client.post("/api/ingest/", json={"readings": readings})
                if response.status_code == 202:
                    stored += len(readings)
                else:
                    refused += 1

            started = time.perf_counter()
            tasks, b = [], 0
            while (now := time.perf_counter()) - started < seconds:
                due = started + b / batches_per_second
                if due > now:
                    await asyncio.sleep(due - now)  # noqa: sleep-ok pacing the feed
                ts = datetime.now(UTC).isoformat()
                readings = [{"metric": name, "value": float(b * moves_per_batch + m), "ts": ts}
                            for m in range(moves_per_batch) for name in names]  # fmt: skip
                tasks = [t for t in tasks if not t.done()]
                if len(tasks) >= 8:  # the servers fall behind: the feed waits (less is offered)
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                tasks.append(asyncio.create_task(post((c1, c2)[b % 2], readings)))
                b += 1
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
        await asyncio.sleep(1)  # noqa: sleep-ok the last window's frames
        cpu_after = procstat.cpu_by_pid(pids)
        for watcher in watchers:
            watcher.cancel()
        for socket in sockets:
            await socket.close()

    def peak(arrivals: list[float]) -> int:
        """The most frames that arrived within any one second."""
        best, lo = 0, 0
        for hi, at in enumerate(arrivals):
            while at - arrivals[lo] > 1.0:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    return {
        "symbols": symbols,
        "updates_per_second_per_symbol": rate,
        "viewers": viewers,
        "seconds": round(elapsed, 2),
        "readings_asked_per_second": round(symbols * rate),
        "readings_offered_per_second": round(b * moves_per_batch * symbols / elapsed),
        "readings_stored_per_second": round(stored / elapsed),
        "batches_refused": refused,
        "frames_per_second_per_socket_mean": round(
            sum(len(f) for f in frames) / len(frames) / (elapsed + 1), 2
        ),
        "frames_per_second_per_socket_peak": max(peak(f) for f in frames),
        "points_per_frame_mean": round(sum(points) / max(1, sum(len(f) for f in frames)), 1),
        "server_cpu_seconds": {
            "process_1": round(cpu_after[pids[0]] - cpu_before[pids[0]], 2),
            "process_2": round(cpu_after[pids[1]] - cpu_before[pids[1]], 2),
        },
        "server_cores_busy": round(
            sum(cpu_after[p] - cpu_before[p] for p in pids) / (elapsed + 1), 2
        ),
    }


def run_ticker(seconds: float, rate: float, viewers: int) -> dict:
    with procs.RedisServer() as redis, procs.sqlite_database() as database:
        env = procs.app_env(
            database_url=database, redis_url=redis.url,
            SWITCHBOARD_DEVICE_INGEST_RATE="100000/second",
            SWITCHBOARD_REST_WRITE_RATE="100000/min",
        )  # fmt: skip
        procs.manage(env, "migrate", "-v0")
        procs.create_users(env, "bench0")
        return asyncio.run(ticker(env, seconds=seconds, symbols=200, rate=rate, viewers=viewers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=100, help="readings per batch (max 1000)")
    parser.add_argument("--ticker-seconds", type=float, default=10)
    parser.add_argument("--ticker-rate", type=float, default=50, help="updates/s per symbol")
    parser.add_argument("--ticker-viewers", type=int, default=5)
    parser.add_argument("--only", choices=["paths", "ticker"], help="run one part only")
    args = parser.parse_args()
    result = {"benchmark": "ingest", "started_at": time.strftime("%Y%m%d-%H%M%S"),
              "machine": {"cpus": os.cpu_count()}}  # fmt: skip
    if args.only != "ticker":
        result |= run(args.batches, args.size)
    if args.only != "paths":
        result["ticker"] = run_ticker(args.ticker_seconds, args.ticker_rate, args.ticker_viewers)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"ingest-{result['started_at']}.json"
    path.write_text(json.dumps(result, indent=2))
    if "ticker" in result:
        t = result["ticker"]
        print(
            f"ticker {t['symbols']} symbols x {t['updates_per_second_per_symbol']:g} Hz: "
            f"{t['readings_stored_per_second']:,} r/s stored (asked "
            f"{t['readings_asked_per_second']:,}, offered {t['readings_offered_per_second']:,})"
        )
        print(f"  frames/s per socket: mean {t['frames_per_second_per_socket_mean']}, "
              f"peak {t['frames_per_second_per_socket_peak']} (target <= 10); "
              f"{t['points_per_frame_mean']} points a frame; "
              f"servers: {t['server_cores_busy']} cores busy")  # fmt: skip
    if "rest" not in result:
        print(f"-> {path}")
        return
    print(f"storage floor (ORM bulk insert): {result['storage_floor_readings_per_second']:,} r/s")
    for name in ("rest", "socket"):
        r = result[name]
        print(f"{name:6} {r['readings_per_second']:>8,} r/s ({r['ratio_to_storage_floor']}x floor) "
              f"batch p50 {r['batch_round_trip_p50_ms']} ms p99 {r['batch_round_trip_p99_ms']} ms"
              f" | to dashboard p50 {r['to_dashboard_p50_ms']} ms p99 {r['to_dashboard_p99_ms']} ms"
              f" (unseen {r['batches_not_seen']})")  # fmt: skip
    r = result["mqtt"]
    print(f"mqtt   {r['readings_per_second']:>8,} r/s ({r['ratio_to_storage_floor']}x floor), "
          f"{r['readings_stored']:,} stored | at {r['paced_readings_per_second']:,} r/s: to "
          f"dashboard p50 {r['to_dashboard_p50_ms']} ms p99 {r['to_dashboard_p99_ms']} ms "
          f"(unseen {r['batches_not_seen']})")  # fmt: skip
    print(f"-> {path}")


if __name__ == "__main__":
    main()
