"""Which process runs a game: new games spread over the processes that are alive, and a game
whose runner died is taken over at once. Two supervisors on one store stand for two processes
(the store is the only thing they share, as Redis is between processes)."""

import asyncio
import time

import pytest

from games import hosting
from games.engine import Tick
from games.hosting import HANDOVER_SECONDS, Supervisor, home
from games.store import game_store
from tests.support.timing import within


class Recorded(Supervisor):
    """A supervisor that notes the games it would run instead of running them."""

    def __init__(self, now: list[float]) -> None:
        super().__init__()
        self.started: list[int] = []
        self.clock = lambda: now[0]

    def _start(self, game_id: int, token: str) -> None:
        self.started.append(game_id)
        self.runners[game_id] = asyncio.get_running_loop().create_future()

    def shows(self, games: range, status: str) -> None:
        for game_id in games:
            self.sockets[game_id] = {object()}
            self.status[game_id] = status


@pytest.fixture
def now():
    return [100.0]


@pytest.fixture
async def pair(now, settings):
    settings.REDIS_URL = None  # the in-memory store: the two share it through game_store()
    one, two = Recorded(now), Recorded(now)
    await game_store().hosts(one.host_id)
    await game_store().hosts(two.host_id)
    return one, two


def test_the_home_of_a_game_is_one_of_the_hosts_and_shares_are_even():
    hosts = ["a", "b"]
    homes = [home(game_id, hosts) for game_id in range(1000)]
    assert set(homes) == {"a", "b"}
    assert 400 < homes.count("a") < 600
    assert home(7, []) is None
    # A third process takes about a third of the games, each from one of the others.
    moved = [g for g in range(1000) if home(g, ["a", "b", "c"]) != home(g, hosts)]
    assert all(home(g, ["a", "b", "c"]) == "c" for g in moved)


async def test_new_games_go_to_their_home_process_even_if_another_polls_first(pair):
    one, two = pair
    for supervisor in (one, two):
        supervisor.shows(range(1, 41), "countdown")
    await one.adopt_orphans()  # polls first, and takes only its own share
    await two.adopt_orphans()
    hosts = sorted([one.host_id, two.host_id])
    assert one.started == [g for g in range(1, 41) if home(g, hosts) == one.host_id]
    assert two.started == [g for g in range(1, 41) if home(g, hosts) == two.host_id]
    assert 10 <= len(one.started) <= 30


async def test_a_new_game_whose_home_does_not_take_it_is_taken_after_the_handover(pair, now):
    one, two = pair  # `two` is the home of some games, but shows none of them
    hosts = sorted([one.host_id, two.host_id])
    theirs = next(g for g in range(1, 100) if home(g, hosts) == two.host_id)
    one.shows(range(theirs, theirs + 1), "countdown")
    await one.adopt_orphans()
    assert one.started == []
    now[0] += HANDOVER_SECONDS / 2
    await one.adopt_orphans()
    assert one.started == []
    now[0] += HANDOVER_SECONDS
    await one.adopt_orphans()
    assert one.started == [theirs]


async def test_a_running_game_without_a_runner_is_taken_at_once_by_any_process(pair):
    one, two = pair
    hosts = sorted([one.host_id, two.host_id])
    theirs = [g for g in range(1, 40) if home(g, hosts) == two.host_id]
    one.shows(range(1, 40), "running")  # their runner's process died: no home waits
    await one.adopt_orphans()
    assert set(theirs) <= set(one.started)


async def test_a_process_gone_quiet_is_no_home(pair):
    one, _ = pair
    store = game_store()
    for host in list(store.alive):
        store.alive[host] -= 10  # both last said they were alive long ago
    assert await store.hosts(one.host_id) == [one.host_id]
    one.shows(range(1, 21), "countdown")
    await one.adopt_orphans()
    assert one.started == list(range(1, 21))


async def test_a_countdown_whose_home_died_is_taken_as_soon_as_its_lease_lapses(pair, now):
    """The handover counts from when the countdown was first seen, not from when the lease
    lapsed: a home that took the game and died costs its lease, not a handover more."""
    one, two = pair
    hosts = sorted([one.host_id, two.host_id])
    theirs = next(g for g in range(1, 100) if home(g, hosts) == two.host_id)
    store = game_store()
    assert await store.acquire(theirs, "two's runner")
    one.shows(range(theirs, theirs + 1), "countdown")
    await one.adopt_orphans()
    assert one.started == []  # held by its home
    now[0] += HANDOVER_SECONDS + 0.01  # two dies; its lease lapses
    store.leases[theirs] = ("two's runner", 0.0)
    await one.adopt_orphans()
    assert one.started == [theirs]


