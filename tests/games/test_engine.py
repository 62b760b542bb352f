"""The engine without sockets: seats, inputs and acks, ticks, deterministic replay, and the
runner's checkpoint and takeover on the in-process store."""

import asyncio
import dataclasses
import random
import time

import pytest

from games.cycles import LightCycles
from games.engine import (
    GAMES,
    Clock,
    Match,
    Runner,
    Setup,
    Tick,
    clock_for,
    clock_offset,
    tick_text,
)
from games.store import MemoryGameStore, new_token
from tests.support.timing import within


def new_match(seats=2, size=16):
    return Match.new("cycles", width=size, height=size, seats=seats, seed=1)


def test_ack_is_the_highest_seq_a_tick_took_per_seat():
    match = new_match(seats=3)
    assert match.submit(0, 1, "down")
    assert match.submit(0, 2, "up")
    assert match.submit(1, 5, "left")
    tick = match.advance()
    assert tick.number == 1
    assert tick.acks == {0: 2, 1: 5, 2: 0}
    tick = match.advance()
    assert tick.acks == {0: 2, 1: 5, 2: 0}  # nothing new: acks stay


def test_a_seq_already_taken_or_queued_is_dropped():
    match = new_match()
    assert match.submit(0, 3, "down")
    assert not match.submit(0, 3, "up")  # a duplicate
    assert not match.submit(0, 2, "up")  # late
    match.advance()
    assert not match.submit(0, 1, "left")
    assert not match.submit(7, 9, "left")  # no such seat
    assert match.submit(0, 4, "left")


def test_tick_frame_is_encoded_once_and_each_socket_appends_its_ack():
    tick = Tick(7, [[0, 1, 2, 1]], {0: 3}, {})
    import json

    assert json.loads(tick_text(tick.head(), 3)) == {
        "type": "tick", "tick": 7, "moves": [[0, 1, 2, 1]], "ack": 3,
    }  # fmt: skip


def play(match, script):
    """Run a match to its end with scripted inputs {tick: [(seat, seq, dir)]}: the ticks."""
    ticks = []
    while not match.finished and match.tick < 500:
        for seat, seq, direction in script.get(match.tick + 1, []):
            match.submit(seat, seq, direction)
        ticks.append(match.advance())
    return ticks


def test_replaying_a_recorded_log_gives_the_identical_tick_stream():
    rng = random.Random(4)
    script = {}
    seqs = [0] * 4
    for tick in range(1, 200):
        for seat in range(4):
            if rng.random() < 0.3:
                seqs[seat] += 1
                script.setdefault(tick, []).append(
                    (seat, seqs[seat], rng.choice(["up", "down", "left", "right"]))
                )
    live = play(new_match(seats=4, size=24), script)
    log = [tick.entry for tick in live]
    replayed, last = Match.replay("cycles", width=24, height=24, seats=4, seed=1, log=log)
    again = Match.replay("cycles", width=24, height=24, seats=4, seed=1, log=log[:10])[0]
    assert live[-1].number > 10 and replayed.finished
    assert (last.number, last.moves, last.acks) == (live[-1].number, live[-1].moves, live[-1].acks)
    # Tick by tick: a replay from any point goes on exactly as the live match did.
    for tick in live[10:]:
        replay_tick = again._step(tick.entry)
        assert (replay_tick.number, replay_tick.moves, replay_tick.acks) == (
            tick.number, tick.moves, tick.acks,
        )  # fmt: skip
    assert again.rules.cells() == replayed.rules.cells()
    assert again.rules.ranking() == replayed.rules.ranking()


class RecordingHost:
    """A host that keeps what the runner published, and says when the game ended."""

    def __init__(self, setup: Setup) -> None:
        self._setup = setup
        self.ticks: list[Tick] = []
        self.began = 0
        self.finished = asyncio.Event()
        self.ticked = asyncio.Event()
        self.result = None

    async def setup(self, game_id):
        return self._setup

    async def begin(self, game_id):
        self.began += 1

    async def publish(self, game_id, tick):
        self.ticks.append(tick)
        self.ticked.set()

    async def until(self, count: int) -> None:
        """Wait until `count` ticks were published."""
        while len(self.ticks) < count:
            self.ticked.clear()
            await within(self.ticked.wait(), 5)

    async def finish(self, game_id, match):
        self.result = (match.rules.ranking(), match.rules.winner())
        self.finished.set()


def running(seats=2, size=16):
    return Setup(game_id=1, kind="cycles", status="running", width=size, height=size,
                 seats=seats, starts_at=None)  # fmt: skip


