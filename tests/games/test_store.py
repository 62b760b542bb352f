"""The Redis game store on a real redis-server: a tick's two calls take every game a process
runs at once, and each game stays fenced by its own lease and tick number."""

import pytest

from games.engine import Checkpoint
from games.store import RedisGameStore, new_token
from tests.support import procs


@pytest.fixture(scope="module")
def redis_url():
    with procs.RedisServer() as redis:
        yield redis.url


@pytest.fixture
async def store(redis_url):
    store = RedisGameStore(redis_url)
    await store.redis.flushdb()
    yield store
    await store.redis.aclose()


async def test_one_drain_takes_each_games_inputs_and_keeps_them_until_a_commit(store):
    await store.push_input(1, [0, 1, "up"])
    await store.push_input(2, [1, 1, "left"])
    await store.push_input(2, [1, 2, "down"])
    assert await store.drain([1, 2, 3]) == [[[0, 1, "up"]], [[1, 1, "left"], [1, 2, "down"]], []]
    # Drained but not applied by a committed tick: a takeover's drain sees them again.
    await store.push_input(1, [0, 2, "right"])
    assert await store.drain([1]) == [[[0, 1, "up"], [0, 2, "right"]]]


async def test_one_commit_checkpoints_many_games_each_behind_its_own_lease(store):
    mine, theirs = new_token(), new_token()
    assert await store.acquire(1, mine)
    assert await store.acquire(2, theirs)
    for game_id in (1, 2):
        await store.push_input(game_id, [0, 1, "up"])
    await store.drain([1, 2])
    entry = {"0": [[1, "up"]]}
    committed = await store.commit([Checkpoint(1, mine, 1, entry), Checkpoint(2, mine, 1, entry)])
    assert committed == [True, False]  # game 2's lease is another process's
    assert await store.log_entries(1) == [entry]
    assert await store.log_entries(2) == []
    # Game 1's commit applied its pending inputs; game 2's are kept for its runner.
    assert await store.drain([1, 2]) == [[], [[0, 1, "up"]]]
    # A tick out of order (a runner that fell behind and came back) is fenced out.
    assert await store.commit([Checkpoint(1, mine, 3, {}), Checkpoint(1, mine, 2, {})]) == [
        False,
        True,
    ]
    assert len(await store.log_entries(1)) == 2
    # Each commit renewed the lease of the game it wrote.
    assert 0 < await store.redis.pttl("sb:game:1:lease") <= 700


async def test_clock_numbers_count_up_across_processes(redis_url):
    one, two = RedisGameStore(redis_url), RedisGameStore(redis_url)
    try:
        await one.redis.delete("sb:games:clocks")
        assert [await one.clock_number(), await two.clock_number(), await one.clock_number()] == [
            1,
            2,
            3,
        ]
    finally:
        await one.redis.aclose()
        await two.redis.aclose()


async def test_a_flood_of_queued_inputs_is_drained_whole(store):
    # Lua's unpack stops near 8,000 values: a drain that copied them in one go failed after
    # deleting them, and stopped every game of the process.
    async with store.redis.pipeline(transaction=False) as pipe:
        for seq in range(1, 10_001):
            pipe.rpush("sb:game:1:inputs", f'[0, {seq}, "up"]')
        await pipe.execute()
    await store.push_input(2, [0, 1, "left"])
    drained = await store.drain([1, 2])
    assert [seq for _, seq, _ in drained[0]] == list(range(1, 10_001))
    assert drained[1] == [[0, 1, "left"]]
    assert await store.redis.llen("sb:game:1:inputs") == 0


async def test_a_commit_retried_after_its_answer_was_lost_counts_once(store):
    token = new_token()
    assert await store.acquire(1, token)
    checkpoint = Checkpoint(1, token, 1, {"0": [[1, "up"]]})
    assert await store.commit([checkpoint]) == [True]
    assert await store.commit([checkpoint]) == [True]  # the same tick again: already there
    assert len(await store.log_entries(1)) == 1
    other = Checkpoint(1, token, 1, {"0": [[1, "down"]]})
    assert await store.commit([other]) == [False]  # a different tick 1 is not


async def test_hosts_are_the_processes_that_said_they_were_alive_lately(store):
    assert await store.hosts("one") == ["one"]
    assert await store.hosts("two") == ["one", "two"]
    await store.redis.zadd("sb:games:hosts", {"gone": 1})  # last alive in 1970
    assert await store.hosts("one") == ["one", "two"]
    assert await store.redis.zscore("sb:games:hosts", "gone") is None
