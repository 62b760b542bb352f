"""Direct conversations (CONTRACT.md §9): one room per set of people, closed to everyone else."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from chat import conversations, services
from chat.models import Membership, Room
from realtime.errors import Forbidden
from tests.factories import UserFactory


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def carol(db):
    return UserFactory(username="carol")


@pytest.mark.django_db
def test_the_same_set_of_people_gets_the_same_room(api, user, other, carol):
    first = api.post("/api/dms/", {"usernames": ["bob", "carol"]}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["kind"] == "dm"
    assert first.json()["is_private"] is True
    # Order, duplicates and naming oneself change nothing.
    again = api.post("/api/dms/", {"usernames": ["carol", "bob", "bob", "alice"]}, format="json")
    assert again.status_code == 200
    assert again.json()["slug"] == first.json()["slug"]
    # Opened by another of its people, it is still the same conversation.
    from_bob = client_for(other).post("/api/dms/", {"usernames": ["alice", "carol"]}, format="json")
    assert from_bob.status_code == 200
    assert from_bob.json()["slug"] == first.json()["slug"]
    # A different set is a different conversation.
    pair = api.post("/api/dms/", {"usernames": ["bob"]}, format="json")
    assert pair.status_code == 201
    assert pair.json()["slug"] != first.json()["slug"]


@pytest.mark.django_db
def test_its_members_are_exactly_those_people_and_its_name_the_others(api, user, other, carol):
    slug = api.post("/api/dms/", {"usernames": ["bob", "carol"]}, format="json").json()["slug"]
    members = Membership.objects.filter(room__slug=slug)
    assert sorted(m.user.username for m in members) == ["alice", "bob", "carol"]
    assert {m.role for m in members} == {"member"}  # nobody moderates a conversation
    assert api.get(f"/api/rooms/{slug}/").json()["name"] == "bob, carol"
    assert client_for(carol).get(f"/api/rooms/{slug}/").json()["name"] == "alice, bob"


@pytest.mark.django_db
def test_bad_sets_of_people_are_refused_with_a_reason(api, user):
    for n in range(9):
        UserFactory(username=f"p{n}")
    nine = api.post("/api/dms/", {"usernames": [f"p{n}" for n in range(9)]}, format="json")
    assert nine.status_code == 400
    assert "at most 8" in nine.json()["detail"]
    eight = api.post("/api/dms/", {"usernames": [f"p{n}" for n in range(8)]}, format="json")
    assert eight.status_code == 201
    unknown = api.post("/api/dms/", {"usernames": ["p1", "nobody", "ghost"]}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "No such user: ghost, nobody."
    alone = api.post("/api/dms/", {"usernames": ["alice"]}, format="json")
    assert alone.status_code == 400
    assert api.post("/api/dms/", {"usernames": []}, format="json").status_code == 400
    assert api.post("/api/dms/", {"usernames": "bob"}, format="json").status_code == 400
    assert not Room.objects.filter(kind="dm").exclude(slug=eight.json()["slug"]).exists()


@pytest.mark.django_db
def test_nobody_joins_leaves_or_is_added(api, user, other, carol):
    slug = api.post("/api/dms/", {"usernames": ["bob"]}, format="json").json()["slug"]
    outsider = client_for(carol)
    # Outside, it does not exist; inside, the people are fixed.
    assert outsider.post(f"/api/rooms/{slug}/join/").status_code == 404
    assert outsider.get(f"/api/rooms/{slug}/messages/").status_code == 404
    assert api.post(f"/api/rooms/{slug}/join/").status_code == 403
    assert (
        api.post(f"/api/rooms/{slug}/members/", {"username": "carol"}, format="json").status_code
        == 403
    )
    assert (
        api.post(f"/api/rooms/{slug}/kick/", {"username": "bob"}, format="json").status_code == 403
    )
    assert (
        api.post(f"/api/rooms/{slug}/ban/", {"username": "bob"}, format="json").status_code == 403
    )
    assert api.post(f"/api/rooms/{slug}/leave/").status_code == 403
    room = Room.objects.get(slug=slug)
    staff = UserFactory(username="root", is_staff=True)
    with pytest.raises(Forbidden):
        services.member_ban(room=room, actor=staff, target=other)
    assert Membership.objects.filter(room=room).count() == 2


@pytest.mark.django_db
def test_listed_only_for_its_people_and_works_like_a_room(api, user, other, carol):
    slug = api.post("/api/dms/", {"usernames": ["bob"]}, format="json").json()["slug"]
    assert (
        api.post(f"/api/rooms/{slug}/messages/", {"body": "hi bob"}, format="json").status_code
        == 201
    )
    listed = {r["slug"]: r for r in client_for(other).get("/api/rooms/").json()}
    assert listed[slug]["kind"] == "dm"
    assert listed[slug]["unread"] == 1
    assert listed[slug]["name"] == "alice"
    assert slug not in {r["slug"] for r in client_for(carol).get("/api/rooms/").json()}
    ordinary = api.post("/api/rooms/", {"name": "Lobby"}, format="json").json()
    assert ordinary["kind"] == "room"


@pytest.mark.django_db
def test_the_home_page_lists_conversations_apart_with_unread_counts(user, other):
    room, _ = conversations.dm_open(creator=user, usernames=["bob"])
    services.message_create(room=room, author=user, body="psst")
    page = client_for(other).get("/").content.decode()
    assert 'aria-label="Direct messages"' in page
    section = page.split('aria-label="Direct messages"', 1)[1].split("</section>", 1)[0]
    assert f"/rooms/{room.slug}/" in section
    assert "alice" in section
    assert "1 unread" in section


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_of_the_same_set_make_one_room(user, other, carol):
    """Two requests at once for the same people: one creates, the other finds it."""
    barrier = threading.Barrier(4)
    results, errors = [], []

    def open_dm(creator, names):
        try:
            barrier.wait(timeout=10)
            results.append(conversations.dm_open(creator=creator, usernames=names))
        except Exception as error:  # reported below, with the others
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=open_dm, args=(who, names))
        for who, names in [
            (user, ["bob", "carol"]),
            (other, ["carol", "alice"]),
            (carol, ["alice", "bob"]),
            (user, ["carol", "bob"]),
        ]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    assert len({room.pk for room, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Room.objects.filter(kind="dm").count() == 1