async def test_runner_ticks_to_the_end_and_checkpoints_every_tick():
    store = MemoryGameStore()
    host = RecordingHost(running())
    token = new_token()
    assert await store.acquire(1, token)
    await within(Runner(1, token, host=host, log=store).run(), 10)
    assert host.finished.is_set()
    numbers = [t.number for t in host.ticks]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(await store.log_entries(1)) == numbers[-1]
    assert await store.acquire(1, new_token()), "the runner released its lease"


class TimedHost(RecordingHost):
    """Notes when (epoch seconds) each tick was published and the result stored."""

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.published_at: list[float] = []
        self.finished_at = 0.0

    async def publish(self, game_id, tick):
        self.published_at.append(time.time())
        await super().publish(game_id, tick)

    async def finish(self, game_id, match):
        self.finished_at = time.time()
        await super().finish(game_id, match)


async def test_ticks_are_due_on_a_fixed_beat_and_the_result_after_the_last_one():
    """Each tick's frames go out `send_after` past its moment on the 50 ms grid, however long
    its round trips to the log took (a jitter buffer: Tick.due), and a finished game's result
    waits until every process has sent its last tick."""
    store = MemoryGameStore()
    commit, delays = store.commit, random.Random(3)

    async def slow_commit(checkpoints):  # a busy Redis: 0-10 ms a round trip
        await asyncio.sleep(delays.uniform(0, 0.01))  # noqa: sleep-ok the log's latency
        return await commit(checkpoints)

    store.commit = slow_commit
    host = TimedHost(running())
    token = new_token()
    assert await store.acquire(1, token)
    await within(Runner(1, token, host=host, log=store).run(), 10)
    dues = [t.due for t in host.ticks]
    assert len(dues) >= 5
    for earlier, later in zip(dues, dues[1:], strict=False):
        beats = (later - earlier) / Clock.interval  # 1, or more after a stall of the machine
        assert round(beats) >= 1 and beats == pytest.approx(round(beats), abs=0.03)
    for published, due in zip(host.published_at, dues, strict=True):
        assert due <= published + Clock.send_after + 0.001  # its grid moment had come
    assert host.finished_at >= dues[-1] + Clock.settle


async def test_a_match_that_ends_on_a_tick_whose_commit_fails_stops_its_runner():
    """Found by review: a match over after a tick whose commit failed was neither ticked again
    nor failed, and its runner waited for ever (this process never took the game again)."""
    store = MemoryGameStore()
    token = new_token()
    assert await store.acquire(1, token)
    runner = Runner(1, token, host=RecordingHost(running()), log=store)
    commit = store.commit

    async def failing_at_the_end(checkpoints):
        if runner.match.finished:
            raise ConnectionError("Redis went away")
        return await commit(checkpoints)

    store.commit = failing_at_the_end
    await within(runner.run(), 10)
    assert not runner.host.finished.is_set() and not runner.over


async def test_inputs_reach_the_runner_and_are_acked():
    store = MemoryGameStore()
    host = RecordingHost(running())
    token = new_token()
    await store.acquire(1, token)
    await store.push_input(1, [0, 1, "up"])  # seat 0 starts heading down, so a reversal
    await store.push_input(1, [0, 2, "right"])
    await within(Runner(1, token, host=host, log=store).run(), 10)
    assert host.ticks[0].acks[0] == 2


async def test_a_runner_that_lost_its_lease_stops_and_commits_nothing():
    store = MemoryGameStore()
    host = RecordingHost(running(size=64))
    token = new_token()
    await store.acquire(1, token)
    task = asyncio.create_task(Runner(1, token, host=host, log=store).run())
    await host.until(3)
    store.leases[1] = ("someone else", store.leases[1][1] + 10)
    await within(task, 5)
    assert not host.finished.is_set()
    assert len(await store.log_entries(1)) == len(host.ticks)


