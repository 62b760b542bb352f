"""`python -m bench.traced_serve ...`: realtime.serve with tracemalloc, for bench.connect.

SIGUSR1 writes a snapshot to $TRACED_SERVE_DIR/snapshot-<n>.pickle (n = 0, 1, ...), so that
the harness can diff what the process holds between two numbers of open sockets. Bench only:
tracing doubles the cost of every allocation.
"""

import itertools
import os
import signal
import tracemalloc

from realtime import serve

_counter = itertools.count()


def _dump(signum, frame) -> None:
    path = os.path.join(os.environ["TRACED_SERVE_DIR"], f"snapshot-{next(_counter)}.pickle")
    snapshot = tracemalloc.take_snapshot()
    snapshot.dump(path + ".tmp")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    tracemalloc.start(int(os.environ.get("TRACED_SERVE_FRAMES", "12")))
    signal.signal(signal.SIGUSR1, _dump)
    serve.main()
