"""The benchmarks' placement: clients stand for machines of their own, so they run on a core the
servers and Redis do not (bench.procstat.place_apart)."""

import os
import subprocess
import sys

from bench.procstat import pin, place_apart


def cores_of(pid: int) -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(task))) for task in os.listdir(f"/proc/{pid}/task")}


def test_clients_get_a_core_of_their_own_and_the_system_every_other_one():
    cores = sorted(os.sched_getaffinity(0))
    assert len(cores) >= 2, "the benchmarks are run on machines with at least two cores"
    # A server with threads started before the placement (its database thread, say).
    server_code = (
        "import threading,time; threading.Thread(target=time.sleep,args=(60,)).start(); input()"
    )
    server = subprocess.Popen([sys.executable, "-c", server_code], stdin=subprocess.PIPE)
    client = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    try:
        while len(os.listdir(f"/proc/{server.pid}/task")) < 2:
            os.sched_yield()  # until the server's thread has started
        placement = place_apart([server.pid], [client.pid])
        assert cores_of(server.pid) == {frozenset(cores[:-1])}
        assert cores_of(client.pid) == {frozenset([cores[-1]])}
        assert str(cores[-1]) in placement
        # Again, as bench.connect does for its second batch: the harness is a client by then,
        # on the last core alone, so it passes the machine's cores.
        assert place_apart([server.pid], [client.pid], set(cores)) == placement
        assert cores_of(server.pid) == {frozenset(cores[:-1])}
        pin([client.pid], set(cores))
        assert cores_of(client.pid) == {frozenset(cores)}
        client.kill()
        client.wait()
        pin([client.pid, server.pid], set(cores))  # a client gone by now is left out
        assert cores_of(server.pid) == {frozenset(cores)}
    finally:
        for proc in (server, client):
            proc.kill()
            proc.wait()