async def test_a_socket_leaving_during_the_lease_check_stops_nothing_else(pair):
    """Found by review: the game's entry went with its last socket while the lease check was
    awaited, and the KeyError ended the pass before a running game without a runner."""
    one, _ = pair
    one.shows(range(1, 2), "countdown")
    one.shows(range(2, 3), "running")  # its runner died: it must be taken now
    store = game_store()
    held = store.held

    async def held_then_left(game_ids):
        answer = await held(game_ids)
        one.sockets.pop(1)  # Supervisor.unwatch of its last socket
        one.status.pop(1)
        return answer

    store.held = held_then_left
    await one.adopt_orphans()
    assert one.started == [2]


async def test_a_redis_outage_is_logged_once_not_at_every_poll(pair, caplog, monkeypatch):
    """Each poll reaches Redis (a process says it is alive), games shown or not."""
    one, _ = pair
    one.shows(range(1, 2), "waiting")  # nothing to take: the polls only say it is alive
    store = game_store()
    polls, down = asyncio.Event(), [5]

    async def hosts(host):
        down[0] -= 1
        if down[0] == 0:
            polls.set()
            one.sockets.clear()  # the last socket goes: the poll loop ends
        if down[0] > 1:
            raise ConnectionError("Redis went away")
        return [host]

    monkeypatch.setattr(store, "hosts", hosts)
    monkeypatch.setattr(hosting, "POLL_SECONDS", 0.001)
    one._ensure_running()
    await within(polls.wait(), 5)
    await within(one._task, 5)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "game supervisor: lease check failed",
        "game supervisor: lease checks work again",
    ]


class Showing:
    """A local socket of a game: what the supervisor hands it."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.got = asyncio.Event()

    async def room_event(self, event: dict) -> None:
        self.events.append(event)
        self.got.set()


class Timed(Showing):
    """A local socket that notes when (epoch seconds) each event reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    async def room_event(self, event: dict) -> None:
        self.at.append(time.time())
        await super().room_event(event)


@pytest.fixture
async def supervisor(settings):
    """This loop's supervisor (the in-memory store), its lanes stopped at the end."""
    settings.REDIS_URL = None
    supervisor = hosting.get_supervisor()
    yield supervisor
    publisher = hosting.get_publisher()
    for task in [*supervisor._lane_tasks, *([publisher.sender] if publisher.sender else [])]:
        task.cancel()
    await asyncio.gather(*supervisor._lane_tasks, return_exceptions=True)


async def test_a_process_sends_its_own_ticks_at_their_time_whatever_the_layer_does(
    supervisor, monkeypatch
):
    """The process that runs a game gives its own sockets each tick batch at the ticks' `due`
    (not before, however soon the batch was ready), from here: a layer that hangs, Redis gone,
    does not hold them. The batch goes on the layer due `others_after` later, and is not handed
    out twice when it comes back."""
    local = Timed()
    supervisor.sockets[1] = {local}
    sent: list[dict] = []
    hang = asyncio.Event()

    async def hanging_send(event):
        sent.append(event)
        await hang.wait()  # Redis does not answer

    monkeypatch.setattr(hosting, "send_event", hanging_send)
    due = time.time() + 0.03
    hosting.get_publisher().publish(1, Tick(7, [[0, 1, 2, 1]], {0: 3, 1: 0}, {}, due=due))
    await within(local.got.wait(), 5)
    assert [(e["type"], e["tick"], e["acks"]) for e in local.events] == [("game.tick", 7, [3, 0])]
    assert local.at[0] >= due

    assert [t[:2] for t in sent[0]["ticks"]] == [[1, 7]]
    assert sent[0]["due"] == pytest.approx(due + hosting.TickPublisher.others_after)
    await supervisor.hub_event(sent[0])  # its own batch, back from the layer
    local.got.clear()
    later = time.time() + 0.03
    await supervisor.hub_event({**sent[0], "origin": "another process", "due": later})
    assert len(local.events) == 1  # held, and hub_event did not wait for it
    await within(local.got.wait(), 5)
    assert len(local.events) == 2 and local.at[1] >= later


