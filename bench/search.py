"""`python -m bench.search`: message search latency over a large history, on SQLite (FTS5) and on
PostgreSQL (tsvector, GIN), through the app's own selector (chat.search.message_search: the
readable-rooms rule, ranking, snippets, the message objects).

    python -m bench.search [--messages 1000000] [--runs 200] [--backends sqlite,postgresql]

For each database: migrate a fresh one, bulk-load the messages (executemany on SQLite, COPY on
PostgreSQL, not the ORM row by row) over 100 rooms, then time queries of several kinds (a rare
word, a middling word, two words, a prefix, a common word being typed, a very common word,
a word found only in old messages, and searches narrowed to one room). Beside them, in the same run,
two baselines: a primary-key lookup (the floor: one indexed row) and the naive search a project
without full-text would write, `body LIKE '%word%'` over the same readable rooms.

Writes bench/results/search-<time>.json and prints a table. Target: p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOMS = 100
PRIVATE_ROOMS = 20  # the searcher belongs to 5 of them
VOCABULARY = 5000
OLD_TOPIC = "yesteryear"  # no word of SYLLABLES can be this
TARGET_P99_MS = 50.0
SYLLABLES = ["ka", "lo", "mi", "ren", "sto", "vu", "pe", "dar", "qui", "zen", "tor", "ab",
             "el", "ish", "mon", "ga", "ri", "sol", "ne", "fu"]  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    # Sorted first: a set's order follows the hash seed, and every run must rank the same words.
    return sorted(sorted(words), key=lambda w: rng.random())


# --- the child: one database, set up, loaded and measured ---------------------------------------


def _load(count: int, rng: random.Random, words: list[str]) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from chat.models import Membership, Message, Room

    owner = get_user_model().objects.create_user("owner", password="x")
    searcher = get_user_model().objects.create_user("searcher", password="x")
    rooms = [
        Room.objects.create(
            slug=f"r{i}", name=f"Room {i}", is_private=i < PRIVATE_ROOMS, created_by=owner
        )  # fmt: skip
        for i in range(ROOMS)
    ]
    for room in rooms[:5]:
        Membership.objects.create(room=room, user=searcher)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf: a few words are everywhere
    seqs = dict.fromkeys((r.pk for r in rooms), 0)
    room_ids = [r.pk for r in rooms]
    now = datetime.now(UTC)
    # A topic of the past: OLD_TOPIC in 5% of the oldest 30% of messages and nowhere since, as
    # words come and go in a real history (a planner that expects its matches spread evenly
    # walks most of the table backwards before it finds one). Its own generator, so that the
    # rest of the history is the same as without it.
    old_topic, old_until = random.Random(17), int(count * 0.3)
    # The columns written here, then every other column that has a default (counters and
    # versions added by later features), so that the bulk load stays a valid row.
    columns = ["room_id", "seq", "author_id", "body", "created_at", "deleted"]
    defaults = [
        (f.column, f.get_default())
        for f in Message._meta.concrete_fields
        if f.column not in columns and not f.primary_key and not f.null and f.has_default()
    ]
    columns += [column for column, _ in defaults]
    extra = tuple(value for _, value in defaults)
    started = time.perf_counter()
    batch = 20_000
    for start in range(0, count, batch):
        rows = []
        for _ in range(min(batch, count - start)):
            room_id = rng.choice(room_ids)
            seqs[room_id] += 1
            body = " ".join(rng.choices(words, weights=weights, k=rng.randint(6, 24)))
            if start + len(rows) < old_until and old_topic.random() < 0.05:
                body += " " + OLD_TOPIC
            rows.append((room_id, seqs[room_id], owner.pk, body, now, False, *extra))
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                copy_sql = f"COPY chat_message ({', '.join(columns)}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO chat_message ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    rows,
                )
    for room_id, seq in seqs.items():
        Room.objects.filter(pk=room_id).update(last_seq=seq)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "load_seconds": round(time.perf_counter() - started, 1),
        "searcher": searcher.pk,
        "public_room": rooms[PRIVATE_ROOMS].pk,
    }


def _time(fn, runs: int) -> dict:
    fn()  # warm the caches and the plan once
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2),
        "runs": runs,
    }


def child(count: int, runs: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from chat import policy
    from chat.models import Message, Room
    from chat.search import message_search

    call_command("migrate", verbosity=0)
    rng = random.Random(16)
    words = vocabulary(rng)
    loaded = _load(count, rng, words)
    user = get_user_model().objects.get(pk=loaded["searcher"])
    one_room = Room.objects.get(pk=loaded["public_room"])  # 1% of the messages
    queries = {  # kind: (queries, the room it is narrowed to, if any)
        "rare word": ([words[-1 - i] for i in range(20)], None),
        "middling word": ([words[200 + i] for i in range(20)], None),
        "two words": ([f"{words[50 + i]} {words[300 + i]}" for i in range(20)], None),
        "prefix": ([words[100 + i][:4] for i in range(20)], None),
        # Typing a common word: all but its last letter, 6 letters or more (the prefix indexes
        # of chat.search.FTS_PREFIXES are for this).
        "common word, typed": ([w[:-1] for w in words[:60] if len(w) >= 7][:20], None),
        "very common word": ([words[i] for i in range(3)], None),
        "word of old messages only": ([OLD_TOPIC], None),
        "one room: very common word": ([words[i] for i in range(3)], one_room),
        "one room: middling word": ([words[200 + i] for i in range(20)], one_room),
    }
    results = {}
    for kind, (qs, room) in queries.items():
        picks = iter(qs * (runs // len(qs) + 2))
        results[kind] = _time(
            lambda picks=picks, room=room: message_search(
                user=user, q=next(picks), room=room, limit=20
            ),
            runs,
        )
        first = message_search(user=user, q=qs[0], room=room, limit=20)
        results[kind]["hits_first_query"] = len(first)
    max_id = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
    results["baseline: primary-key lookup"] = _time(
        lambda: Message.objects.select_related("author", "room").get(pk=rng.randint(1, max_id)),
        runs,
    )
    rooms = policy.readable_rooms(user=user).values("pk")
    like_words = iter(queries["middling word"][0] * runs)
    results["baseline: LIKE '%word%' (middling word)"] = _time(
        lambda: list(
            Message.objects.filter(room__in=rooms, deleted=False, body__contains=next(like_words))
            .order_by("-pk")
            .values_list("pk", flat=True)[:20]
        ),
        max(runs // 20, 5),  # a scan: fewer runs
    )
    return {
        "database": connection.vendor,
        "messages": count,
        "load_seconds": loaded["load_seconds"],
        "queries": results,
    }


# --- the parent: one child per database --------------------------------------------------------


def run_backend(backend: str, count: int, runs: int) -> dict:
    from tests.support import procs

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        if backend == "sqlite":
            server = None
            url = f"sqlite:///{tmp}/db.sqlite3"
        else:
            server = procs.PostgresServer().start()
            url = server.url()
        try:
            env = procs.app_env(database_url=url)
            done = subprocess.run(
                [sys.executable, "-m", "bench.search", "--child", "--messages", str(count),
                 "--runs", str(runs)],
                cwd=procs.ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
        finally:
            if server is not None:
                server.stop()
    if done.returncode != 0:
        raise RuntimeError(f"{backend} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(report: dict) -> str:
    lines = [f"{'query':42} " + "  ".join(f"{b + ' p50/p99 ms':>26}" for b in report["backends"])]
    kinds = next(iter(report["backends"].values()))["queries"]
    for kind in kinds:
        cells = []
        for result in report["backends"].values():
            q = result["queries"][kind]
            cells.append(f"{q['p50_ms']:>12.2f} / {q['p99_ms']:<11.2f}")
        lines.append(f"{kind:42} " + "  ".join(f"{c:>26}" for c in cells))
    loads = ", ".join(f"{b}: {r['load_seconds']} s" for b, r in report["backends"].items())
    lines.append(f"load time ({report['messages']} messages): {loads}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.messages, args.runs)))
        return 0
    report = {
        "benchmark": "search",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },  # fmt: skip
        "messages": args.messages,
        "target_p99_ms": TARGET_P99_MS,
        "backends": {},
    }
    for backend in args.backends.split(","):
        print(f"{backend}: loading {args.messages} messages and measuring…", flush=True)
        report["backends"][backend] = run_backend(backend, args.messages, args.runs)
    RESULTS.mkdir(exist_ok=True)
    backends = "-".join(report["backends"])
    out = RESULTS / f"search-{backends}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
