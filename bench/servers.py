"""The server processes under test, started like tests.support.procs does, with their output kept.

procs reads a server's output until its ready line and then discards the rest. A benchmark
must be able to show what the servers logged while it ran, so `LoggedDaphne` wraps the Popen as
procs assigns it: every line procs reads also goes to a log file. The other servers differ only
in the command they start.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bench.floor.websockets_server import READY
from tests.support import procs

# Plain log lines (Daphne's, the floors') and Switchboard's JSON lines (structlog).
TROUBLE = re.compile(
    r'WARNING|ERROR|CRITICAL|"level": "(warning|error|critical)"|Traceback|Exception|over capacity'
)


def _tee(lines: Iterator[str], sink: IO[str]) -> Iterator[str]:
    for line in lines:
        sink.write(line)
        yield line


class _TeedPopen:
    """A Popen whose `stdout` also writes every line it yields to `sink`."""

    def __init__(self, popen: subprocess.Popen, sink: IO[str]) -> None:
        self._popen = popen
        self.stdout = _tee(popen.stdout, sink)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._popen, name)


class LoggedDaphne(procs.DaphneProcess):
    """procs.DaphneProcess (`python -m realtime.serve ... config.asgi:application`), logged."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w", buffering=1)
        self._proc: _TeedPopen | None = None
        super().__init__(env)

    @property
    def proc(self) -> _TeedPopen | None:
        return self._proc

    @proc.setter
    def proc(self, popen: subprocess.Popen | None) -> None:
        self._proc = None if popen is None else _TeedPopen(popen, self._log)

    def stop(self) -> None:
        super().stop()
        self._log.flush()

    def log_offset(self) -> int:
        """Where the log ends now, to split it into phases later."""
        self._log.flush()
        return self._log.tell()

    def trouble(self, start: int = 0, end: int | None = None, limit: int = 40):
        """Lines of the log between two offsets that look like warnings or errors: their count
        and the first `limit` of them."""
        self._log.flush()
        with self.log_path.open("rb") as f:
            f.seek(start)
            text = f.read(-1 if end is None else end - start).decode(errors="replace")
        lines = [line for line in text.splitlines() if TROUBLE.search(line)]
        return len(lines), lines[:limit]


class PlainDaphne(LoggedDaphne):
    """Plain `daphne` (not realtime.serve) serving `app`, same flags otherwise."""

    app = ""

    def command(self) -> list[str]:
        return [
            procs.PYTHON, "-m", "daphne", "--websocket-max-message-size", "65536", "-v", "1",
            "-b", "127.0.0.1", "-p", str(self.port), self.app,
        ]  # fmt: skip


class TutorialDaphne(PlainDaphne):
    """The Channels tutorial app (bench.tutorial)."""

    app = "bench.tutorial.asgi:application"


class BareAsgiDaphne(PlainDaphne):
    """The bare ASGI broadcast app (bench.floor.asgi)."""

    app = "bench.floor.asgi:application"


class WebsocketsServer(LoggedDaphne):
    """`python -m bench.floor.websockets_server`: not Daphne, but a process handled the same
    way (port, pid, RSS, stop, log), so only the command and its ready line differ."""

    ready = READY

    def command(self) -> list[str]:
        return [procs.PYTHON, "-m", "bench.floor.websockets_server", str(self.port)]
