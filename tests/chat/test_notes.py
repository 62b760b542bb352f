"""Room notes over the y-websocket protocol (in-process), the notes API and versions."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from pycrdt import Encoder, YMessageType, write_message

from chat import notes, services
from chat.models import NoteUpdate, NoteVersion
from config.asgi import application
from tests.chat.test_consumers import closed_with, session_cookie
from tests.factories import UserFactory, make_room
from tests.support.yclient import YClient

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    return room


async def notes_socket(user, slug="lobby"):
    socket = WebsocketCommunicator(
        application,
        f"/ws/rooms/{slug}/notes/",
        headers=[(b"origin", b"http://localhost"),
                 (b"cookie", f"sessionid={await session_cookie(user)}".encode())],
    )  # fmt: skip
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


async def editor(user, slug="lobby"):
    socket, connected = await notes_socket(user, slug)
    assert connected

    async def recv() -> bytes:
        while True:
            output = await socket.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                raise ConnectionError(output.get("code"))
            if output.get("bytes") is not None:
                return output["bytes"]

    client = YClient(lambda data: socket.send_to(bytes_data=data), recv)
    await client.start()
    return socket, client


async def flushed(socket, client) -> None:
    """A ping round trip: frames are handled in order, so everything sent before is done."""
    await socket.send_to(text_data='{"type":"ping"}')
    while True:
        output = await socket.receive_output(timeout=5)
        if output.get("text") == '{"type":"pong"}':
            return
        if output.get("bytes") is not None:
            await client.handle(output["bytes"])


async def converge(*clients, text: str) -> None:
    await asyncio.wait_for(
        asyncio.gather(*(c.until(lambda c=c: str(c) == text) for c in clients)), 5
    )


async def test_concurrent_inserts_at_one_position_converge(layer, user, other, room):
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    await alice.edit(lambda t: t.insert(0, "agenda"))
    await converge(alice, bob, text="agenda")
    # Both insert at the same position without seeing each other's edit first.
    await asyncio.gather(
        alice.edit(lambda t: t.insert(6, " A")), bob.edit(lambda t: t.insert(6, " B"))
    )
    await asyncio.wait_for(
        asyncio.gather(
            alice.until(lambda: len(str(alice)) == 10), bob.until(lambda: len(str(bob)) == 10)
        ),
        5,
    )
    assert str(alice) == str(bob) and sorted(str(alice)[6:].split()) == ["A", "B"]
    api = Client()
    await sync_to_async(api.force_login)(user)
    body = (await sync_to_async(api.get)("/api/rooms/lobby/notes/")).json()
    assert body["text"] == str(alice)
    assert body["updated_by"]["username"] in {"alice", "bob"} and body["updated_at"].endswith("Z")
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_reconnect_syncs_offline_edits_both_ways(layer, user, other, room):
    alice_socket, alice = await editor(user)
    await alice.edit(lambda t: t.insert(0, "shared "))
    await converge(alice, text="shared ")
    await alice_socket.disconnect()
    # Offline: alice types locally, bob edits on the server.
    alice.text.insert(len(alice.text), "offline")
    bob_socket, bob = await editor(other)
    await bob.until(lambda: str(bob) == "shared ")
    await bob.edit(lambda t: t.insert(0, ">> "))
    # Alice comes back with the same document: her state vector brings only what she lacks.
    socket, connected = await notes_socket(user)
    assert connected

    async def recv():
        return (await socket.receive_output(timeout=5))["bytes"]

    alice._send = lambda data: socket.send_to(bytes_data=data)
    alice._recv = recv
    await alice.start()
    await alice.until(lambda: str(alice).startswith(">> "))
    # Her step2 answer to the server's state vector carries the offline edit to bob.
    await converge(alice, bob, text=">> shared offline")
    await socket.disconnect()
    await bob_socket.disconnect()


async def test_muted_member_reads_but_edits_are_not_applied(layer, user, other, room):
    alice_socket, alice = await editor(user)
    await alice.edit(lambda t: t.insert(0, "rules"))
    await converge(alice, text="rules")
    await sync_to_async(services.member_mute)(room=room, actor=user, target=other, minutes=5)
    bob_socket, bob = await editor(other)
    await bob.until(lambda: str(bob) == "rules")  # reads
    await bob.edit(lambda t: t.insert(0, "no "))
    await flushed(bob_socket, bob)  # the server has handled bob's update (and dropped it)
    await alice.edit(lambda t: t.insert(5, "!"))
    # Bob still receives others' edits (his own stays local only).
    await asyncio.wait_for(bob.until(lambda: str(bob).endswith("rules!")), 5)
    assert await sync_to_async(lambda: notes.note_text(room=room)["text"])() == "rules!"
    assert not await sync_to_async(NoteUpdate.objects.filter(author=other).exists)()
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_ban_closes_the_notes_socket_with_4003(layer, user, other, room):
    socket, _ = await notes_socket(other)
    await sync_to_async(services.member_ban)(room=room, actor=user, target=other)
    assert await closed_with(socket) == 4003
    _, connected = await notes_socket(other)
    assert not connected


async def test_private_room_notes_refuse_non_members(layer, user, other):
    await sync_to_async(make_room)(creator=user, name="Secret", slug="secret", is_private=True)
    _, connected = await notes_socket(other, "secret")
    assert not connected
    bob = Client()
    await sync_to_async(bob.force_login)(other)
    assert (await sync_to_async(bob.get)("/api/rooms/secret/notes/")).status_code == 404


async def test_awareness_is_relayed_and_cleared_when_the_socket_closes(layer, user, other, room):
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    entries = Encoder()
    entries.write_var_uint(1)
    entries.write_var_uint(4242)  # client id
    entries.write_var_uint(3)  # clock
    entries.write_var_string('{"user":{"name":"alice"},"cursor":null}')
    await alice.send_raw(bytes([YMessageType.AWARENESS]) + write_message(entries.to_bytes()))
    await asyncio.wait_for(bob.until(lambda: len(bob.awareness) >= 1), 5)
    assert b"alice" in bob.awareness[0]
    # A newcomer is told the cursors already there, without waiting for them to move.
    late_socket, late = await editor(other)
    await asyncio.wait_for(late.until(lambda: len(late.awareness) >= 1), 5)
    assert b"alice" in late.awareness[0]
    await late_socket.disconnect()
    await alice_socket.disconnect()
    await asyncio.wait_for(bob.until(lambda: len(bob.awareness) >= 2), 5)
    assert b"null" in bob.awareness[1] and b"alice" not in bob.awareness[1]
    await bob_socket.disconnect()


def test_versions_are_owner_only_and_restore_converges(user, other, room):
    from pycrdt import Doc, Text

    def write(text: str) -> None:
        doc = Doc()
        doc.apply_update(notes.note_state(room=room) or Doc().get_update())
        t = doc.get("notes", type=Text)
        before = doc.get_state()
        del t[:]
        t += text
        notes.note_update_append(room=room, author=user, update=doc.get_update(before), origin="t")

    write("v1 text")
    owner, member = Client(), Client()
    owner.force_login(user)
    member.force_login(other)
    assert (
        member.post(
            "/api/rooms/lobby/notes/versions/", {"name": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    created = owner.post(
        "/api/rooms/lobby/notes/versions/",
        {"name": "Before the meeting"},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["text"] == "v1 text"
    write("completely different")
    assert notes.note_text(room=room)["text"] == "completely different"
    version_id = created.json()["id"]
    restored = owner.post(f"/api/rooms/lobby/notes/versions/{version_id}/restore/")
    assert restored.status_code == 200 and restored.json()["restored_at"]
    assert notes.note_text(room=room)["text"] == "v1 text"
    assert [v["name"] for v in member.get("/api/rooms/lobby/notes/versions/").json()] == [
        "Before the meeting"
    ]
    assert NoteVersion.objects.get().created_by == user


def test_compaction_keeps_the_document(user, room):
    from pycrdt import Doc, Text

    doc = Doc()
    text = doc.get("notes", type=Text)
    for i in range(notes.COMPACT_AFTER + 5):
        before = doc.get_state()
        text += f"{i % 10}"
        notes.note_update_append(room=room, author=user, update=doc.get_update(before), origin="t")
    assert NoteUpdate.objects.filter(room=room).count() <= notes.COMPACT_AFTER
    assert notes.note_text(room=room)["text"] == str(text)


def test_other_users_cannot_read_private_notes_or_forge(user):
    outsider = UserFactory(username="eve")
    make_room(creator=user, name="Secret", slug="secret", is_private=True)
    client = Client()
    client.force_login(outsider)
    assert client.get("/api/rooms/secret/notes/versions/").status_code == 404
