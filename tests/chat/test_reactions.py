"""Reactions (CONTRACT.md §9): one emoji per user per message, idempotent, at most 20 kinds."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from chat import conversations, services
from chat.models import Reaction
from realtime.errors import Forbidden, Invalid
from tests.chat.test_consumers import join, next_frame, quiet, send
from tests.factories import UserFactory, make_room

EMOJI_20 = list("😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗")


@pytest.fixture
def room(user):
    return make_room(creator=user, name="Lobby", slug="lobby")


@pytest.fixture
def message(room, user):
    return services.message_create(room=room, author=user, body="react to me")[0]


def url(message) -> str:
    return f"/api/rooms/lobby/messages/{message.pk}/reactions/"


@pytest.mark.django_db
def test_adding_twice_or_removing_a_missing_one_changes_nothing(api, user, other, message):
    first = api.post(url(message), {"emoji": "👍"}, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    assert api.post(url(message), {"emoji": "👍"}, format="json").json() == first.json()
    bob = APIClient()
    bob.force_login(other)
    both = bob.post(url(message), {"emoji": "👍"}, format="json").json()["reactions"]
    assert both == [{"emoji": "👍", "count": 2, "users": ["alice", "bob"]}]
    removed = api.delete(url(message), {"emoji": "👍"}, format="json")
    assert removed.json()["reactions"] == [{"emoji": "👍", "count": 1, "users": ["bob"]}]
    again = api.delete(url(message), {"emoji": "👍"}, format="json")
    assert again.status_code == 200
    assert again.json()["reactions"] == removed.json()["reactions"]
    assert Reaction.objects.count() == 1


@pytest.mark.django_db
def test_the_message_object_carries_the_reactions(api, user, message):
    api.post(url(message), {"emoji": "🎉"}, format="json")
    api.post(url(message), {"emoji": "👍🏽"}, format="json")
    (listed,) = api.get("/api/rooms/lobby/messages/").json()
    assert listed["reactions"] == [
        {"emoji": "🎉", "count": 1, "users": ["alice"]},
        {"emoji": "👍🏽", "count": 1, "users": ["alice"]},
    ]


@pytest.mark.django_db
def test_one_emoji_is_required(api, message):
    # A skin tone and a ZWJ family are each one emoji.
    for good in ("👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "❤️"):
        assert api.post(url(message), {"emoji": good}, format="json").status_code == 200, good
    for bad in ("", "a", "👍👍", ":+1:", "👍 ", "<b>", 12, None, "x" * 70):
        response = api.post(url(message), {"emoji": bad}, format="json")
        assert response.status_code == 400, bad


@pytest.mark.django_db
def test_at_most_twenty_different_emoji_per_message(user, other, message, room):
    for emoji in EMOJI_20:
        assert conversations.reaction_add(room=room, user=user, message_id=message.pk, emoji=emoji)
    with pytest.raises(Invalid) as refused:
        conversations.reaction_add(room=room, user=user, message_id=message.pk, emoji="🚀")
    assert refused.value.code == "too_many_reactions"
    # Another person may still join one of the twenty.
    assert conversations.reaction_add(room=room, user=other, message_id=message.pk, emoji="😀")


@pytest.mark.django_db
def test_twenty_first_kind_over_rest_is_a_clear_400(api, user, message, room):
    for emoji in EMOJI_20:
        conversations.reaction_add(room=room, user=user, message_id=message.pk, emoji=emoji)
    response = api.post(url(message), {"emoji": "🚀"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_reactions"


@pytest.mark.django_db
def test_who_may_react_is_who_may_post(api, user, other, room, message):
    services.member_mute(room=room, actor=user, target=other, minutes=5)
    with pytest.raises(Forbidden) as muted:
        conversations.reaction_add(room=room, user=other, message_id=message.pk, emoji="👍")
    assert muted.value.code == "muted"
    bob = APIClient()
    bob.force_login(other)
    response = bob.post(url(message), {"emoji": "👍"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "muted"
    services.room_update(room=room, actor=user, is_archived=True)
    assert api.post(url(message), {"emoji": "👍"}, format="json").status_code == 403
    secret = make_room(creator=user, name="Secret", slug="secret", is_private=True)
    hidden = services.message_create(room=secret, author=user, body="s")[0]
    outside = bob.post(f"/api/rooms/secret/messages/{hidden.pk}/reactions/", {"emoji": "👍"},
                       format="json")  # fmt: skip
    assert outside.status_code == 404
    assert not Reaction.objects.exists()


@pytest.mark.django_db
def test_deleted_or_foreign_messages_take_no_reactions(api, user, room, message):
    other_room = make_room(creator=user, name="Other", slug="other")
    foreign = services.message_create(room=other_room, author=user, body="x")[0]
    assert api.post(url(foreign), {"emoji": "👍"}, format="json").status_code == 404
    services.message_delete(room=room, actor=user, message_id=message.pk)
    assert api.post(url(message), {"emoji": "👍"}, format="json").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_the_room_gets_the_reactions_frame_once_per_change(layer, user, room, message):
    bob = await sync_to_async(UserFactory)(username="bob")
    alice_socket, _ = await join(user)
    bob_socket, _ = await join(bob)
    try:
        await send(alice_socket, {"type": "reaction.add", "id": message.pk, "emoji": "👍"})
        for socket in (alice_socket, bob_socket):
            frame = await next_frame(socket)
            assert frame == {
                "type": "reactions", "id": message.pk, "seq": message.seq, "version": 1,
                "reactions": [{"emoji": "👍", "count": 1, "users": ["alice"]}],
            }  # fmt: skip
        # The same add again changes nothing, so nothing is broadcast.
        await send(alice_socket, {"type": "reaction.add", "id": message.pk, "emoji": "👍"})
        await send(bob_socket, {"type": "reaction.remove", "id": message.pk, "emoji": "🎉"})
        assert await quiet(bob_socket)
        await send(bob_socket, {"type": "reaction.add", "id": message.pk, "emoji": "👍"})
        for socket in (alice_socket, bob_socket):
            frame = await next_frame(socket)
            assert frame["reactions"] == [{"emoji": "👍", "count": 2, "users": ["alice", "bob"]}]
            assert frame["version"] > 1
        await send(alice_socket, {"type": "reaction.remove", "id": message.pk, "emoji": "👍"})
        frame = await next_frame(bob_socket)
        assert frame["reactions"] == [{"emoji": "👍", "count": 1, "users": ["bob"]}]
        for bad in ({"emoji": "nope", "id": message.pk}, {"emoji": "👍"},
                    {"emoji": "👍", "id": 999999}):  # fmt: skip
            await send(alice_socket, {"type": "reaction.add", **bad})
            error = await next_frame(alice_socket, skip=("presence", "reactions"))
            assert error["type"] == "error"
            assert error["code"] in {"invalid_frame", "not_found"}
    finally:
        await alice_socket.disconnect()
        await bob_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_muted_socket_reaction_gets_the_muted_error(layer, user, room, message):
    bob = await sync_to_async(UserFactory)(username="bob")
    await sync_to_async(services.room_join)(room=room, user=bob)
    await sync_to_async(services.member_mute)(room=room, actor=user, target=bob, minutes=5)
    bob_socket, _ = await join(bob)
    try:
        await send(bob_socket, {"type": "reaction.add", "id": message.pk, "emoji": "👍"})
        error = await next_frame(bob_socket)
        assert (error["type"], error["code"], error["ref"]) == ("error", "muted", message.pk)
    finally:
        await bob_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_away_gets_the_reactions_and_replies_it_missed(layer, user, room, message):
    """Stale state plus what the resume sends equals a fresh fetch: reactions and reply counts
    that changed while the socket was gone come back as message.updated."""
    bob = await sync_to_async(UserFactory)(username="bob")
    away_since = message.created_at.isoformat().replace("+00:00", "Z")
    await sync_to_async(conversations.reaction_add)(
        room=room, user=bob, message_id=message.pk, emoji="🎉"
    )
    await sync_to_async(services.message_create)(
        room=room, author=bob, body="me too", reply_to=message.pk
    )
    socket, _ = await join(user)
    try:
        await send(socket, {"type": "resume", "after_seq": message.seq,
                            "updated_since": away_since})  # fmt: skip
        updated = await next_frame(socket)
        assert updated["type"] == "message.updated"
        assert updated["message"]["id"] == message.pk
        assert updated["message"]["reactions"] == [{"emoji": "🎉", "count": 1, "users": ["bob"]}]
        assert updated["message"]["reply_count"] == 1
        assert updated["message"]["edited_at"] is None
        replay = await next_frame(socket)
        assert (replay["type"], replay["message"]["reply_to"]) == ("message", message.pk)
        assert (await next_frame(socket))["type"] == "resumed"
    finally:
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_sse_stream_carries_reactions_and_reply_counts(layer, user, room, message):
    from django.test import AsyncClient

    from tests.chat.test_streams import sse_events

    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get("/sse/rooms/lobby/", headers={"Last-Event-ID": "0"})
    assert response.status_code == 200
    assert [e["event"] for e in await sse_events(response, 1)] == ["message"]  # replayed: live
    await sync_to_async(conversations.reaction_add)(
        room=room, user=user, message_id=message.pk, emoji="👀"
    )
    await sync_to_async(services.message_create)(
        room=room, author=user, body="a reply", reply_to=message.pk
    )
    events = await sse_events(response, 3)
    assert [(e["event"], e.get("id")) for e in events] == [
        ("reactions", None), ("message", "2"), ("message.updated", None),
    ]  # fmt: skip
    assert events[0]["data"]["reactions"] == [{"emoji": "👀", "count": 1, "users": ["alice"]}]
    assert events[2]["data"]["message"]["reply_count"] == 1
