"""Light cycles (CONTRACT.md §10): each cycle moves one cell a tick and leaves a wall behind.

Pure and deterministic: no clock, no I/O, no randomness. The engine (games.engine) owns time,
seats and transport; this class only knows the board.
"""

import math
from array import array
from dataclasses import dataclass
from typing import Any

from games.engine import register
from realtime.errors import Invalid

DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}


@dataclass
class Cycle:
    x: int
    y: int
    dir: str
    alive: bool = True


def start_positions(width: int, height: int, seats: int) -> list[tuple[int, int, str]]:
    """Seats spread on a ring around the centre, each heading along the ring (clockwise), so
    no two start face to face."""
    cx, cy = width // 2, height // 2
    radius = max(2, min(width, height) // 3)
    starts = []
    for seat in range(seats):
        angle = 2 * math.pi * seat / seats
        x = cx + round(radius * math.cos(angle))
        y = cy + round(radius * math.sin(angle))
        # The tangent of the ring (clockwise on screen, y down), rounded to a grid direction.
        tx, ty = -math.sin(angle), math.cos(angle)
        if abs(tx) > abs(ty):
            heading = "right" if tx > 0 else "left"
        else:
            heading = "down" if ty > 0 else "up"
        starts.append((x, y, heading))
    return starts


@register
class LightCycles:
    kind = "cycles"
    min_seats = 2
    max_seats = 8

    def __init__(self, *, width: int, height: int, seats: int, seed: int = 0) -> None:
        self.width, self.height = width, height
        self.cycles = [Cycle(x, y, d) for x, y, d in start_positions(width, height, seats)]
        # Who holds each wall cell (every cell a cycle has been on, its start included): the
        # seat + 1 in a byte per cell, 0 if free; and the cells in the order they were taken.
        # Flat arrays, not a dict of (x, y) tuples: a server running 50 games kept 100,000
        # tuples alive that Python's full collection walked, taking 10-20 ms of every game's
        # ticks with it (measured by bench.games).
        self.board = bytearray(width * height)
        self.trail = array("I")
        for seat, cycle in enumerate(self.cycles):
            self.take(cycle.x, cycle.y, seat)
        self.out: list[list[int]] = []  # seats out, tick by tick (those out on the same tick)

    def take(self, x: int, y: int, seat: int) -> None:
        """Cell (x, y) becomes a wall of `seat` (a cell already taken stays its holder's)."""
        cell = y * self.width + x
        if not self.board[cell]:
            self.board[cell] = seat + 1
            self.trail.append(cell)

    def holder(self, x: int, y: int) -> int | None:
        """The seat whose wall cell (x, y) is, or None."""
        return self.board[y * self.width + x] - 1 if self.board[y * self.width + x] else None

    @staticmethod
    def parse_input(frame: dict[str, Any]) -> str:
        """A turn frame's direction, or Invalid."""
        direction = frame.get("dir")
        if direction not in DIRECTIONS:
            raise Invalid("dir: one of up, down, left, right.")
        return direction

    def step(self, inputs: dict[int, list[Any]]) -> list[list[int]]:
        """One tick: apply each seat's turn (the latest one that is no reversal), move every
        alive cycle one cell, put out those that hit the edge, a wall, or each other. Returns
        the moves of the cycles alive at the start of the tick: [[seat, x, y, alive], ...]."""
        for seat, turns in inputs.items():
            cycle = self.cycles[seat]
            if not cycle.alive:
                continue
            for direction in reversed(turns):
                if direction != OPPOSITE[cycle.dir]:  # a reversal runs onto its own trail
                    cycle.dir = direction
                    break
        moving = [seat for seat, c in enumerate(self.cycles) if c.alive]
        targets: dict[int, tuple[int, int]] = {}
        for seat in moving:
            cycle = self.cycles[seat]
            dx, dy = DIRECTIONS[cycle.dir]
            targets[seat] = (cycle.x + dx, cycle.y + dy)
        entering: dict[tuple[int, int], int] = {}
        for cell in targets.values():
            entering[cell] = entering.get(cell, 0) + 1
        crashed = []
        for seat, (x, y) in targets.items():
            off_board = not (0 <= x < self.width and 0 <= y < self.height)
            # Walls include every head as it stands, so a head-on swap crashes both.
            if off_board or self.board[y * self.width + x] or entering[(x, y)] > 1:
                crashed.append(seat)
        for seat, cell in targets.items():
            cycle = self.cycles[seat]
            if seat in crashed:
                cycle.alive = False
            else:
                cycle.x, cycle.y = cell
                self.take(*cell, seat)
        if crashed:
            self.out.append(crashed)
        return [
            [seat, self.cycles[seat].x, self.cycles[seat].y, int(self.cycles[seat].alive)]
            for seat in moving
        ]

    def cells(self) -> list[list[int]]:
        """Every wall cell and who holds it: [[x, y, seat], ...]."""
        width, board = self.width, self.board
        return [[cell % width, cell // width, board[cell] - 1] for cell in self.trail]

    def alive(self) -> list[bool]:
        return [c.alive for c in self.cycles]

    @property
    def finished(self) -> bool:
        return sum(c.alive for c in self.cycles) <= 1

    def ranking(self) -> list[int]:
        """Seats, the last one out first (the survivor, if any, before everyone); seats out on
        the same tick in seat order."""
        survivors = [s for s, c in enumerate(self.cycles) if c.alive]
        out = [seat for tick in reversed(self.out) for seat in sorted(tick)]
        return survivors + out

    def winner(self) -> int | None:
        survivors = [s for s, c in enumerate(self.cycles) if c.alive]
        return survivors[0] if len(survivors) == 1 and self.finished else None
