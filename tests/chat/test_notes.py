"""Room notes over the y-websocket protocol (in-process), the notes API and versions."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from pycrdt import Encoder, YMessageType, create_update_message, write_message, write_var_uint

from chat import notes, services
from chat.models import NoteQuarantine, NoteUpdate, NoteVersion, RoomNote
from config.asgi import application
from realtime.closecodes import CloseCode
from realtime.errors import Invalid
from tests.chat.test_consumers import closed_with, session_cookie
from tests.factories import UserFactory, make_room
from tests.support.timing import within
from tests.support.yclient import YClient, awareness_message

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
    await within(asyncio.gather(*(c.until(lambda c=c: str(c) == text) for c in clients)), 5)


async def test_concurrent_inserts_at_one_position_converge(layer, user, other, room):
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    await alice.edit(lambda t: t.insert(0, "agenda"))
    await converge(alice, bob, text="agenda")
    # Both insert at the same position without seeing each other's edit first.
    await asyncio.gather(
        alice.edit(lambda t: t.insert(6, " A")), bob.edit(lambda t: t.insert(6, " B"))
    )
    await within(
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
    await within(bob.until(lambda: str(bob).endswith("rules!")), 5)
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
    await flushed(bob_socket, bob)  # bob's socket has opened: it hears alice from the hub only
    entries = Encoder()
    entries.write_var_uint(1)
    entries.write_var_uint(4242)  # client id
    entries.write_var_uint(3)  # clock
    entries.write_var_string('{"user":{"name":"alice"},"cursor":null}')
    await alice.send_raw(bytes([YMessageType.AWARENESS]) + write_message(entries.to_bytes()))
    await within(bob.until(lambda: len(bob.awareness) >= 1), 5)
    assert b"alice" in bob.awareness[0]
    # A newcomer is told the cursors already there, without waiting for them to move.
    late_socket, late = await editor(other)
    await within(late.until(lambda: len(late.awareness) >= 1), 5)
    assert b"alice" in late.awareness[0]
    await late_socket.disconnect()
    await alice_socket.disconnect()
    await within(bob.until(lambda: len(bob.awareness) >= 2), 5)
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


# --- issue 12: who may write, what may be stored, and what awareness may say -------------------

# A Yjs update (client id baked in) and one that pycrdt accepts on its own but that makes the
# document panic once both are applied (found by fuzzing; yrs' BlockStore::push unwraps None).
SEED_UPDATE = bytes.fromhex(
    "0105b38285e0fefe8801000101056e6f7465730284b38285e0fefe880101016c84b38285e0fefe880102086c6f"
    "20776f726c642801016d016b0175037c3f8000007c4000000076010161770162c4b38285e0fefe880102b38285"
    "e0fefe8801030358595a01b38285e0fefe8801010002"
)
SEED_TEXT = "lXYZlo world"
POISON_UPDATE = bytes.fromhex(
    "0101b38285e0fefe8801ba9f83d10cc4b38285e0fefe880102b38285e0fefe8801030358595a01b38285e0fefe"
    "8801010002"
)


def stored_text(room) -> str:
    return notes.note_text(room=room)["text"]


async def rest_notes(user, slug="lobby"):
    client = Client()
    await sync_to_async(client.force_login)(user)
    return await sync_to_async(client.get)(f"/api/rooms/{slug}/notes/")


async def test_a_visitor_of_a_public_room_reads_the_notes_but_cannot_change_them(
    layer, user, other, room
):
    alice_socket, alice = await editor(user)
    await alice.edit(lambda t: t.insert(0, "members only"))
    await converge(alice, text="members only")
    eve = await sync_to_async(UserFactory)(username="eve")  # never joined the public room
    eve_socket, visitor = await editor(eve)
    await visitor.until(lambda: str(visitor) == "members only")  # a visitor reads
    await visitor.edit(lambda t: t.insert(0, "EVE WAS HERE "))
    await flushed(eve_socket, visitor)
    await alice.edit(lambda t: t.insert(0, "> "))
    await within(visitor.until(lambda: "> " in str(visitor)), 5)
    await flushed(alice_socket, alice)
    assert str(alice) == "> members only"  # never relayed
    assert await sync_to_async(stored_text)(room) == "> members only"  # never stored
    assert not await sync_to_async(NoteUpdate.objects.filter(author=eve).exists)()
    await eve_socket.disconnect()
    await alice_socket.disconnect()


async def test_in_an_archived_room_the_notes_are_read_but_not_changed(layer, user, other, room):
    alice_socket, alice = await editor(user)
    await alice.edit(lambda t: t.insert(0, "final"))
    await flushed(alice_socket, alice)  # stored before the room is archived
    await sync_to_async(services.room_update)(room=room, actor=user, is_archived=True)
    bob_socket, bob = await editor(other)
    await bob.until(lambda: str(bob) == "final")  # reads
    await bob.edit(lambda t: t.insert(0, "late "))
    await alice.edit(lambda t: t.insert(5, "!"))
    await flushed(bob_socket, bob)
    await flushed(alice_socket, alice)
    assert str(alice) == "final!" and str(bob) == "late final"  # neither edit relayed
    assert await sync_to_async(stored_text)(room) == "final"  # nor stored
    await bob_socket.disconnect()
    await alice_socket.disconnect()


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(SEED_UPDATE[:-7], id="truncated"),
        pytest.param(b"\xff" * 12, id="undecodable"),
        pytest.param(POISON_UPDATE, id="panics-when-applied"),
    ],
)
async def test_a_broken_update_is_refused_never_stored_and_the_notes_still_load(
    layer, user, other, room, broken
):
    alice_socket, alice = await editor(user)
    alice.doc.apply_update(SEED_UPDATE)
    await alice.send_raw(create_update_message(SEED_UPDATE))
    await flushed(alice_socket, alice)
    bob_socket, bob = await editor(other)
    await bob.until(lambda: str(bob) == SEED_TEXT)
    await bob.send_raw(create_update_message(broken))
    # The sender is told: a y-websocket client cannot read an error frame, so its socket closes
    # with a code that says reconnecting would only send the same update again.
    assert await closed_with(bob_socket) == CloseCode.UPDATE_REFUSED
    assert not await sync_to_async(NoteUpdate.objects.filter(author=other).exists)()
    response = await rest_notes(other)
    assert response.status_code == 200 and response.json()["text"] == SEED_TEXT
    # A new socket still connects and syncs, and editing goes on for everyone.
    late_socket, late = await editor(other)
    await late.until(lambda: str(late) == SEED_TEXT)
    await late.edit(lambda t: t.insert(0, "ok "))
    await converge(alice, late, text="ok " + SEED_TEXT)
    await late_socket.disconnect()
    await alice_socket.disconnect()


def store_raw(room, author, data: bytes) -> None:
    """Write an update row directly, as a bad row from before the fix (or by hand) would be."""
    NoteUpdate.objects.create(room=room, author=author, data=data)


@pytest.mark.parametrize(
    "corrupt",
    [pytest.param(b"\x01\x02garbage", id="garbage"), pytest.param(POISON_UPDATE, id="poison")],
)
async def test_a_stored_update_that_fails_to_load_is_quarantined(
    layer, user, other, room, corrupt, caplog
):
    await sync_to_async(store_raw)(room, user, SEED_UPDATE)
    await sync_to_async(store_raw)(room, other, corrupt)
    response = await rest_notes(user)
    assert response.status_code == 200 and response.json()["text"] == SEED_TEXT
    assert any(r.levelname == "ERROR" and "quarantine" in r.getMessage() for r in caplog.records)
    quarantined = await sync_to_async(
        lambda: list(NoteQuarantine.objects.filter(room=room).values_list("data", flat=True))
    )()
    assert [bytes(q) for q in quarantined] == [corrupt]
    assert await sync_to_async(NoteUpdate.objects.filter(author=other).count)() == 0
    # Sockets connect and sync what loads, and edits are stored again.
    socket, client = await editor(other)
    await client.until(lambda: str(client) == SEED_TEXT)
    await client.edit(lambda t: t.insert(0, "fixed: "))
    await flushed(socket, client)
    assert await sync_to_async(stored_text)(room) == "fixed: " + SEED_TEXT
    await socket.disconnect()


async def test_a_corrupt_snapshot_is_quarantined_and_the_updates_since_still_load(
    layer, user, other, room
):
    def corrupt_snapshot():
        RoomNote.objects.update_or_create(room=room, defaults={"snapshot": b"\x05\x05broken"})
        store_raw(room, user, SEED_UPDATE)

    await sync_to_async(corrupt_snapshot)()
    socket, client = await editor(other)
    await client.until(lambda: str(client) == SEED_TEXT)
    response = await rest_notes(other)
    assert response.status_code == 200 and response.json()["text"] == SEED_TEXT
    assert await sync_to_async(NoteQuarantine.objects.filter(room=room).count)() == 1
    await socket.disconnect()


@pytest.mark.parametrize("limit", [4096])
async def test_an_update_that_would_take_the_notes_over_their_size_limit_is_refused(
    layer, user, other, room, limit, settings
):
    settings.SWITCHBOARD_MAX_NOTE_BYTES = limit
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    await alice.edit(lambda t: t.insert(0, "a" * (limit // 2)))
    await converge(alice, bob, text="a" * (limit // 2))
    await bob.edit(lambda t: t.insert(0, "b" * limit))
    assert await closed_with(bob_socket) == CloseCode.UPDATE_REFUSED
    await flushed(alice_socket, alice)
    assert str(alice) == "a" * (limit // 2)  # never relayed
    assert await sync_to_async(stored_text)(room) == "a" * (limit // 2)  # never stored
    # Within the limit, editing goes on; and a change that shrinks the notes is always taken.
    await alice.edit(lambda t: t.insert(0, "c" * 100))
    await flushed(alice_socket, alice)
    assert await sync_to_async(stored_text)(room) == "c" * 100 + "a" * (limit // 2)
    await alice_socket.disconnect()


def test_a_document_over_the_limit_can_still_shrink(user, room, settings):
    from pycrdt import Doc, Text

    doc = Doc()
    text = doc.get("notes", type=Text)
    text += "x" * 3000
    notes.note_update_append(room=room, author=user, update=doc.get_update(), origin="t")
    settings.SWITCHBOARD_MAX_NOTE_BYTES = 1000  # lowered since: the notes are over it now
    before = doc.get_state()
    text += "more"
    with pytest.raises(Invalid) as refused:
        notes.note_update_append(room=room, author=user, update=doc.get_update(before), origin="t")
    assert refused.value.code == "note_too_large"
    doc, text = notes.doc_from_state(notes.note_state(room=room))
    before = doc.get_state()
    del text[0:2500]
    notes.note_update_append(room=room, author=user, update=doc.get_update(before), origin="t")
    assert notes.note_text(room=room)["text"] == "x" * 500


async def test_an_awareness_entry_can_only_be_set_by_the_socket_that_owns_it(
    layer, user, other, room
):
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    await alice.send_raw(awareness_message((4242, 1, '{"user":{"name":"alice"}}')))
    await within(bob.until(lambda: len(bob.awareness) >= 1), 5)
    # Bob forges alice's entry, with a newer clock, beside his own.
    await bob.send_raw(
        awareness_message(
            (4242, 9, '{"user":{"name":"FORGED"}}'), (77, 1, '{"user":{"name":"bob"}}')
        )
    )
    await within(alice.until(lambda: len(alice.awareness) >= 1), 5)
    await flushed(bob_socket, bob)
    await flushed(alice_socket, alice)
    assert all(b"FORGED" not in m for m in alice.awareness) and b'"bob"' in alice.awareness[0]
    # A newcomer is sent the owned entries only.
    late_socket, late = await editor(other)
    await flushed(late_socket, late)
    told = b"".join(late.awareness)
    assert b'"alice"' in told and b'"bob"' in told and b"FORGED" not in told
    await late_socket.disconnect()
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_awareness_entries_are_bounded_in_size_and_number(layer, user, other, room, settings):
    alice_socket, alice = await editor(user)
    bob_socket, bob = await editor(other)
    big = (
        '{"user":{"name":"bob"},"junk":"' + "x" * settings.SWITCHBOARD_NOTES_AWARENESS_BYTES + '"}'
    )
    await bob.send_raw(awareness_message((77, 1, big)))
    many = settings.SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET + 5
    await bob.send_raw(awareness_message(*((1000 + i, 1, f'{{"n":"id{i}"}}') for i in range(many))))
    await flushed(bob_socket, bob)
    await flushed(alice_socket, alice)
    told = b"".join(alice.awareness)
    assert b"junk" not in told
    assert told.count(b'"n":"id') == settings.SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET
    late_socket, late = await editor(user)
    await flushed(late_socket, late)
    replayed = b"".join(late.awareness)
    assert b"junk" not in replayed
    assert replayed.count(b'"n":"id') == settings.SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET
    await bob_socket.disconnect()
    # Its entries go with the socket: a newcomer then hears of none of them.
    await within(alice.until(lambda: b"null" in alice.awareness[-1]), 5)
    newest_socket, newest = await editor(user)
    await flushed(newest_socket, newest)
    assert b'"n":"id' not in b"".join(newest.awareness)
    for s in (newest_socket, late_socket, alice_socket):
        await s.disconnect()


def peak_rss_reset() -> None:
    """Reset this process's peak resident size (Linux: clear_refs 5), to measure one call."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def current_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_an_update_claiming_millions_of_clients_is_refused_before_memory_is_reserved(user, room):
    bomb = write_var_uint(2**28) + b"\x00"  # five bytes that claim 268 million clients
    peak_rss_reset()
    before = current_rss_bytes()
    with pytest.raises(Invalid) as refused:
        notes.note_update_append(room=room, author=user, update=bomb, origin="t")
    assert refused.value.code == "invalid_update"
    assert peak_rss_bytes() - before < 64 * 1024 * 1024
    assert not NoteUpdate.objects.filter(room=room).exists()
