"""realtime.collector: a full collection walks only what came since the last one, and what
closed connections left among the frozen is collected once enough of them closed."""

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from realtime.collector import FreezingCollector


class Node:
    """A tracked object that can be made part of a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


class Connections:
    """How many connections the process holds, as the server would tell its collector."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self) -> int:
        return self.count


@pytest.fixture
def collector() -> Iterator[FreezingCollector]:
    collector = FreezingCollector(Connections(400), thaw_after=8, thaw_interval=0.0)
    collector.install()
    try:
        yield collector
    finally:
        collector.uninstall()
        gc.unfreeze()  # the test process goes on as Python's collector would have it


def walked(obj: object) -> bool:
    """Whether a full collection would walk `obj` (frozen objects are not among these)."""
    return any(o is obj for o in gc.get_objects())


def cycle() -> tuple[Node, weakref.ref]:
    node = Node()
    node.other = Node()
    node.other.other = node
    return node, weakref.ref(node)


def test_what_survives_a_full_collection_is_not_walked_by_the_next(collector):
    live = [[n] for n in range(1000)]  # a socket's objects, say
    assert walked(live)
    frozen_before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= frozen_before + 1000
    assert not walked(live) and not walked(live[0])
    newer = [[n] for n in range(10)]
    assert walked(newer), "what came since is walked as always"


def test_startup_objects_are_frozen_at_install():
    before = [[n] for n in range(100)]
    collector = FreezingCollector(Connections(0))
    collector.install()
    try:
        assert not walked(before)
    finally:
        collector.uninstall()
        gc.unfreeze()


def test_garbage_among_the_frozen_is_collected_once_a_quarter_of_the_connections_closed(
    collector,
):
    node, gone = cycle()
    gc.collect()  # alive: frozen
    del node  # now garbage, but frozen: no full collection finds it
    gc.collect()
    assert gone() is not None
    for _ in range(400 // 4 - 1):
        collector.connection_closed()
    collector.check()
    gc.collect()
    assert gone() is not None and collector.thaws == 0
    collector.connection_closed()  # the hundredth of 400 open
    assert gone() is not None, "closes are counted; the server's check thaws"
    collector.check()
    assert gone() is None, "the thaw collected it"
    assert collector.thaws == 1 and collector.closed == 0
    survivor = [[1]]
    gc.collect()
    assert not walked(survivor), "what survived the thaw's collection is frozen again"


def test_a_few_connections_open_still_need_the_floor_of_closes_before_a_thaw(collector):
    collector.open_connections = Connections(0)
    node, gone = cycle()
    gc.collect()
    del node
    for _ in range(collector.thaw_after - 1):
        collector.connection_closed()
    collector.check()
    assert gone() is not None and collector.thaws == 0
    collector.connection_closed()
    collector.check()
    assert gone() is None and collector.thaws == 1


def test_thaws_come_at_most_one_per_interval(collector):
    """Clients leaving en masse: one walk of everything, not one per quarter of those left."""
    collector.thaw_interval = 3600.0
    collector.thawed_at = time.monotonic()
    node, gone = cycle()
    gc.collect()
    del node
    for _ in range(1000):
        collector.connection_closed()
        collector.check()
    assert collector.thaws == 0 and gone() is not None
    collector.thawed_at -= 3600.0  # the interval has passed: the server's next check thaws
    collector.check()
    assert collector.thaws == 1 and gone() is None
    collector.check()
    assert collector.thaws == 1, "nothing closed since"
