"""One room's write rate: `python -m bench.room_writes [-n 1000] [--writers 4]`.

Every message takes the room's row lock to get the next `seq` (chat.services.message_create),
so one room's messages are stored one after another whatever the number of processes. This
measures how many messages a second one room can store, through the real service (validation,
seq, the row, the broadcast after commit), on SQLite and on PostgreSQL: one writer, then
`--writers` threads at once (as several server processes would be).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime

from bench.fanout import RESULTS
from tests.support import procs

CODE = """
import json, threading, time, uuid
from django.contrib.auth import get_user_model
from chat import services
from chat.models import Room
U = get_user_model()
writers = [U.objects.get_or_create(username=f"writer{{i}}")[0] for i in range({writers})]
room = Room.objects.create(name="W", slug="w-" + uuid.uuid4().hex[:8], created_by=writers[0])
def write(user, count):
    from django.db import connection
    for _ in range(count):
        services.message_create(room=room, author=user, body="x" * 80, client_id=str(uuid.uuid4()))
    connection.close()
out = {{}}
for threads in (1, {writers}):
    per = {n} // threads
    t0 = time.perf_counter()
    pool = [threading.Thread(target=write, args=(writers[i], per)) for i in range(threads)]
    [t.start() for t in pool]; [t.join() for t in pool]
    out[threads] = round(per * threads / (time.perf_counter() - t0), 1)
print("RESULT " + json.dumps(out))
"""


def measure(env: dict[str, str], n: int, writers: int) -> dict:
    procs.manage(env, "migrate", "--noinput")
    done = subprocess.run(
        [procs.PYTHON, "manage.py", "shell", "-c", CODE.format(n=n, writers=writers)],
        cwd=procs.ROOT,
        env={**env, "SWITCHBOARD_CHAT_SEND_RATE": "1000000/minute"},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.room_writes", description=__doc__)
    parser.add_argument("-n", "--messages", type=int, default=1000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args(argv)
    results = {}
    with procs.RedisServer() as redis:
        with procs.sqlite_database() as url:
            env = procs.app_env(database_url=url, redis_url=redis.url)
            results["sqlite"] = measure(env, args.messages, args.writers)
        with procs.PostgresServer() as postgres:
            env = procs.app_env(database_url=postgres.url(), redis_url=redis.url)
            results["postgresql"] = measure(env, args.messages, args.writers)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    report = {"benchmark": "room_writes", "messages": args.messages, "messages_per_second": results}
    (RESULTS / f"room-writes-{stamp}.json").write_text(json.dumps(report, indent=2))
    for db, rates in results.items():
        print(f"{db:11} " + ", ".join(f"{k} writer(s): {v} msg/s" for k, v in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
