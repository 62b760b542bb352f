"""Light cycles' rules, without sockets: moves, collisions, turns, the ranking."""

import gc

import pytest

from games.cycles import Cycle, LightCycles, start_positions
from realtime.errors import Invalid


def board(width=16, height=16, cycles=(), walls=()):
    """A game with cycles placed by hand: [(x, y, dir), ...]."""
    game = LightCycles(width=width, height=height, seats=max(len(cycles), 2))
    game.cycles = [Cycle(x, y, d) for x, y, d in cycles]
    game.board[:] = bytes(len(game.board))
    del game.trail[:]
    for seat, c in enumerate(game.cycles):
        game.take(c.x, c.y, seat)
    for x, y in walls:
        game.take(x, y, 99)
    return game


def test_every_alive_cycle_moves_one_cell_a_tick_and_leaves_a_wall():
    game = board(cycles=[(2, 2, "right"), (10, 10, "up")])
    moves = game.step({})
    assert moves == [[0, 3, 2, 1], [1, 10, 9, 1]]
    assert {(2, 2), (3, 2), (10, 10), (10, 9)} <= {(x, y) for x, y, _ in game.cells()}
    assert game.holder(3, 2) == 0 and game.holder(10, 9) == 1 and game.holder(5, 5) is None


def test_a_cycle_that_leaves_the_board_is_out():
    game = board(width=16, cycles=[(15, 5, "right"), (5, 5, "down")])
    moves = game.step({})
    assert moves[0] == [0, 15, 5, 0]
    assert game.alive() == [False, True]
    assert game.finished and game.winner() == 1
    assert game.ranking() == [1, 0]


def test_a_cycle_that_enters_a_wall_is_out():
    game = board(cycles=[(4, 4, "right"), (8, 8, "left")], walls=[(5, 4)])
    game.step({})
    assert game.alive() == [False, True]


def test_running_into_another_cycles_trail_is_out():
    game = board(cycles=[(4, 4, "down"), (3, 6, "right")])
    game.step({})  # 0 at (4, 5); 1 at (4, 6)
    game.step({})  # 0 would enter (4, 6): 1's trail
    assert game.alive() == [False, True]


def test_head_on_both_are_out_and_nobody_wins():
    game = board(cycles=[(4, 4, "right"), (5, 4, "left")])
    game.step({})
    assert game.alive() == [False, False]
    assert game.finished
    assert game.winner() is None


def test_two_cycles_entering_the_same_cell_on_one_tick_are_both_out():
    game = board(cycles=[(4, 4, "right"), (6, 4, "left"), (1, 1, "right")])
    game.step({})
    assert game.alive() == [False, False, True]
    assert game.winner() == 2
    # Out on the same tick: ranked after the survivor, in seat order.
    assert game.ranking() == [2, 0, 1]


def test_ranking_lists_the_last_one_out_first():
    game = board(width=16, cycles=[(14, 1, "right"), (13, 3, "right"), (1, 8, "down")])
    game.step({})  # 0 at the edge (15, 1)... still in
    game.step({})  # 0 out
    game.step({})  # 1 at (15, 3)? moves 13->14->15->out
    assert game.alive() == [False, False, True]
    assert game.ranking() == [2, 1, 0]


def test_a_reversal_is_ignored():
    game = board(cycles=[(4, 4, "right"), (10, 10, "up")])
    game.step({0: ["left"]})
    assert game.cycles[0].dir == "right"
    assert game.alive() == [True, True]
    assert (game.cycles[0].x, game.cycles[0].y) == (5, 4)


def test_one_turn_a_tick_and_the_latest_wins():
    game = board(cycles=[(4, 4, "right"), (10, 10, "up")])
    game.step({0: ["up", "down"]})
    assert (game.cycles[0].x, game.cycles[0].y) == (4, 5)
    assert game.cycles[0].dir == "down"


def test_the_latest_turn_that_is_no_reversal_wins():
    game = board(cycles=[(4, 4, "right"), (10, 10, "up")])
    game.step({0: ["up", "left"]})  # left would reverse: up is taken
    assert (game.cycles[0].x, game.cycles[0].y) == (4, 3)


def test_a_cycle_that_is_out_stays_put():
    game = board(cycles=[(15, 4, "right"), (1, 1, "down"), (8, 8, "up")])
    game.step({})
    moves = game.step({0: ["down"]})
    assert [m[0] for m in moves] == [1, 2]


@pytest.mark.parametrize("seats", range(2, 9))
def test_start_positions_are_distinct_on_the_board_and_no_one_starts_doomed(seats):
    starts = start_positions(16, 16, seats)
    assert len({(x, y) for x, y, _ in starts}) == seats
    assert all(0 <= x < 16 and 0 <= y < 16 for x, y, _ in starts)
    game = LightCycles(width=16, height=16, seats=seats)
    game.step({})
    assert all(game.alive())


def test_unknown_direction_is_refused():
    with pytest.raises(Invalid):
        LightCycles.parse_input({"dir": "sideways"})
    assert LightCycles.parse_input({"dir": "up"}) == "up"


def test_cells_name_who_holds_each_wall():
    game = board(cycles=[(2, 2, "right"), (9, 9, "left")])
    game.step({})
    assert sorted(game.cells()) == [[2, 2, 0], [3, 2, 0], [8, 9, 1], [9, 9, 1]]


def collector_work(root) -> int:
    """References Python's cycle collector follows inside `root`'s tracked objects (what a
    full collection walks for it), not counting classes and modules."""
    seen, work, stack = set(), 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type) or not gc.is_tracked(obj):
            continue
        seen.add(id(obj))
        referents = gc.get_referents(obj)
        work += len(referents)
        stack.extend(referents)
    return work


def test_the_collector_has_as_much_to_walk_in_a_long_game_as_in_a_new_one():
    """A server runs many long games at once: walls kept as Python objects made each full
    collection walk every wall cell of every game (10-20 ms stalls of all its games' ticks)."""
    game = LightCycles(width=128, height=128, seats=2)
    gc.collect()
    game.step({})  # the game goes on between collections
    at_start = collector_work(game)
    for _ in range(40):
        game.step({})
    gc.collect()
    game.step({})
    assert len(game.cells()) > 80 and game.alive() == [True, True]
    assert collector_work(game) == at_start
