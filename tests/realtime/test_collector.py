"""realtime.collector: while a holder paces them, Python's own full collections are off and
come only when the holder has time for one; they come back when the last holder lets go."""

import gc
import time
import traceback
from contextlib import contextmanager

import pytest

from realtime.collector import PacedCollections


@contextmanager
def full_collections(held_by: PacedCollections | None = None):
    """Record each full collection (only those while `held_by` is held, if given): whether
    the pacer asked for it (else Python did)."""
    seen: list[bool] = []

    def probe(phase, info):
        if held_by is not None and not held_by.holders:
            return
        if phase == "start" and info["generation"] == 2:
            seen.append(any(f.name == "collect_if_due" for f in traceback.extract_stack()))

    gc.callbacks.append(probe)
    try:
        yield seen
    finally:
        gc.callbacks.remove(probe)


@pytest.fixture
def eager_gc():
    """Python's collector set to come often, so that a full collection falls due quickly."""
    saved = gc.get_threshold()
    gc.set_threshold(50, 2, 2)
    yield
    gc.set_threshold(*saved)


def churn(count=200_000):
    """Allocate cycles, as a busy server does; enough survive to make a full collection due."""
    keep = []
    for _ in range(count):
        node: list = []
        node.append(node)
        keep.append(node)
    return len(keep)


def test_python_collects_on_its_own_unless_held(eager_gc):
    with full_collections() as seen:
        churn()
    assert seen and not any(seen), "the control: Python's own full collections happen"
    pacer = PacedCollections()
    pacer.hold()
    try:
        with full_collections() as seen:
            churn()
        assert seen == []
    finally:
        pacer.release()
    assert gc.get_threshold() == (50, 2, 2)


def test_nested_holders_restore_python_s_threshold_when_the_last_lets_go(eager_gc):
    pacer = PacedCollections()
    pacer.hold()
    pacer.hold()
    pacer.release()
    assert gc.get_threshold()[2] > 1_000_000
    pacer.release()
    assert gc.get_threshold() == (50, 2, 2)


def test_a_collection_comes_when_due_and_there_is_room(eager_gc):
    pacer = PacedCollections(every=0.05, margin=0.005)
    pacer.hold()
    try:
        with full_collections() as seen:
            assert not pacer.collect_if_due(room=1.0), "not due yet"
            time.sleep(0.06)  # noqa: sleep-ok the pacer counts wall time since the last one
            assert pacer.collect_if_due(room=1.0)
            assert seen == [True] and pacer.took > 0
            time.sleep(0.06)  # noqa: sleep-ok as above
            pacer.took = 0.01
            assert not pacer.collect_if_due(room=0.012), "due, but no room before the deadline"
            time.sleep(0.1)  # noqa: sleep-ok past three periods
            assert pacer.collect_if_due(room=0.0), "overdue: it comes anyway"
            assert seen == [True, True]
    finally:
        pacer.release()