def batch(game_id: int, number: int) -> list[list]:
    return [[game_id, number, f'{{"type":"tick","tick":{number},"moves":[],"ack":', [0]]]


async def test_a_batch_held_for_its_time_holds_no_other_process_s_ticks(supervisor):
    """Each sending process has a lane of its own: a batch from one process, held until its
    time (its clock ahead of this one's, or due later), does not delay another's."""
    ahead, local = Timed(), Timed()
    supervisor.sockets[1], supervisor.sockets[2] = {ahead}, {local}
    now = time.time()
    supervisor.deliver_at(now + hosting.MAX_HOLD_SECONDS - 0.005, batch(1, 1), "clock ahead")
    supervisor.deliver_at(now, batch(2, 1), supervisor.host_id)
    await within(local.got.wait(), 5)
    assert not ahead.events  # the local batch did not wait behind the held one
    await within(ahead.got.wait(), 5)
    assert ahead.at[0] >= now + hosting.MAX_HOLD_SECONDS - 0.005


async def test_a_batch_due_past_the_longest_hold_goes_out_at_once(supervisor):
    """A batch whose `due` is further off than MAX_HOLD_SECONDS came from a process whose clock
    runs ahead of this one's: waiting for it would only delay the ticks."""
    local = Timed()
    supervisor.sockets[1] = {local}
    sent_at = time.time()
    event = {"type": "game.ticks", "ticks": batch(1, 1), "origin": "another process",
             "due": sent_at + 60}  # fmt: skip
    await supervisor.hub_event(event)
    await within(local.got.wait(), 5)
    assert local.at[0] - sent_at < 1  # not the minute it says


async def test_a_lane_keeps_a_bounded_backlog_and_survives_a_bad_batch(supervisor, caplog):
    """A socket that never returns holds its lane: the lane keeps the newest MAX_QUEUED batches
    (the sockets fill what was dropped from the checkpoint). A malformed batch is logged and the
    next ones still go."""
    stuck = asyncio.Event()

    class Hanging(Timed):
        async def room_event(self, event):
            await super().room_event(event)
            await stuck.wait()

    hanging = Hanging()
    supervisor.sockets[1] = {hanging}
    for number in range(1, 101):
        supervisor.deliver_at(0.0, batch(1, number), "another process")
    await within(hanging.got.wait(), 5)
    # The newest MAX_QUEUED were kept: the first of them is being delivered, the rest wait.
    assert [e["tick"] for e in hanging.events] == [101 - hosting.MAX_QUEUED]
    assert [b[0][1] for _, b in supervisor._lanes["another process"]] == list(
        range(102 - hosting.MAX_QUEUED, 101)
    )
    stuck.set()

    local = Timed()
    supervisor.sockets[2] = {local}
    supervisor.deliver_at(0.0, [[2, 1]], "a process of another release")  # not a tick
    supervisor.deliver_at(0.0, batch(2, 2), "a process of another release")
    await within(local.got.wait(), 5)
    assert [e["tick"] for e in local.events] == [2]
    assert "delivering a batch of ticks from a process of another release failed" in caplog.text


async def test_a_supervisor_cancelled_as_it_is_woken_stops(pair, monkeypatch):
    """Its poll loop waited with asyncio.wait_for, which in Python 3.11 returns when a cancel
    comes as the wait ends: the loop ran on, and a test awaiting it waited for ever."""
    one, _ = pair
    one.shows(range(1, 2), "waiting")
    polled = asyncio.Event()
    adopt = one.adopt_orphans

    async def adopt_orphans():
        await adopt()
        polled.set()

    monkeypatch.setattr(one, "adopt_orphans", adopt_orphans)
    monkeypatch.setattr(hosting, "POLL_SECONDS", 60)
    one._ensure_running()
    await within(polled.wait(), 5)
    await asyncio.sleep(0)  # noqa: sleep-ok one loop step: the poll is now waiting to be woken
    one._wake.set()  # the wait ends in the next step ...
    one._task.cancel()  # ... and the cancel comes in the same one
    with pytest.raises(asyncio.CancelledError):
        await within(one._task, 5)
