"""The game socket through the real ASGI stack (session cookie, origin rule, URL router), on
the in-memory layer: everything, the runner included, in this one process."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import Message, RoomBan
from config.asgi import application
from dashboard import services as dashboard_services
from games import services
from games.consumers import GameConsumer
from games.cycles import start_positions
from games.models import Game
from realtime.closecodes import CloseCode
from tests.factories import UserFactory, make_room
from tests.support.timing import HeldConnects, within

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = b"http://localhost"


@pytest.fixture(autouse=True)
def short_countdown(settings):
    settings.SWITCHBOARD_GAME_COUNTDOWN_SECONDS = 0.2


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(game_id, user=None, *, headers=()):
    headers = [(b"origin", ORIGIN), *headers]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    socket = WebsocketCommunicator(application, f"/ws/games/{game_id}/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


async def watch(game_id, user):
    """Connect and read the state frame."""
    socket, connected = await open_socket(game_id, user)
    assert connected
    state = await socket.receive_json_from(timeout=5)
    assert state["type"] == "state"
    return socket, state


async def send(socket, frame):
    await socket.send_to(text_data=json.dumps(frame))


async def next_of(socket, kind, timeout=5):
    """The next frame of type `kind`, passing over others."""
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame


async def status_reaches(socket, status):
    """Read until a status frame says `status` (earlier ones, such as joins, pass)."""
    while (await next_of(socket, "status"))["game"]["status"] != status:
        pass


async def until_result(socket):
    """Every tick up to the result: (tick numbers, acks, result frame)."""
    numbers, acks = [], []
    while True:
        frame = await socket.receive_json_from(timeout=10)
        if frame["type"] == "tick":
            numbers.append(frame["tick"])
            acks.append(frame["ack"])
        elif frame["type"] == "result":
            return numbers, acks, frame


async def closed_with(socket) -> int:
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


@pytest.fixture
def room(user):
    return make_room(creator=user, name="Lobby", slug="lobby")


@pytest.fixture
def game(room, user):
    return services.game_create(room=room, creator=user, width=16, height=16)


async def test_state_on_accept_shows_the_game_the_board_and_no_seat_to_a_spectator(
    layer, game, other
):
    socket, state = await watch(game.pk, other)
    assert state["tick"] == 0
    assert state["you"] is None
    assert state["game"]["status"] == "waiting"
    assert state["game"]["players"] == [{"seat": 0, "username": "alice", "alive": True}]
    assert len(state["cells"]) == 1 and state["cells"][0][2] == 0
    await send(socket, {"type": "ping"})
    assert await next_of(socket, "pong")
    await socket.disconnect()


async def test_join_takes_the_next_seat_and_everyone_sees_the_status(layer, game, user, other):
    alice, state = await watch(game.pk, user)
    assert state["you"] == 0
    bob, _ = await watch(game.pk, other)
    await send(bob, {"type": "join"})
    mine = await next_of(bob, "state")
    assert mine["you"] == 1
    status = await next_of(alice, "status")
    assert [p["username"] for p in status["game"]["players"]] == ["alice", "bob"]
    await send(bob, {"type": "join"})  # again: the same seat, nothing new
    assert (await next_of(bob, "state"))["you"] == 1
    await alice.disconnect()
    await bob.disconnect()


def heads(state):
    """Each seat's head on a state's board (the cells come in the order they were taken)."""
    return {seat: (x, y) for x, y, seat in state["cells"]}


async def test_every_socket_gets_the_new_board_when_a_seat_is_taken(layer, game, user, other):
    """Where the cycles start depends on how many are seated: a socket that read the board
    before the last join must not keep the old start cells (nor replay gaps with them)."""
    carol = await sync_to_async(UserFactory)(username="carol")
    dave = await sync_to_async(UserFactory)(username="dave")
    alice, state = await watch(game.pk, user)
    spectator, _ = await watch(game.pk, dave)
    joined = []
    for player in (other, carol):
        socket, _ = await watch(game.pk, player)
        await send(socket, {"type": "join"})
        await next_of(socket, "state")
        joined.append(socket)
    three = {seat: (x, y) for seat, (x, y, _) in enumerate(start_positions(16, 16, 3))}
    for socket in (alice, spectator):
        while heads(state := await next_of(socket, "state")) != three:
            assert len(state["game"]["players"]) < 3  # a board for fewer seats, then this one
    await send(alice, {"type": "start"})
    await status_reaches(alice, "running")
    first = await next_of(alice, "tick")
    assert first["tick"] == 1
    for seat, x, y, _alive in first["moves"]:
        hx, hy = three[seat]
        assert abs(x - hx) + abs(y - hy) == 1  # one cell on from where the board showed it
    for socket in (alice, spectator, *joined):
        await socket.disconnect()


async def test_a_board_read_while_the_game_moves_on_never_takes_the_socket_back(
    layer, game, user, other, settings, monkeypatch
):
    """Bob joins and his fresh board is read slowly (a busy database) while carol joins and
    alice starts the game: their status events wait for it. Once the board (read after the
    start) is out, carol's older `waiting` must not follow it: bob's page would show the lobby
    again and his turns would be refused."""
    settings.SWITCHBOARD_GAME_COUNTDOWN_SECONDS = 30
    carol = await sync_to_async(UserFactory)(username="carol")
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    late, _ = await watch(game.pk, carol)
    reading, answer = asyncio.Event(), asyncio.Event()
    snapshot = GameConsumer._send_snapshot

    async def slow_for_bob(self):
        if self.user.username == "bob":
            reading.set()
            await answer.wait()
        await snapshot(self)

    monkeypatch.setattr(GameConsumer, "_send_snapshot", slow_for_bob)
    await send(bob, {"type": "join"})
    await within(reading.wait(), 5)
    await send(late, {"type": "join"})
    while len((await next_of(alice, "status"))["game"]["players"]) < 3:
        pass
    await send(alice, {"type": "start"})
    await status_reaches(alice, "countdown")
    answer.set()
    seen = []  # bob's frames until both his board and the start's status have come
    while not {"state", "status"} <= {f["type"] for f in seen if showing(f) == "countdown"}:
        seen.append(await bob.receive_json_from(timeout=5))
    await send(bob, {"type": "turn", "dir": "left", "seq": 1})
    await send(bob, {"type": "ping"})
    while seen[-1]["type"] != "pong":
        seen.append(await bob.receive_json_from(timeout=5))
    shown = [showing(f) for f in seen if showing(f)]
    since = shown.index("countdown")
    assert shown[since:] == ["countdown"] * (len(shown) - since)  # never back to the lobby
    assert [f for f in seen if f["type"] == "error"] == []  # the turn was taken
    assert [f["you"] for f in seen if f["type"] == "state"][-1] == 1
    for socket in (alice, bob, late):
        await socket.disconnect()


def showing(frame):
    """The status a state or status frame shows (None for other frames)."""
    return frame["game"]["status"] if frame["type"] in ("state", "status") else None


async def test_a_whole_game_every_tick_in_order_acks_and_the_stored_result(
    layer, game, user, other
):
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    await send(bob, {"type": "join"})
    await next_of(bob, "state")
    await send(bob, {"type": "start"})
    refused = await next_of(bob, "error")
    assert refused["code"] == "forbidden"  # only the creator starts
    await send(alice, {"type": "start"})
    await status_reaches(alice, "countdown")
    await status_reaches(alice, "running")
    # Seat 1 starts at (3, 8) heading up; it turns right, and seat 0 runs off the board.
    await send(bob, {"type": "turn", "dir": "right", "seq": 1})
    await send(bob, {"type": "turn", "dir": "up", "seq": 2})
    numbers, acks, result = await until_result(alice)
    bob_numbers, bob_acks, bob_result = await until_result(bob)
    assert numbers == list(range(1, len(numbers) + 1))
    assert bob_numbers == numbers
    assert set(acks) == {0}
    assert bob_acks[-1] == 2
    assert result == bob_result
    assert result["winner"] == "bob"
    assert result["ranking"] == ["bob", "alice"]
    stored = await sync_to_async(Game.objects.get)(pk=game.pk)
    assert stored.status == "finished" and stored.ticks == numbers[-1]
    bodies = await sync_to_async(list)(
        Message.objects.filter(room=game.room).order_by("seq").values_list("body", flat=True)
    )
    assert "started a game of light cycles" in bodies[0] and f"/games/{game.pk}/" in bodies[0]
    assert "bob won" in bodies[-1]
    await alice.disconnect()
    await bob.disconnect()


async def test_refusals_join_after_start_bad_turns_and_spectators(layer, game, user, other):
    carol = await sync_to_async(UserFactory)(username="carol")
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    await send(alice, {"type": "start"})
    assert (await next_of(alice, "error"))["code"] == "forbidden"  # one seated: too few
    await send(alice, {"type": "turn", "dir": "up", "seq": 1})
    assert (await next_of(alice, "error"))["code"] == "forbidden"  # not running yet
    await send(bob, {"type": "join"})
    await next_of(bob, "state")
    await send(alice, {"type": "start"})
    await status_reaches(alice, "countdown")
    spectator, _ = await watch(game.pk, carol)
    await send(spectator, {"type": "join"})
    assert (await next_of(spectator, "error"))["code"] == "forbidden"
    await send(spectator, {"type": "turn", "dir": "up", "seq": 1})
    assert (await next_of(spectator, "error"))["code"] == "forbidden"
    for bad in (
        {"type": "turn", "dir": "sideways", "seq": 1},
        {"type": "turn", "dir": "up"},
        {"type": "turn", "dir": "up", "seq": "x"},
    ):
        await send(bob, bad)
        assert (await next_of(bob, "error"))["code"] == "invalid_frame"
    await send(bob, {"type": "turn", "dir": "left", "seq": 5})
    await send(bob, {"type": "turn", "dir": "left", "seq": 5})
    assert (await next_of(bob, "error"))["code"] == "invalid_frame"  # seq must go up
    await bob.send_to(text_data="{not json")
    assert (await next_of(bob, "error"))["code"] == "invalid_json"
    await send(bob, {"type": "fly"})
    assert (await next_of(bob, "error"))["code"] == "unknown_type"
    _, _, result = await until_result(spectator)
    assert result["winner"] in {"alice", "bob", None}
    for socket in (alice, bob, spectator):
        await socket.disconnect()


async def test_a_reconnecting_player_gets_a_fresh_state_and_their_seat(layer, game, user, other):
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    await send(bob, {"type": "join"})
    await next_of(bob, "state")
    await send(alice, {"type": "start"})
    await next_of(bob, "tick")
    await bob.disconnect()
    bob, state = await watch(game.pk, other)
    assert state["you"] == 1
    assert state["game"]["status"] == "running"
    assert state["tick"] >= 1
    assert len(state["cells"]) >= 2 + 2 * state["tick"] - 2  # both trails so far
    first = await next_of(bob, "tick")
    assert first["tick"] == state["tick"] + 1
    await send(bob, {"type": "turn", "dir": "right", "seq": 1})
    numbers, acks, _ = await until_result(bob)
    assert numbers == list(range(state["tick"] + 2, state["tick"] + 2 + len(numbers)))
    await alice.disconnect()
    await bob.disconnect()


async def test_a_finished_game_shows_its_result_on_connect(layer, game, user, other):
    await sync_to_async(services.game_join)(game=game, user=other)
    alice, _ = await watch(game.pk, user)
    await send(alice, {"type": "start"})
    _, _, result = await until_result(alice)
    await alice.disconnect()
    bob, state = await watch(game.pk, other)
    assert state["game"]["status"] == "finished"
    assert await next_of(bob, "result") == result
    await bob.disconnect()


async def test_outsiders_banned_and_device_keys_are_refused(layer, user, other):
    secret = await sync_to_async(make_room)(creator=user, name="S", slug="secret", is_private=True)
    game = await sync_to_async(services.game_create)(room=secret, creator=user)
    _, connected = await open_socket(game.pk, other)
    assert not connected
    _, connected = await open_socket(999999, user)
    assert not connected
    public = await sync_to_async(make_room)(creator=user, name="P", slug="public")
    open_game = await sync_to_async(services.game_create)(room=public, creator=user)
    await sync_to_async(RoomBan.objects.create)(room=public, user=other, banned_by=user)
    _, connected = await open_socket(open_game.pk, other)
    assert not connected
    _, key = await sync_to_async(dashboard_services.device_create)(owner=user, name="Thing")
    _, connected = await open_socket(
        open_game.pk, headers=[(b"authorization", f"Api-Key {key}".encode())]
    )
    assert not connected


async def test_a_ban_closes_an_open_game_socket(layer, game, user, other):
    bob, _ = await watch(game.pk, other)
    from chat.services import member_ban

    await sync_to_async(member_ban)(room=game.room, actor=user, target=other)
    assert await closed_with(bob) == CloseCode.ACCESS_REVOKED


async def test_a_flood_of_turns_is_refused_then_the_socket_closed(layer, game, other, settings):
    settings.SWITCHBOARD_GAME_FRAME_RATE = "20/second"
    settings.SWITCHBOARD_ABUSE_STRIKES = 3
    await sync_to_async(services.game_join)(game=game, user=other)
    bob, _ = await watch(game.pk, other)
    for seq in range(1, 40):
        await send(bob, {"type": "turn", "dir": "left", "seq": seq})
    codes = []
    while True:
        output = await bob.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        codes.append(json.loads(output["text"]).get("code"))
    assert output["code"] == CloseCode.ABUSE
    assert "rate_limited" in codes


def deliver_only(monkeypatch, keep) -> None:
    """Ticks reach this process's sockets only if `keep(number)`: dropped at the supervisor's
    delivery, not at the layer (the runner's own process does not use the layer)."""
    from games import hosting

    deliver = hosting.Supervisor.deliver_ticks

    async def some(self, batch):
        await deliver(self, [t for t in batch if keep(t[1])])

    monkeypatch.setattr(hosting.Supervisor, "deliver_ticks", some)


def bare_socket(last_tick: int, sent: list) -> GameConsumer:
    """A game socket (seat 0 of 2, game 1, running) without a connection: its frames go to
    `sent`."""
    socket = GameConsumer()
    socket.game_id, socket.seat, socket.setup = 1, 0, {"seats": 2}
    socket.last_tick, socket.shown, socket.status = last_tick, (2, 2), "running"
    socket.holding, socket.result_sent = False, False
    socket.delivering = asyncio.Lock()

    async def send_text(text):
        sent.append(json.loads(text))

    socket.send_text = send_text
    return socket


async def test_ticks_a_process_missed_are_sent_from_the_checkpoint_in_order(
    layer, game, user, other, monkeypatch
):
    # As a process whose layer dropped these (channels_redis over capacity): silently.
    deliver_only(monkeypatch, lambda number: number not in {3, 4, 7})
    await sync_to_async(services.game_join)(game=game, user=other)
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    await send(alice, {"type": "start"})
    await status_reaches(bob, "countdown")
    await send(bob, {"type": "turn", "dir": "right", "seq": 1})
    numbers, acks, _ = await until_result(bob)
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 8
    assert acks[-1] == 1
    await alice.disconnect()
    await bob.disconnect()


async def test_a_socket_sends_every_tick_before_it_says_the_game_is_over(
    layer, game, user, other, monkeypatch
):
    """The last ticks may still be held for their beat (or dropped) when the status and the
    result come through the hub: the socket sends them from the checkpoint first."""
    # Ticks from 4 on never arrive by themselves: only the end of the game brings them.
    deliver_only(monkeypatch, lambda number: number < 4)
    await sync_to_async(services.game_join)(game=game, user=other)
    alice, _ = await watch(game.pk, user)
    bob, _ = await watch(game.pk, other)
    await send(alice, {"type": "start"})
    await status_reaches(bob, "running")
    seen = []
    while (frame := await bob.receive_json_from(timeout=10))["type"] != "result":
        seen.append(frame["tick"] if frame["type"] == "tick" else frame["game"]["status"])
    ticks = (await sync_to_async(Game.objects.get)(pk=game.pk)).ticks
    assert ticks >= 5
    assert seen == [*range(1, ticks + 1), "finished"]
    await alice.disconnect()
    await bob.disconnect()


async def test_a_tick_and_the_end_of_the_game_reaching_a_socket_at_once_send_each_tick_once(
    monkeypatch,
):
    """The hub (the status saying the game is over) and a lane of held ticks deliver to a
    socket from tasks of their own: while the end's catch-up reads the checkpoint, the held
    last tick waits, and is then not sent a second time."""
    from games import hosting
    from games.engine import Tick

    sent = []
    socket = bare_socket(4, sent)
    asked, redis_answers = asyncio.Event(), asyncio.Event()

    async def missed_ticks(game_id, setup, first, last):
        asked.set()
        await redis_answers.wait()
        return [Tick(n, [], {0: 0}, {}) for n in range(first, last + 1)]

    monkeypatch.setattr(hosting.get_supervisor(), "missed_ticks", missed_ticks)
    head = Tick(5, [], {0: 0}, {}).head()
    over = {"type": "hub.frame", "text": '{"type":"status","game":{"status":"finished"}}',
            "game_status": "finished", "seats": 2, "ticks": 5}  # fmt: skip
    ending = asyncio.create_task(socket.room_event(over))
    await asked.wait()  # the catch-up is waiting on Redis
    held_tick = asyncio.create_task(
        socket.room_event({"type": "game.tick", "tick": 5, "head": head, "acks": [0]})
    )
    await asyncio.sleep(0)  # noqa: sleep-ok one turn: the held tick's lane got to the socket
    redis_answers.set()
    await asyncio.gather(ending, held_tick)
    assert [f.get("tick", f["type"]) for f in sent] == [5, "status"]


@pytest.mark.parametrize("checkpoint", ["unreachable", "without the last ticks"])
async def test_a_socket_that_cannot_catch_up_at_the_end_reads_a_fresh_state(
    monkeypatch, checkpoint
):
    """Found by review: Redis down as the game ended left the socket without the status (the
    catch-up raised into the hub), and ticks the log no longer had were skipped silently."""
    from games import hosting
    from games.engine import Tick

    sent, refreshed = [], []
    socket = bare_socket(2, sent)

    async def missed_ticks(game_id, setup, first, last):
        if checkpoint == "unreachable":
            raise ConnectionError("Redis went away")
        return [Tick(n, [], {0: 0}, {}) for n in range(first, last)]  # not the last one

    socket._state_soon = lambda: refreshed.append(True)
    monkeypatch.setattr(hosting.get_supervisor(), "missed_ticks", missed_ticks)
    over = {"type": "hub.frame", "text": '{"type":"status","game":{"status":"finished"}}',
            "game_status": "finished", "seats": 2, "ticks": 5}  # fmt: skip
    await socket.room_event(over)
    ticks = [] if checkpoint == "unreachable" else [3, 4]
    assert [f.get("tick", f["type"]) for f in sent] == [*ticks, "status"]
    assert refreshed == [True]


async def test_a_resync_while_a_socket_connects_waits_until_it_is_open(
    layer, user, room, monkeypatch, caplog
):
    """It used to reach the socket before `opened` had set up its catch-up: the fresh state
    failed in a task of its own, and the hub logged the error."""
    from realtime.hub import get_hub

    game = await sync_to_async(services.game_create)(room=room, creator=user)
    held = HeldConnects(monkeypatch, GameConsumer)
    connecting = asyncio.create_task(open_socket(game.pk, user))
    await within(held.reached.wait(), 5)
    await get_hub()._resync()  # as after Redis lost the process's groups
    held.go_on.set()
    socket, connected = await within(connecting, 5)
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "state"
    assert (await socket.receive_json_from(timeout=5))["type"] == "state"  # the catch-up
    await socket.disconnect()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
