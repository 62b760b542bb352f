"""Property: whatever a member sends on the notes socket (random, truncated or corrupted Yjs
sync, update and awareness messages, or plain noise), the server neither fails nor stores a
broken document: the notes REST API answers 200, a fresh client syncs and edits, every
awareness message relayed is well-formed, and the socket caps and presence are empty again."""

import json
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import YMessageType, YSyncMessageType, create_update_message, write_message

from chat import services
from realtime.closecodes import CloseCode
from realtime.presence import get_registry
from realtime.store import zstore
from tests.chat.test_notes import editor, flushed
from tests.factories import make_room
from tests.support.yclient import awareness_message

pytestmark = [pytest.mark.django_db(transaction=True)]


def mutations() -> st.SearchStrategy:
    """How to damage a message: not at all, cut it short, flip bytes, or insert noise."""
    return st.one_of(
        st.none(),
        st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
        st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                      st.integers(0, 255)), min_size=1,
                                            max_size=3)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    )  # fmt: skip


def mutate(data: bytes, how) -> bytes:
    if how is None or not data:
        return data
    if how[0] == "truncate":
        return data[: int(len(data) * how[1])]
    if how[0] == "flip":
        out = bytearray(data)
        for where, byte in how[1]:
            out[int(len(out) * where)] = byte
        return bytes(out)
    at = int(len(data) * how[1])
    return data[:at] + how[2] + data[at:]


states = st.one_of(
    st.just("null"),
    st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3).map(json.dumps),
    st.text(max_size=40),
    st.text(min_size=2100, max_size=2200),
)
edits = st.tuples(
    st.just("edit"),
    st.integers(0, 1),  # where to insert: the start or the end
    st.text(max_size=30),  # what
    st.integers(0, 5),  # how many to delete there
    st.sampled_from([YSyncMessageType.SYNC_UPDATE, YSyncMessageType.SYNC_STEP2]),
    st.booleans(),  # damage the update itself (True) or the whole message
    mutations(),
)
steps = st.one_of(
    edits,
    st.tuples(st.just("step1"), st.booleans(), mutations()),
    st.tuples(
        st.just("awareness"),
        st.lists(st.tuples(st.integers(0, 2**32), st.integers(0, 50), states), max_size=6),
        mutations(),
    ),
    st.tuples(st.just("query"), mutations()),
    st.tuples(st.just("raw"), st.binary(max_size=64)),
)


def message_for(step, client) -> bytes:
    """The bytes a step sends; an edit is made to the client's document first."""
    kind = step[0]
    if kind == "edit":
        _, where, text, delete, sync_type, damage_update, how = step
        before = client.doc.get_state()
        # pycrdt indexes Text by UTF-8 byte and panics inside a character: edit at either end.
        at = 0 if where % 2 else len(client.text)
        with client.doc.transaction():
            if str(client.text).isascii():
                del client.text[at : min(at + delete, len(client.text))]
            client.text.insert(at, text)
        update = client.doc.get_update(before)
        if damage_update:
            return bytes([YMessageType.SYNC, sync_type]) + write_message(mutate(update, how))
        return mutate(bytes([YMessageType.SYNC, sync_type]) + write_message(update), how)
    if kind == "step1":
        _, real, how = step
        vector = client.doc.get_state() if real else b"\x00"
        sync = bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP1]) + write_message(vector)
        return mutate(sync, how)
    if kind == "awareness":
        return mutate(awareness_message(*step[1]), step[2])
    if kind == "query":
        return mutate(bytes([3]), step[1])
    return step[1]


def read_var_uint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]  # an IndexError: the message is cut short
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value, at


def read_bytes(data: bytes, at: int) -> tuple[bytes, int]:
    length, at = read_var_uint(data, at)
    assert at + length <= len(data), "a length past the end"
    return data[at : at + length], at + length


def assert_well_formed_awareness(message: bytes) -> None:
    """What the server relays parses as y-protocols does, and each state is a JSON object or
    null within SWITCHBOARD_NOTES_AWARENESS_BYTES."""
    payload, end = read_bytes(message, 1)
    assert end == len(message)
    count, at = read_var_uint(payload, 0)
    for _ in range(count):
        _, at = read_var_uint(payload, at)  # client id
        _, at = read_var_uint(payload, at)  # clock
        state, at = read_bytes(payload, at)
        assert len(state) <= 2048
        assert state == b"null" or isinstance(json.loads(state.decode()), dict), state
    assert at == len(payload)


@pytest.fixture
def room(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    return room


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(steps, min_size=1, max_size=8))
def test_any_message_on_the_notes_socket_leaves_a_working_document(
    layer, user, other, room, caplog, batch
):
    caplog.clear()

    async def scenario():
        bob_socket, bob = await editor(other)
        closed = None
        for step in batch:
            message = message_for(step, bob)
            if not message:
                continue  # the test communicator cannot send an empty frame
            await bob_socket.send_to(bytes_data=message)
            await bob_socket.send_to(text_data='{"type":"ping"}')
            while True:
                output = await bob_socket.receive_output(timeout=5)
                if output["type"] == "websocket.close":
                    closed = output.get("code")
                    break
                if output.get("text") == '{"type":"pong"}':
                    break
                if output.get("bytes"):
                    if output["bytes"][0] == YMessageType.AWARENESS:
                        assert_well_formed_awareness(output["bytes"])
                    await bob.handle(output["bytes"])
            if closed is not None:
                break
        # The only way the server ends the socket: an update it refuses (broken or too large).
        assert closed in (None, CloseCode.UPDATE_REFUSED), closed
        await bob_socket.disconnect()

        # A fresh editor syncs what the REST API reads, and its edits are stored.
        alice_socket, alice = await editor(user)
        await flushed(alice_socket, alice)
        for message in alice.awareness:
            assert_well_formed_awareness(message)
        api = Client()
        await sync_to_async(api.force_login)(user)
        response = await sync_to_async(api.get)("/api/rooms/lobby/notes/")
        assert response.status_code == 200
        assert response.json()["text"] == str(alice)
        await alice.send_raw(create_update_message(b"\x00\x00"))  # an empty update is nothing
        await alice.edit(lambda t: t.insert(0, "✓"))
        await flushed(alice_socket, alice)
        response = await sync_to_async(api.get)("/api/rooms/lobby/notes/")
        assert response.json()["text"] == str(alice) and str(alice).startswith("✓")
        await alice_socket.disconnect()

        # No slot, presence entry or cap counted for a socket that is gone.
        assert get_registry().owned == {}
        assert not any(zstore().sets.values())

    async_to_sync(scenario)()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]
