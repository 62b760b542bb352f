"""What a database call from a socket costs: `python -m bench.hops [-n 2000]`.

A room socket's connect reads its room and the caller's standing in it on the database thread
(chat.policy.access_by_slug through Channels' database_sync_to_async). This measures, in one
process, the CPU of each part against the bare hop to a thread, side by side in the same run:
a bare `run_in_executor` (the baseline), asgiref's `sync_to_async`, Channels'
`database_sync_to_async` (both calling a function that does nothing), the access query alone
on the calling thread, and the query through `database_sync_to_async` as a connect does it.
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
import asyncio, concurrent.futures, json, time
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from chat import policy, services
owner = get_user_model().objects.create_user("owner", password="x")
room = services.room_create(creator=owner, name="Hops", slug="hops")
n = {n}

def cpu_us(call):
    call()
    started = time.process_time()
    for _ in range(n):
        call()
    return round((time.process_time() - started) / n * 1e6, 1)

async def hops_us(hop):
    await hop()
    started = time.process_time()
    for _ in range(n):
        await hop()
    return round((time.process_time() - started) / n * 1e6, 1)

def nothing():
    return None

def access():
    return policy.room_to_read(slug="hops", user=owner)

executor = concurrent.futures.ThreadPoolExecutor(1)

async def bare():
    await asyncio.get_running_loop().run_in_executor(executor, nothing)

async def main():
    return {{
        "bare_executor_hop": await hops_us(bare),
        "sync_to_async_hop": await hops_us(sync_to_async(nothing)),
        "database_sync_to_async_hop": await hops_us(database_sync_to_async(nothing)),
        "access_query_through_the_hop": await hops_us(database_sync_to_async(access)),
    }}

figures = asyncio.run(main())
figures["access_query_on_this_thread"] = cpu_us(access)  # no event loop: a plain sync call
print("RESULT " + json.dumps(figures))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hops", description=__doc__)
    parser.add_argument("-n", "--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    with procs.sqlite_database() as url:
        env = procs.app_env(database_url=url)
        procs.manage(env, "migrate", "--noinput")
        done = subprocess.run(
            [procs.PYTHON, "manage.py", "shell", "-c", CODE.format(n=args.calls)],
            cwd=procs.ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"the measuring shell failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    cpu_us = json.loads(line.removeprefix("RESULT "))
    baseline = cpu_us["bare_executor_hop"]
    report = {
        "benchmark": "hops",
        "calls": args.calls,
        "cpu_us_per_call": cpu_us,
        "ratio_to_bare_executor_hop": {k: round(v / baseline, 2) for k, v in cpu_us.items()},
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"hops-{stamp}.json").write_text(json.dumps(report, indent=2))
    for name, us in cpu_us.items():
        print(f"{name:45} {us:7.1f} us of CPU per call ({us / baseline:.2f} x the bare hop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
