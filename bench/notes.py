"""`python -m bench.notes`: how fast notes edits reach other editors, and how fast a big
document loads.

Two measurements, each beside a baseline in the same run:

1. Edit propagation: one editor types into a room's notes while 50 others watch, over two
   Daphne processes and Redis (a real y-websocket session per editor). Baseline: the same
   50 watchers and the same typist in the same room's chat socket (message frames).
2. Load: a 100,000-character document built by 10,000 edits, loaded (a) from the 10,000
   stored updates and (b) from the compacted snapshot; the baseline is decoding the same
   text as a JSON string, what a plain text field would cost.

Writes bench/results/notes-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import websockets
from pycrdt import Doc, Text, merge_updates

from tests.support import procs
from tests.support.clients import ChatClient, Rest, login
from tests.support.yclient import YClient

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(latencies_ms: list[float], expected: int) -> dict:
    return {
        "deliveries": len(latencies_ms),
        "expected": expected,
        "lost": expected - len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 2) if latencies_ms else None,
        "p99_ms": round(percentile(latencies_ms, 99), 2) if latencies_ms else None,
        "max_ms": round(max(latencies_ms), 2) if latencies_ms else None,
    }


async def notes_editor(server, account, slug: str) -> tuple[websockets.ClientConnection, YClient]:
    ws = await websockets.connect(
        f"{server.ws}/ws/rooms/{slug}/notes/", origin=server.http, proxy=None,
        additional_headers={"Cookie": f"sessionid={account.sessionid}"}, max_size=None,
    )  # fmt: skip

    async def recv() -> bytes:
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                return message

    client = YClient(ws.send, recv)
    await client.start()
    return ws, client


async def propagation(watchers: int, edits: int, rate: float) -> dict:
    with procs.RedisServer() as redis, procs.sqlite_database() as database:
        env = procs.app_env(
            database_url=database, redis_url=redis.url,
            SWITCHBOARD_CHAT_SEND_RATE="100000/minute",
            SWITCHBOARD_NOTES_FRAME_RATE="100000/minute",
            SWITCHBOARD_SOCKET_FRAME_RATE="100000/minute",
        )  # fmt: skip
        procs.manage(env, "migrate", "-v0")
        names = [f"editor{i}" for i in range(watchers + 1)]
        procs.create_users(env, *names)
        with procs.DaphneProcess(env) as one, procs.DaphneProcess(env) as two:
            servers = [one, two]
            accounts = await asyncio.gather(*(login(one.http, n) for n in names))
            async with Rest(one, accounts[0]) as rest:
                room = await rest.create_room(name="Bench notes")  # public: all may edit
            slug = room["slug"]
            typist_ws, typist = await notes_editor(one, accounts[0], slug)
            watchers_ = [
                await notes_editor(servers[i % 2], a, slug) for i, a in enumerate(accounts[1:])
            ]
            sent_at: dict[str, float] = {}
            latencies: list[float] = []

            async def watch(client: YClient) -> None:
                seen = set()
                while len(seen) < edits:
                    await client.handle(await client._recv())
                    now = time.perf_counter()
                    text = str(client)
                    for token, started in list(sent_at.items()):
                        if token not in seen and token in text:
                            seen.add(token)
                            latencies.append((now - started) * 1000)

            watching = [asyncio.create_task(watch(c)) for _, c in watchers_]
            for i in range(edits):
                token = f"<{i:05d}>"
                sent_at[token] = time.perf_counter()
                await typist.edit(lambda t, token=token: t.insert(len(t), token))
                await asyncio.sleep(1 / rate)  # pacing the typist
            try:
                async with asyncio.timeout(30):
                    await asyncio.gather(*watching)
            except TimeoutError:
                for task in watching:
                    task.cancel()
            notes = summary(latencies, watchers * edits)
            for ws, _ in [(typist_ws, None), *watchers_]:
                await ws.close()

            # Baseline: the same people in the room's chat, the same pace, message frames.
            chat_watchers = [
                await ChatClient.open(servers[i % 2], a, slug) for i, a in enumerate(accounts[1:])
            ]
            typist_chat = await ChatClient.open(one, accounts[0], slug)
            chat_latencies: list[float] = []
            sent: dict[str, float] = {}

            async def watch_chat(client: ChatClient) -> None:
                for _ in range(edits):
                    [message] = await client.messages(1, within=30)
                    chat_latencies.append((time.perf_counter() - sent[message["body"]]) * 1000)

            watching = [asyncio.create_task(watch_chat(c)) for c in chat_watchers]
            for i in range(edits):
                body = f"<{i:05d}>"
                sent[body] = time.perf_counter()
                await typist_chat.send_message(body)
                await asyncio.sleep(1 / rate)  # pacing the typist
            await asyncio.gather(*watching, return_exceptions=True)
            chat = summary(chat_latencies, watchers * edits)
            for client in [typist_chat, *chat_watchers]:
                await client.close()
    return {"watchers": watchers, "edits": edits, "rate": rate, "notes": notes, "chat": chat}


def load(chars: int, edits: int) -> dict:
    doc = Doc()
    text = doc.get("notes", type=Text)
    per_edit = chars // edits
    updates = []
    for i in range(edits):
        before = doc.get_state()
        text.insert(len(text), (f"{i:09d}" + "x" * per_edit)[:per_edit])
        updates.append(doc.get_update(before))
    snapshot = merge_updates(*updates)
    plain = json.dumps(str(text))

    def timed(fn, repeat: int = 5) -> float:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(runs), 2)

    def from_updates():
        d = Doc()
        d.apply_update(merge_updates(*updates))
        return str(d.get("notes", type=Text))

    def from_snapshot():
        d = Doc()
        d.apply_update(snapshot)
        return str(d.get("notes", type=Text))

    assert from_updates() == from_snapshot() == str(text)
    baseline = timed(lambda: json.loads(plain))
    return {
        "chars": len(str(text)),
        "edits": edits,
        "update_bytes": sum(map(len, updates)),
        "snapshot_bytes": len(snapshot),
        "load_from_updates_ms": timed(from_updates),
        "load_from_snapshot_ms": timed(from_snapshot),
        "baseline_plain_text_ms": baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="edits per second")
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    result = {
        "benchmark": "notes",
        "started_at": time.strftime("%Y%m%d-%H%M%S"),
        "load": load(args.chars, args.history),
        "propagation": asyncio.run(propagation(args.watchers, args.edits, args.rate)),
    }
    prop, ld = result["propagation"], result["load"]
    result["ratios"] = {
        "notes_p99_over_chat_p99": round(prop["notes"]["p99_ms"] / prop["chat"]["p99_ms"], 2)
        if prop["notes"]["p99_ms"] and prop["chat"]["p99_ms"] else None,
        "snapshot_load_over_plain_text": round(
            ld["load_from_snapshot_ms"] / max(ld["baseline_plain_text_ms"], 0.001), 1
        ),
        "updates_load_over_snapshot_load": round(
            ld["load_from_updates_ms"] / max(ld["load_from_snapshot_ms"], 0.001), 1
        ),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"notes-{result['started_at']}.json"
    path.write_text(json.dumps(result, indent=2))
    notes, chat = prop["notes"], prop["chat"]
    print(f"notes edit -> {prop['watchers']} editors: p50 {notes['p50_ms']} ms, "
          f"p99 {notes['p99_ms']} ms, lost {notes['lost']} "
          f"| chat baseline p50 {chat['p50_ms']} ms, p99 {chat['p99_ms']} ms")  # fmt: skip
    print(f"load {ld['chars']:,} chars / {ld['edits']:,} edits: from updates "
          f"{ld['load_from_updates_ms']} ms, from snapshot {ld['load_from_snapshot_ms']} ms, "
          f"plain text {ld['baseline_plain_text_ms']} ms")  # fmt: skip
    print(f"ratios {result['ratios']}  -> {path}")


if __name__ == "__main__":
    main()
