"""Edits, deletes, typing, read marks, presence and @mentions on the chat socket."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import services
from config.asgi import application
from tests.chat.test_consumers import join, next_frame, quiet, send, session_cookie
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    return room


async def sent(socket, body, client_id=None):
    """Send a message and return it as the room echoed it (other frames are passed over)."""
    await send(socket, {"type": "message.send", "body": body, "client_id": client_id})
    while True:
        frame = await next_frame(socket)
        if frame["type"] == "message" and (
            frame["message"]["client_id"] == client_id
            if client_id
            else frame["message"]["body"] == body
        ):
            return frame["message"]


async def test_author_edits_and_everyone_sees_message_updated(layer, user, other, room):
    alice, _ = await join(user)
    bob, _ = await join(other)
    message = await sent(alice, "helo")
    await next_frame(bob)
    await send(alice, {"type": "message.edit", "id": message["id"], "body": "hello"})
    for socket in (alice, bob):
        frame = await next_frame(socket)
        assert frame["type"] == "message.updated"
        updated = frame["message"]
        assert (updated["id"], updated["seq"], updated["body"]) == (message["id"], 1, "hello")
        assert updated["edited_at"].endswith("Z")
    await alice.disconnect()
    await bob.disconnect()


async def test_others_cannot_edit_or_delete_but_moderators_can(layer, user, other, room):
    alice, _ = await join(user)
    bob, _ = await join(other)
    message = await sent(alice, "mine")
    await next_frame(bob)
    await send(bob, {"type": "message.edit", "id": message["id"], "body": "yours now"})
    error = await next_frame(bob)
    assert (error["code"], error["ref"]) == ("forbidden", message["id"])
    await send(bob, {"type": "message.edit", "id": 999999, "body": "x"})
    assert (await next_frame(bob))["code"] == "not_found"
    bob_message = await sent(bob, "spam")
    await next_frame(alice)
    await send(alice, {"type": "message.delete", "id": bob_message["id"]})  # alice owns the room
    deleted = await next_frame(bob)
    assert deleted == {"type": "message.deleted", "id": bob_message["id"], "seq": 2}
    await alice.disconnect()
    await bob.disconnect()


async def test_deleted_message_stays_a_tombstone_in_history_and_resume(layer, user, room):
    alice, _ = await join(user)
    first = await sent(alice, "oops")
    await sent(alice, "fine")
    await send(alice, {"type": "message.delete", "id": first["id"]})
    assert (await next_frame(alice))["type"] == "message.deleted"
    await send(alice, {"type": "resume", "after_seq": 0})
    replay = [(await next_frame(alice))["message"] for _ in range(2)]
    assert [(m["seq"], m["deleted"], m["body"]) for m in replay] == [
        (1, True, ""),
        (2, False, "fine"),
    ]
    assert (await next_frame(alice))["type"] == "resumed"
    history = await sync_to_async(_history)(user)
    assert [(m["seq"], m["deleted"], m["body"]) for m in history] == [
        (1, True, ""), (2, False, "fine"),
    ]  # fmt: skip
    await send(alice, {"type": "message.edit", "id": first["id"], "body": "undead"})
    assert (await next_frame(alice))["code"] == "not_found"
    await alice.disconnect()


def _history(user):
    client = Client()
    client.force_login(user)
    return client.get("/api/rooms/lobby/messages/?after_seq=0&limit=200").json()


async def test_typing_reaches_others_once_per_two_seconds(layer, user, other, room):
    alice, _ = await join(user)
    bob, _ = await join(other)
    await send(alice, {"type": "typing"})
    assert await next_frame(bob) == {"type": "typing", "user": {"id": user.pk, "username": "alice"}}
    await send(alice, {"type": "typing"})
    await send(alice, {"type": "ping"})
    assert await next_frame(alice) == {"type": "pong"}  # alice never hears her own typing
    assert await quiet(bob)  # the second typing frame within 2 s was dropped
    await alice.disconnect()
    await bob.disconnect()


async def test_read_frames_move_unread(layer, user, other, room):
    alice, _ = await join(user)
    for i in range(4):
        await sent(alice, f"m{i}")
    bob, hello = await join(other)
    assert hello["room"]["unread"] == 4
    await send(bob, {"type": "read", "seq": 3})
    await send(bob, {"type": "read", "seq": 1})  # never moves back
    await send(bob, {"type": "ping"})
    assert await next_frame(bob) == {"type": "pong"}
    detail = await sync_to_async(_room_detail)(other)
    assert detail["unread"] == 1
    await send(bob, {"type": "read", "seq": 10**9})  # capped at the last message
    await send(bob, {"type": "ping"})
    await next_frame(bob)
    assert (await sync_to_async(_room_detail)(other))["unread"] == 0
    await send(bob, {"type": "read", "seq": "all"})
    assert (await next_frame(bob))["code"] == "invalid_frame"
    await alice.disconnect()
    await bob.disconnect()


def _room_detail(user):
    client = Client()
    client.force_login(user)
    return client.get("/api/rooms/lobby/").json()


async def test_presence_counts_users_not_tabs(layer, user, other, room):
    alice, hello = await join(user)
    assert hello["online"] == [{"id": user.pk, "username": "alice"}]
    bob_tab1, hello = await join(other)
    both = [{"id": user.pk, "username": "alice"}, {"id": other.pk, "username": "bob"}]
    assert hello["online"] == both
    # The next frame is Bob's arrival: Alice's own was in her hello, and is not repeated.
    assert await next_frame(alice, skip=()) == {"type": "presence", "online": both}
    bob_tab2, hello = await join(other)
    assert hello["online"] == both
    assert await quiet(alice)  # a second tab changes nothing
    await bob_tab1.disconnect()
    assert await quiet(alice)
    await bob_tab2.disconnect()
    assert await next_frame(alice, skip=()) == {
        "type": "presence", "online": [{"id": user.pk, "username": "alice"}],
    }  # fmt: skip
    await alice.disconnect()


async def test_a_burst_of_arrivals_is_announced_in_one_or_two_frames(layer, settings, user, room):
    settings.SWITCHBOARD_PRESENCE_INTERVAL = 2  # longer than the burst takes here
    alice, _ = await join(user)
    names = [f"guest{i}" for i in range(6)]
    guests = []
    for name in names:
        guest = await sync_to_async(UserFactory)(username=name)
        await sync_to_async(services.room_join)(room=room, user=guest)
        guests.append(guest)
    tabs = [(await join(guest))[0] for guest in guests]
    everyone = ["alice", *names]
    frames = []
    while not frames or [u["username"] for u in frames[-1]["online"]] != everyone:
        frames.append(await next_frame(alice, skip=()))
    # Six arrivals within one interval: at most one announcement at once (if Alice's own
    # did not open the interval) and one at its end, which has everyone.
    assert len(frames) <= 2, frames
    for tab in tabs:
        await tab.disconnect()
    await alice.disconnect()


async def notification_socket(user):
    socket = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"sessionid={await session_cookie(user)}".encode()),
        ],
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    return socket


async def test_mention_notifies_member_live_and_in_the_api(layer, user, other, room):
    outsider = await sync_to_async(UserFactory)(username="carol")  # not a member
    bell = await notification_socket(other)
    carol_bell = await notification_socket(outsider)
    alice, _ = await join(user)
    await sent(alice, "hey @bob and @carol, and @alice, look")
    frame = await bell.receive_json_from(timeout=5)
    notification = frame["notification"]
    assert frame["type"] == "notification" and notification["kind"] == "mention"
    assert notification["title"] == "alice mentioned you in Lobby"
    assert notification["url"] == "/rooms/lobby/#seq-1"
    assert set(notification) >= {"id", "kind", "title", "body", "created_at", "url"}
    assert await carol_bell.receive_nothing(timeout=0.3)

    @sync_to_async
    def api_round_trip():
        client = Client()
        client.force_login(other)
        listed = client.get("/api/notifications/").json()
        read = client.post(f"/api/notifications/{notification['id']}/read/")
        unread = client.get("/api/notifications/?unread=1").json()
        alice_client = Client()
        alice_client.force_login(user)
        stolen = alice_client.post(f"/api/notifications/{notification['id']}/read/")
        return listed, read, unread, stolen

    listed, read, unread, stolen = await api_round_trip()
    assert [n["id"] for n in listed] == [notification["id"]]
    assert read.status_code == 200 and read.json()["read_at"]
    assert unread == []
    assert stolen.status_code == 404
    for socket in (bell, carol_bell, alice):
        await socket.disconnect()


async def test_state_from_frames_equals_a_fresh_fetch(layer, user, other, room):
    """Zulip's check: hello plus the frames a client received rebuild what REST says."""
    watcher, hello = await join(other)
    state = {}  # seq -> message, as a client would keep it
    newest = [""]  # the newest server timestamp seen, for resume's updated_since

    def apply(frame):
        if frame["type"] in {"message", "message.updated"}:
            message = frame["message"]
            state[message["seq"]] = message
            newest[0] = max(newest[0], message["created_at"], message["edited_at"] or "")
        elif frame["type"] == "message.deleted":
            state[frame["seq"]] = {**state[frame["seq"]], "deleted": True, "body": ""}

    alice, _ = await join(user)
    script = []
    for i in range(6):
        script.append(await sent(alice, f"m{i}", client_id=f"c{i}"))
    await send(alice, {"type": "message.edit", "id": script[1]["id"], "body": "edited"})
    await send(alice, {"type": "message.delete", "id": script[2]["id"]})
    for _ in range(8):
        apply(await next_frame(watcher))
    last_seen = max(state)
    await watcher.disconnect()  # drops off; the room moves on
    await send(alice, {"type": "message.edit", "id": script[3]["id"], "body": "edited while away"})
    await sent(alice, "while away")
    await sent(alice, "m0 again?", client_id="c0")  # a retry: nothing new
    watcher, hello = await join(other)
    await send(watcher, {"type": "resume", "after_seq": last_seen, "updated_since": newest[0]})
    while (frame := await next_frame(watcher))["type"] != "resumed":
        apply(frame)
    fresh = {m["seq"]: m for m in await sync_to_async(_history)(other)}

    def comparable(messages):
        # message.deleted carries no timestamp, so a tombstone's edited_at is not compared.
        return {s: {**m, "edited_at": None} if m["deleted"] else m for s, m in messages.items()}

    assert comparable(state) == comparable(fresh)
    assert fresh[4]["body"] == "edited while away" and fresh[3]["deleted"]
    assert [m["seq"] for m in fresh.values()] == list(range(1, 8))
    await watcher.disconnect()
    await alice.disconnect()
