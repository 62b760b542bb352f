"""Full garbage collections when a ticking loop has time for them, not whenever they fall due.

A full collection stops the event loop: 10-20 ms on a busy server even with startup's objects
frozen (realtime.serve.freeze_startup_objects), every 3-4 s. For chat that is noise; for a
game clock it is a late tick for every game of the process (bench.games: the collections
were most of the tick jitter's p99). While a clock holds `paced()`, Python's own full
collections are off and the clock asks for one right after a tick, when the next is furthest
away (`collect_if_due`). Younger generations are collected as always: they take well under a
millisecond.
"""

import gc
import time

# Python's gen-2 threshold counts gen-1 collections; this many never come.
_NEVER = 1 << 30


class PacedCollections:
    """Python's full collections, off while anyone holds them, done when `collect_if_due`."""

    def __init__(self, every: float = 3.0, margin: float = 0.005) -> None:
        self.every = every  # seconds between full collections, as Python's own come here
        self.margin = margin  # seconds left over after a collection before the next deadline
        self.holders = 0
        self.saved: int | None = None  # Python's gen-2 threshold while paced
        self.last = time.monotonic()
        self.took = 0.0  # how long the last full collection took

    def hold(self) -> None:
        """Turn Python's own full collections off until every holder has released."""
        if self.holders == 0:
            young, middle, self.saved = gc.get_threshold()
            gc.set_threshold(young, middle, _NEVER)
            self.last = time.monotonic()
        self.holders += 1

    def release(self) -> None:
        self.holders -= 1
        if self.holders == 0 and self.saved is not None:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, self.saved)
            self.saved = None

    def collect_if_due(self, room: float) -> bool:
        """A full collection now if one is due and fits in `room` seconds (the time to the
        holder's next deadline); past three periods, one comes anyway, so garbage cycles
        never pile up behind a holder that is always short of time."""
        started = time.monotonic()
        since = started - self.last
        if since < self.every:
            return False
        if room < self.took + self.margin and since < 3 * self.every:
            return False
        gc.collect()
        self.last = time.monotonic()
        self.took = self.last - started
        return True


_collections = PacedCollections()


def paced_collections() -> PacedCollections:
    """The process's one pacer (the garbage collector's settings are the process's)."""
    return _collections
