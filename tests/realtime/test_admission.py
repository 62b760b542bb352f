"""realtime.admission: a process works on a bounded number of socket handshakes at once; the
others wait their turn, and every way a handshake ends gives its turn back."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from realtime import admission
from tests.chat.test_consumers import join, open_socket
from tests.factories import UserFactory, make_room
from tests.support.timing import within


class Handshakes:
    """An application whose handshakes each wait for the test's word, then end as told."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()
        self.go: dict[str, asyncio.Event] = {}
        self.ending: dict[str, str] = {}

    async def __call__(self, scope, receive, send) -> None:
        name = scope["path"].strip("/")
        assert (await receive())["type"] == "websocket.connect"
        self.started.append(name)
        self.arrivals.put_nowait(name)
        await self.go.setdefault(name, asyncio.Event()).wait()
        ending = self.ending.get(name, "hello")
        if ending == "raise":
            raise RuntimeError("the application failed mid-handshake")
        if ending == "refuse":
            await send({"type": "websocket.close", "code": 403})
            return
        await send({"type": "websocket.accept"})
        if ending == "hello":
            await send({"type": "websocket.send", "text": "hello"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    def let(self, name: str, ending: str = "hello") -> None:
        self.ending[name] = ending
        self.go.setdefault(name, asyncio.Event()).set()


async def started(app: Handshakes) -> str:
    """The name of the next handshake the application begins."""
    return await within(app.arrivals.get(), 5)


@pytest.mark.parametrize("ending", ["hello", "quiet", "refuse", "raise"])
async def test_a_handshake_waits_for_a_turn_and_each_ending_gives_it_back(settings, ending):
    settings.SWITCHBOARD_HANDSHAKES_AT_ONCE = 1
    app = Handshakes()
    gated = admission.admitting_handshakes(app)
    first = WebsocketCommunicator(gated, "/first/")
    second = WebsocketCommunicator(gated, "/second/")
    first_connects = asyncio.ensure_future(first.connect(timeout=5))
    assert await started(app) == "first"
    second_connects = asyncio.ensure_future(second.connect(timeout=5))
    # The second handshake is not begun while the first one holds the only turn.
    done, _ = await asyncio.wait([second_connects], timeout=0.3)
    assert not done and app.started == ["first"]

    app.let("first", ending)
    if ending == "raise":
        with pytest.raises(RuntimeError):
            await within(asyncio.shield(first.future), 5)
        first_connects.cancel()  # asgiref only reports the failure once its wait times out
    else:
        connected, _ = await first_connects
        assert connected == (ending in ("hello", "quiet"))
    # However the first ended, the second gets its turn.
    assert await started(app) == "second"
    app.let("second")
    assert (await second_connects)[0]
    assert await second.receive_from(timeout=5) == "hello"
    await second.disconnect()
    if ending in ("hello", "quiet"):
        await first.disconnect()


async def test_no_bound_at_zero(settings):
    settings.SWITCHBOARD_HANDSHAKES_AT_ONCE = 0
    app = Handshakes()
    gated = admission.admitting_handshakes(app)
    sockets = [WebsocketCommunicator(gated, f"/s{n}/") for n in range(3)]
    connects = [asyncio.ensure_future(s.connect(timeout=5)) for s in sockets]
    assert {await started(app) for _ in range(3)} == {"s0", "s1", "s2"}
    for n in range(3):
        app.let(f"s{n}")
    assert all(connected for connected, _ in await asyncio.gather(*connects))
    for socket in sockets:
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_served_stack_waits_for_a_turn_and_gives_each_back(settings):
    """Through config.asgi: a room socket waits while another handshake holds the only turn;
    an admitted socket, a refused one and a failed origin check each give theirs back."""
    settings.SWITCHBOARD_HANDSHAKES_AT_ONCE = 1
    ann, outsider = await asyncio.gather(
        asyncio.to_thread(UserFactory), asyncio.to_thread(UserFactory)
    )
    await asyncio.to_thread(make_room, creator=ann, name="Den", slug="den", is_private=True)
    gate = admission.gate()
    await gate.acquire()  # a handshake of another socket holds the only turn
    joining = asyncio.ensure_future(join(ann, "den"))
    done, _ = await asyncio.wait([joining], timeout=0.5)
    assert not done
    gate.release()
    socket, hello = await joining
    assert hello["last_seq"] == 0 and not gate.locked()
    _, connected = await open_socket(outsider, "den")
    assert not connected and not gate.locked()
    _, connected = await open_socket(ann, "den", origin=None)
    assert not connected and not gate.locked()
    await socket.disconnect()


class RecordingListening:
    """Stands in for realtime.serve's listening ports: records what the gate asks of them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


async def test_a_crowded_gate_stops_accepting_until_the_crowd_thins(settings):
    settings.SWITCHBOARD_HANDSHAKES_AT_ONCE = 1
    listening = RecordingListening()
    admission.control_listening(listening)
    try:
        turns = admission.gate()
        await turns.acquire()  # the one turn, taken
        waiters = []
        for _ in range(admission.PAUSE_WAITING_PER_TURN):
            assert listening.calls == []
            waiters.append(asyncio.ensure_future(turns.acquire()))
            await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, so the waiter has queued
        assert turns.waiting == admission.PAUSE_WAITING_PER_TURN
        assert listening.calls == ["pause"]
        # Turns come free one by one: accepting resumes once one handshake per turn waits.
        for n in range(len(waiters)):
            turns.release()
            await waiters[n]
            resumed = turns.waiting <= 1
            assert listening.calls == (["pause", "resume"] if resumed else ["pause"])
        turns.release()
        assert not turns.locked()
    finally:
        admission.control_listening(None)


async def test_a_handshake_whose_client_left_while_it_waited_is_not_served(settings):
    """realtime.serve tells (a scope extension) whether a connection's client has gone: one
    that left while waiting for its turn is dropped, and the turn goes to the next."""
    settings.SWITCHBOARD_HANDSHAKES_AT_ONCE = 1
    app = Handshakes()
    gated = admission.admitting_handshakes(app)
    left = False
    first, second, third = (WebsocketCommunicator(gated, f"/{n}/") for n in ("1", "2", "3"))
    second.scope["extensions"] = {admission.CLIENT_GONE: lambda: left}
    connecting = [asyncio.ensure_future(first.connect(timeout=5))]
    assert await started(app) == "1"
    connecting += [asyncio.ensure_future(s.connect(timeout=5)) for s in (second, third)]
    for _ in range(20):  # a few loop turns, until both connects wait at the gate
        if admission.gate().waiting == 2:
            break
        await asyncio.sleep(0)  # noqa: sleep-ok one loop turn, bounded by the for
    assert admission.gate().waiting == 2
    left = True  # the second's client goes while it waits
    app.let("1")
    assert (await connecting[0])[0]
    assert await started(app) == "3"
    app.let("3")
    assert (await connecting[2])[0]
    assert app.started == ["1", "3"], "the second was never handed to the application"
    connecting[1].cancel()
    await first.disconnect()
    await third.disconnect()
