"""Replies (CONTRACT.md §9): ordinary room messages that name their parent and raise its count."""

import pytest

from chat import services
from chat.models import Message
from tests.chat.test_consumers import join, next_frame, send
from tests.factories import UserFactory, make_room


@pytest.fixture
def room(user):
    return make_room(creator=user, name="Lobby", slug="lobby")


@pytest.mark.django_db
def test_a_reply_is_a_room_message_that_raises_its_parents_count(api, user, room):
    parent, _ = services.message_create(room=room, author=user, body="question?")
    response = api.post(
        "/api/rooms/lobby/messages/", {"body": "answer", "reply_to": parent.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["reply_to"] == parent.pk
    assert reply["seq"] == parent.seq + 1  # its own seq, in the one stream
    assert reply["reply_count"] == 0
    history = api.get("/api/rooms/lobby/messages/").json()
    assert [(m["seq"], m["reply_to"], m["reply_count"]) for m in history] == [
        (1, None, 1),
        (2, parent.pk, 0),
    ]


@pytest.mark.django_db
def test_a_retried_reply_counts_once(api, user, room):
    parent, _ = services.message_create(room=room, author=user, body="question?")
    frame = {"body": "answer", "reply_to": parent.pk, "client_id": "c-1"}
    for _ in range(3):
        assert api.post("/api/rooms/lobby/messages/", frame, format="json").status_code == 201
    parent.refresh_from_db()
    assert parent.reply_count == 1


@pytest.mark.django_db
def test_replies_endpoint_lists_the_replies_ascending(api, user, other, room):
    parent, _ = services.message_create(room=room, author=user, body="question?")
    services.message_create(room=room, author=user, body="unrelated")
    for body in ("first", "second", "third"):
        services.message_create(room=room, author=user, body=body, reply_to=parent.pk)
    replies = api.get(f"/api/rooms/lobby/messages/{parent.pk}/replies/")
    assert replies.status_code == 200
    assert [m["body"] for m in replies.json()] == ["first", "second", "third"]
    assert [m["seq"] for m in replies.json()] == [3, 4, 5]
    assert api.get("/api/rooms/lobby/messages/999999/replies/").status_code == 404


@pytest.mark.django_db
def test_the_replies_of_a_private_room_are_hidden_from_outsiders(user, other, room):
    from rest_framework.test import APIClient

    secret = make_room(creator=user, name="Secret", slug="secret", is_private=True)
    parent, _ = services.message_create(room=secret, author=user, body="q")
    outsider = APIClient()
    outsider.force_login(other)
    assert outsider.get(f"/api/rooms/secret/messages/{parent.pk}/replies/").status_code == 404


@pytest.mark.django_db
def test_a_reply_to_another_rooms_message_is_refused_and_stores_nothing(api, user, room):
    elsewhere = make_room(creator=user, name="Other", slug="other")
    foreign, _ = services.message_create(room=elsewhere, author=user, body="over there")
    for reply_to in (foreign.pk, 999999, "x", 0):
        response = api.post(
            "/api/rooms/lobby/messages/", {"body": "hi", "reply_to": reply_to}, format="json"
        )
        assert response.status_code == 400, reply_to
    assert (
        "reply_to"
        in api.post(
            "/api/rooms/lobby/messages/", {"body": "hi", "reply_to": foreign.pk}, format="json"
        ).json()["detail"]
    )
    room.refresh_from_db()
    assert room.last_seq == 0  # no seq spent: no gap in the stream
    assert not Message.objects.filter(room=room).exists()


@pytest.mark.django_db
def test_a_reply_to_a_deleted_message_is_refused(api, user, room):
    parent, _ = services.message_create(room=room, author=user, body="gone soon")
    services.message_delete(room=room, actor=user, message_id=parent.pk)
    response = api.post(
        "/api/rooms/lobby/messages/", {"body": "hi", "reply_to": parent.pk}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
async def test_a_reply_over_the_socket_broadcasts_it_then_the_parent_updated(layer, user, room):
    from asgiref.sync import sync_to_async

    bob = await sync_to_async(UserFactory)(username="bob")
    parent, _ = await sync_to_async(services.message_create)(room=room, author=user, body="q?")
    alice_socket, _ = await join(user)
    bob_socket, _ = await join(bob)
    try:
        await send(
            alice_socket,
            {"type": "message.send", "body": "a!", "client_id": "r1", "reply_to": parent.pk},
        )
        for socket in (alice_socket, bob_socket):
            message = await next_frame(socket)
            assert message["type"] == "message"
            assert message["message"]["reply_to"] == parent.pk
            assert message["message"]["seq"] == 2
            updated = await next_frame(socket)
            assert updated["type"] == "message.updated"
            assert updated["message"]["id"] == parent.pk
            assert updated["message"]["reply_count"] == 1
            assert updated["message"]["edited_at"] is None  # counted, not edited
        await send(alice_socket, {"type": "message.send", "body": "x", "reply_to": 424242})
        error = await next_frame(alice_socket)
        assert error["type"] == "error"
        assert error["code"] == "invalid_frame"
        await send(alice_socket, {"type": "message.send", "body": "x", "reply_to": "one"})
        assert (await next_frame(alice_socket))["code"] == "invalid_frame"
    finally:
        await alice_socket.disconnect()
        await bob_socket.disconnect()
