"""CPU time of processes and of the whole machine, read straight from /proc (Linux)."""

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads, live or exited) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def cpu_by_pid(pids: Iterable[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in pids}


def machine_busy_seconds() -> float:
    """CPU time all cores of the machine have spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuTimeline:
    """Samples the summed CPU of `pids` every `step` seconds, to show when they were busy."""

    def __init__(self, pids: list[int], step: float = 1.0) -> None:
        self.pids, self.step = pids, step
        # (seconds since start, cores busy in `pids`, cores busy in the whole machine)
        self.samples: list[tuple[float, float, float]] = []
        self.marks: dict[str, float] = {}
        self._start = time.monotonic()
        self._task = asyncio.create_task(self._run())

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self._start, 2)

    async def _run(self) -> None:
        used0, machine0, t0 = self._read()
        while True:
            await asyncio.sleep(self.step)
            used, machine, now = self._read()
            cores, all_cores = (used - used0) / (now - t0), (machine - machine0) / (now - t0)
            self.samples.append((round(now - self._start, 2), round(cores, 3), round(all_cores, 3)))
            used0, machine0, t0 = used, machine, now

    def _read(self) -> tuple[float, float, float]:
        return sum(cpu_by_pid(self.pids).values()), machine_busy_seconds(), time.monotonic()

    async def wait_calm(self, below: float, at_most: float) -> float:
        """Wait until a whole sample shows less than `below` cores busy (or `at_most` seconds
        have passed); returns the seconds waited."""
        started = time.monotonic()
        seen = len(self.samples)
        while time.monotonic() - started < at_most:
            await asyncio.sleep(self.step / 4)
            if len(self.samples) > seen and self.samples[-1][1] < below:
                break
        return time.monotonic() - started

    async def stop(self) -> dict:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return {"marks": self.marks, "samples": self.samples}


def place_apart(system: list[int], clients: list[int], cores: set[int] | None = None) -> str:
    """Keep the clients off the system's cores: the servers and Redis (`system`) on every one of
    `cores` (this process's, if not given) but the last, the client processes on the last one.
    Clients stand for machines of their own; on shared cores their work lands in the servers'
    figures (the kernel runs whichever it picks for a whole tick, and caches are shared).
    Threads started later inherit it. Pass `cores` when this process is a client already
    placed: its own affinity is then the clients' core alone."""
    ordered = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if len(ordered) < 2:
        return "one core: the clients share it with the servers and Redis"
    system_cores, client_cores = set(ordered[:-1]), {ordered[-1]}
    pin(system, system_cores)
    pin(clients, client_cores)
    return f"servers and Redis on cores {sorted(system_cores)}, the clients on core {ordered[-1]}"


def pin(pids: Iterable[int], cores: set[int]) -> None:
    """Every thread of each process onto `cores`; processes and threads that have ended are
    left out (a worker may exit, a thread end, between the listing and the call)."""
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            tasks = os.listdir(f"/proc/{pid}/task")
            for task in tasks:
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(int(task), cores)
