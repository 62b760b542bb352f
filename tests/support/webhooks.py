"""A webhook receiver for tests: a real HTTP server (http.server) on 127.0.0.1, in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hook:
    """A webhook receiver on 127.0.0.1: answers `statuses` in turn (then 200), records requests."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[float, dict, bytes]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int, within: float = 20) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, within), (
                f"{len(self.received)} of {count} webhook requests arrived"
            )


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Hook]:
    """A Hook listening on a free loopback port, in a thread, for the `with` block."""
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with state.arrived:
                state.received.append((time.monotonic(), dict(self.headers), body))
                state.arrived.notify_all()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
