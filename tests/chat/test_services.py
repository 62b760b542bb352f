import json

import pytest
from django.db import IntegrityError

from chat import services
from chat.models import Membership, Message, Room
from realtime.errors import Forbidden, Invalid, NotFound
from realtime.groups import room_group
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def broadcasts(monkeypatch):
    """Every event handed to the channel layer (by on_commit callbacks), in order."""
    sent = []
    monkeypatch.setattr(
        "realtime.broadcast._send", lambda event: sent.append((event["group"], event))
    )
    return sent


def test_room_create_makes_creator_owner(user):
    room = make_room(creator=user, name="Design Crit", slug=None)
    assert room.slug == "design-crit"
    assert Membership.objects.get(room=room, user=user).role == "owner"


def test_derived_slugs_are_made_unique_but_explicit_ones_are_refused(user):
    make_room(creator=user, name="Lobby", slug="lobby")
    assert make_room(creator=user, name="Lobby", slug=None).slug == "lobby-2"
    with pytest.raises(Invalid):
        make_room(creator=user, name="Another", slug="lobby")


def test_seq_counts_up_per_room_from_one(user):
    lobby, other = make_room(creator=user), make_room(creator=user, name="B", slug="b")
    seqs = [services.message_create(room=lobby, author=user, body=f"m{i}")[0].seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert services.message_create(room=other, author=user, body="x")[0].seq == 1
    assert Room.objects.get(pk=lobby.pk).last_seq == 3


def test_message_is_broadcast_after_commit_as_one_encoded_frame(
    user, broadcasts, django_capture_on_commit_callbacks
):
    room = make_room(creator=user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message, created = services.message_create(
            room=room, author=user, body="hi", client_id="c1"
        )
        assert broadcasts == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()
    assert created
    [(group, event)] = broadcasts
    assert group == room_group(room.pk)
    assert event["seq"] == message.seq
    frame = json.loads(event["text"])
    assert frame == {
        "type": "message",
        "message": {
            "id": message.pk,
            "seq": 1,
            "room": "lobby",
            "author": {"id": user.pk, "username": "alice"},
            "body": "hi",
            "client_id": "c1",
            "created_at": frame["message"]["created_at"],
            "edited_at": None,
            "deleted": False,
            "reply_to": None,  # replies and reactions: CONTRACT.md §9
            "reply_count": 0,
            "reactions": [],
            "attachments": [],
        },
    }
    assert frame["message"]["created_at"].endswith("Z")


def test_repeated_client_id_returns_the_original_and_broadcasts_nothing(
    user, broadcasts, django_capture_on_commit_callbacks
):
    room = make_room(creator=user)
    with django_capture_on_commit_callbacks(execute=True):
        first, created = services.message_create(room=room, author=user, body="a", client_id="same")
        again, created_again = services.message_create(
            room=room, author=user, body="b", client_id="same"
        )
    assert created and not created_again
    assert again.pk == first.pk and again.body == "a"
    assert Message.objects.count() == 1
    assert Room.objects.get(pk=room.pk).last_seq == 1  # no seq burnt
    assert len(broadcasts) == 1


def test_client_id_is_scoped_to_author(user, other):
    room = make_room(creator=user)
    services.message_create(room=room, author=user, body="a", client_id="same")
    _, created = services.message_create(room=room, author=other, body="b", client_id="same")
    assert created


def test_client_id_uniqueness_is_a_database_constraint(user):
    room = make_room(creator=user)
    Message.objects.create(room=room, seq=1, author=user, body="a", client_id="k")
    with pytest.raises(IntegrityError):
        Message.objects.create(room=room, seq=2, author=user, body="b", client_id="k")


def test_messages_without_client_id_are_never_deduplicated(user):
    room = make_room(creator=user)
    services.message_create(room=room, author=user, body="a")
    services.message_create(room=room, author=user, body="a")
    assert Message.objects.count() == 2


def test_losing_a_client_id_race_rolls_back_its_seq(user, monkeypatch):
    """Two retries racing: the loser hits the constraint and must not leave a seq gap."""
    room = make_room(creator=user)
    first, _ = services.message_create(room=room, author=user, body="a", client_id="race")
    # Simulate the race: the loser's early lookup saw nothing.
    real_lookup = services._message_by_client_id
    calls = []

    def lookup(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr(services, "_message_by_client_id", lookup)
    again, created = services.message_create(room=room, author=user, body="a", client_id="race")
    assert not created and again.pk == first.pk
    assert Room.objects.get(pk=room.pk).last_seq == 1
    assert services.message_create(room=room, author=user, body="next")[0].seq == 2


def test_sending_to_a_public_room_joins_and_marks_read(user, other):
    room = make_room(creator=user)
    services.message_create(room=room, author=user, body="one")
    message, _ = services.message_create(room=room, author=other, body="two")
    membership = Membership.objects.get(room=room, user=other)
    assert membership.role == "member" and membership.last_read_seq == message.seq


def test_join_public_room_starts_with_nothing_unread(user, other):
    room = make_room(creator=user)
    services.message_create(room=room, author=user, body="old news")
    room.refresh_from_db()
    assert services.room_join(room=room, user=other).last_read_seq == 1


def test_private_rooms_cannot_be_joined_only_added_by_moderators(user, other):
    room = make_room(creator=user, is_private=True)
    with pytest.raises(NotFound):
        services.room_join(room=room, user=other)
    with pytest.raises(NotFound):  # an outsider is not told the private room exists
        services.member_add(room=room, actor=other, user=UserFactory())
    assert services.member_add(room=room, actor=user, user=other).role == "member"


def test_last_owner_cannot_leave(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    with pytest.raises(Forbidden):
        services.room_leave(room=room, user=user)
    services.room_leave(room=room, user=other)
    assert not Membership.objects.filter(room=room, user=other).exists()


def test_frames_show_each_message_as_the_api_does(user, other):
    """Frames share one serializer (chat.frames): message after message, each shows its own
    author, reply, reactions and deletion, exactly as the API's MessageSerializer does."""
    from chat import conversations, frames, selectors
    from chat.serializers import MessageSerializer

    room = make_room(creator=user)
    first, _ = services.message_create(room=room, author=user, body="first")
    reply, _ = services.message_create(room=room, author=other, body="answer", reply_to=first.pk)
    conversations.reaction_add(room=room, user=other, message_id=first.pk, emoji="👍")
    gone, _ = services.message_create(room=room, author=user, body="oops")
    services.message_delete(room=room, actor=user, message_id=gone.pk)

    messages = list(selectors.message_list(room=room, after_seq=0, limit=10))
    shown = [frames.message_frame(m)["message"] for m in messages]
    assert shown == [dict(MessageSerializer(m).data) for m in messages]
    assert [(m["author"]["username"], m["reply_to"], m["deleted"]) for m in shown] == [
        ("alice", None, False),
        ("bob", first.pk, False),
        ("alice", None, True),
    ]
    assert shown[0]["reactions"][0]["emoji"] == "👍" and shown[1]["reactions"] == []
    assert frames.message_updated_frame(messages[0])["message"] == shown[0]
