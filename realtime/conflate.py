"""Conflation: what a socket still sends of a burst of points once its frame window closes.

A panel that shows only the latest value of each series (a ticker, a map, a gauge) gets the
latest point per series: at 200 symbols x 50 updates a second that is 200 points a frame,
whatever the rate. A chart keeps every point (bounded: the newest `keep`), as it draws them.
Every reading is stored either way; the series API has them all.
"""

from collections.abc import Hashable
from typing import Any


class Window:
    """The points waiting for one frame: per series the latest only, or all (the newest `keep`)."""

    __slots__ = ("latest_only", "keep", "_latest", "_all")

    def __init__(self, *, latest_only: bool = False, keep: int = 2000) -> None:
        self.latest_only = latest_only
        self.keep = keep
        self._latest: dict[Hashable, tuple[str, Any]] = {}
        self._all: list[Any] = []

    def __bool__(self) -> bool:
        return bool(self._latest or self._all)

    def add(self, key: Hashable, ts: str, payload: Any) -> None:
        """Add one point of series `key` at `ts` (fixed-width ISO text, so it sorts as time)."""
        if not self.latest_only:
            self._all.append(payload)
            if len(self._all) > 2 * self.keep:  # trimmed in bulk, not at every point
                del self._all[: -self.keep]
            return
        kept = self._latest.get(key)
        if kept is None or ts >= kept[0]:
            self._latest[key] = (ts, payload)

    def points(self) -> list[Any]:
        """The points to send: each series' latest, or all of them in arrival order."""
        if self.latest_only:
            return [payload for _, payload in self._latest.values()]
        return self._all[-self.keep :]