async def test_a_second_runner_goes_on_from_the_checkpoint_without_a_gap():
    store = MemoryGameStore()
    first = RecordingHost(running(size=64))
    token = new_token()
    await store.acquire(1, token)
    task = asyncio.create_task(Runner(1, token, host=first, log=store).run())
    await first.until(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    checkpointed = len(await store.log_entries(1))
    second = RecordingHost(running(size=64))
    token = new_token()
    assert await store.acquire(1, token)
    await within(Runner(1, token, host=second, log=store).run(), 20)
    # The takeover announces the last checkpointed tick again, then goes on from there.
    assert second.ticks[0].number == checkpointed
    assert second.ticks[0].moves == first.ticks[checkpointed - 1].moves
    assert [t.number for t in second.ticks] == list(
        range(checkpointed, second.ticks[-1].number + 1)
    )
    assert second.finished.is_set()


async def test_countdown_then_begin():
    import time

    store = MemoryGameStore()
    setup = Setup(game_id=1, kind="cycles", status="countdown", width=16, height=16, seats=2,
                  starts_at=time.time() + 0.3)  # fmt: skip
    host = RecordingHost(setup)
    token = new_token()
    await store.acquire(1, token)
    await within(Runner(1, token, host=host, log=store).run(), 10)
    assert host.began == 1 and host.finished.is_set()


class SlowSetupHost(RecordingHost):
    """A host whose database is busy: the game's setup comes when the test lets it."""

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.answer = asyncio.Event()

    async def setup(self, game_id):
        await self.answer.wait()
        return await super().setup(game_id)


class RenewNotingStore(MemoryGameStore):
    def __init__(self) -> None:
        super().__init__()
        self.renewed = asyncio.Event()

    async def renew(self, game_id, token):
        self.renewed.set()
        return await super().renew(game_id, token)


async def reading_the_setup() -> tuple[RenewNotingStore, SlowSetupHost, asyncio.Task]:
    """A runner of game 1 started on a store that notes renewals, reading a setup that comes
    when the test lets it (`host.answer`)."""
    store = RenewNotingStore()
    host = SlowSetupHost(running())
    token = new_token()
    await store.acquire(1, token)
    return store, host, asyncio.create_task(Runner(1, token, host=host, log=store).run())


async def test_a_runner_keeps_its_lease_while_the_database_is_slow_to_give_the_setup():
    """Found by bench.games: with a hundred games starting at once, reading a setup took longer
    than the lease, and the other process took the game over at tick 1."""
    store, host, task = await reading_the_setup()
    await within(store.renewed.wait(), 2)  # renewed while the setup is awaited
    assert not host.ticks
    host.answer.set()
    await within(task, 10)
    assert host.finished.is_set()


async def test_a_runner_cancelled_while_it_reads_the_setup_leaves_no_read_behind():
    """Found by review: the read went on in a task of its own when the runner was cancelled
    (a process stopping), its answer awaited by nobody."""
    store, host, task = await reading_the_setup()
    await within(store.renewed.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task, 2)
    readers = [t for t in asyncio.all_tasks() if "SlowSetupHost.setup" in repr(t.get_coro())]
    assert all(t.cancelled() or t.cancelling() for t in readers), readers


async def test_a_runner_whose_lease_went_while_it_read_the_setup_stops_there():
    """It would otherwise go on to begin the game and tick it beside the new runner (fenced at
    its first commit, but only then)."""
    store, host, task = await reading_the_setup()
    await within(store.renewed.wait(), 2)
    store.leases[1] = ("another process", store.leases[1][1] + 60)  # it stalled; taken over
    await within(task, 2)  # ends without the setup's answer
    host.answer.set()
    assert host.began == 0 and not host.ticks and not host.finished.is_set()
    assert store.leases[1][0] == "another process"


class CountingStore(MemoryGameStore):
    """The in-memory store, noting the games of each drain (one per tick of the clock)."""

    def __init__(self, fail_after: int | None = None, hang: bool = False) -> None:
        super().__init__()
        self.drains: list[list[int]] = []
        self.fail_after = fail_after
        self.hang = hang
        self.released: list[int] = []

    async def drain(self, game_ids):
        if self.fail_after is not None and len(self.drains) >= self.fail_after:
            if self.hang:
                await asyncio.Event().wait()  # a connection that never answers
            raise ConnectionError("Redis went away")
        self.drains.append(list(game_ids))
        return await super().drain(game_ids)

    async def release(self, game_id, token):
        self.released.append(game_id)
        if self.hang and len(self.drains) >= self.fail_after:
            await asyncio.Event().wait()
        await super().release(game_id, token)


async def start_runners(store, hosts):
    tasks = []
    for game_id, host in hosts.items():
        token = new_token()
        assert await store.acquire(game_id, token)
        tasks.append(asyncio.create_task(Runner(game_id, token, host=host, log=store).run()))
    return tasks


async def test_one_clock_ticks_all_the_games_of_a_process_with_one_drain_a_tick():
    store = CountingStore()
    hosts = {game_id: RecordingHost(running(size=24)) for game_id in (1, 2, 3)}
    await within(asyncio.gather(*await start_runners(store, hosts)), 10)
    for game_id, host in hosts.items():
        assert host.finished.is_set()
        numbers = [t.number for t in host.ticks]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(await store.log_entries(game_id)) == numbers[-1]
    # Every game ticked on the same drains: one a tick, each with the games still running.
    longest = max(len(h.ticks) for h in hosts.values())
    assert len(store.drains) == longest
    assert store.drains[0] == [1, 2, 3]
    for n, games in enumerate(store.drains, start=1):
        assert games == [g for g, h in hosts.items() if len(h.ticks) >= n]


class BrokenCycles(LightCycles):
    kind = "broken"

    def step(self, inputs):
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 4:
            raise RuntimeError("a bug in the rules")
        return super().step(inputs)


async def test_a_game_whose_rules_fail_stops_alone_and_frees_its_lease(monkeypatch):
    monkeypatch.setitem(GAMES, "broken", BrokenCycles)
    store = CountingStore()
    broken = RecordingHost(dataclasses.replace(running(size=24), kind="broken"))
    sound = RecordingHost(running(size=24))
    await within(asyncio.gather(*await start_runners(store, {1: broken, 2: sound})), 10)
    assert sound.finished.is_set() and len(sound.ticks) > len(broken.ticks)
    assert not broken.finished.is_set() and [t.number for t in broken.ticks] == [1, 2, 3]
    assert len(await store.log_entries(1)) == 3, "the failed tick was not checkpointed"
    assert sorted(store.released) == [1, 2]
    assert await store.acquire(1, new_token()), "another runner can take the broken game"


@pytest.mark.parametrize("hang", [False, True], ids=["fails", "hangs"])
async def test_an_unreachable_log_stops_every_runner_and_each_lets_its_lease_go(hang):
    store = CountingStore(fail_after=3, hang=hang)
    hosts = {game_id: RecordingHost(running(size=64)) for game_id in (1, 2)}
    await within(asyncio.gather(*await start_runners(store, hosts)), 10)
    for host in hosts.values():
        assert [t.number for t in host.ticks] == [1, 2, 3]
        assert not host.finished.is_set()
    assert sorted(store.released) == [1, 2]


def test_clocks_started_one_after_another_tick_apart():
    # Two processes whose clocks start in a row never tick within a fifth of a period.
    for number in range(1, 50):
        apart = abs(clock_offset(number) - clock_offset(number + 1))
        assert min(apart, 1 - apart) > 0.2


class FailingHost(RecordingHost):
    """A host whose publish fails from the second tick on (a tick that cannot be sent)."""

    async def publish(self, game_id, tick):
        if tick.number >= 2:
            raise TypeError("a move that cannot be encoded")
        await super().publish(game_id, tick)


async def test_a_tick_that_cannot_be_published_stops_its_game_alone():
    store = CountingStore()
    failing = FailingHost(running(size=24))
    sound = RecordingHost(running(size=24))
    await within(asyncio.gather(*await start_runners(store, {1: failing, 2: sound})), 10)
    assert sound.finished.is_set()
    assert [t.number for t in sound.ticks] == list(range(1, len(sound.ticks) + 1))
    assert [t.number for t in failing.ticks] == [1] and not failing.finished.is_set()
    assert sorted(store.released) == [1, 2]


async def test_a_second_runner_of_a_game_on_the_same_clock_stops_the_first():
    store = CountingStore()
    clock = clock_for(store)
    runners = []
    for _ in range(2):
        runner = Runner(1, new_token(), host=RecordingHost(running()), log=store)
        runner.match = new_match()
        runners.append(runner)
    # Tasks start in the order they are made: the second registers before any tick.
    first = asyncio.create_task(clock.run(runners[0]))
    second = asyncio.create_task(clock.run(runners[1]))
    # The first must stop, not wait forever for ticks that are no longer its own.
    assert await within(first, 5) is False
    assert clock.runners[1][0] is runners[1]
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert clock.runners == {}


class NoNumberStore(MemoryGameStore):
    """A store whose clock counter never answers (a connection that hangs at the start)."""

    async def clock_number(self):
        await asyncio.Event().wait()


async def test_a_clock_whose_number_never_comes_does_not_hang_its_runners():
    store = NoNumberStore()
    host = RecordingHost(running())
    token = new_token()
    await store.acquire(1, token)
    # The wait for the number is bounded (a lease): the runner ends, one way or the other,
    # and the game is free for a runner elsewhere.
    await within(Runner(1, token, host=host, log=store).run(), 10)
    assert await store.acquire(1, new_token())
