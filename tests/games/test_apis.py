"""The games REST API (CONTRACT.md §10): create, list, one game, the leaderboard."""

import pytest

from chat.models import Message
from games import services
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(user):
    return make_room(creator=user, name="Lobby", slug="lobby")


def test_create_answers_the_game_and_invites_the_room(api, room):
    response = api.post("/api/rooms/lobby/games/", {"kind": "cycles"}, format="json")
    assert response.status_code == 201, response.content
    game = response.json()
    assert {k: game[k] for k in ("kind", "room", "status", "width", "height", "tick_hz")} == {
        "kind": "cycles", "room": "lobby", "status": "waiting", "width": 64, "height": 64,
        "tick_hz": 20,
    }  # fmt: skip
    assert game["players"] == [{"seat": 0, "username": "alice", "alive": True}]
    assert game["winner"] is None
    invite = Message.objects.get(room=room)
    assert invite.author.username == "switchboard"
    assert f"/games/{game['id']}/" in invite.body


@pytest.mark.parametrize(
    "payload", [{"kind": "chess"}, {"width": 8}, {"height": 129}, {"width": "wide"}]
)
def test_create_refuses_bad_games(api, room, payload):
    response = api.post("/api/rooms/lobby/games/", payload, format="json")
    assert response.status_code == 400
    assert not Message.objects.filter(room=room).exists()


def test_list_newest_first_and_one_game(api, room, user):
    first = services.game_create(room=room, creator=user)
    second = services.game_create(room=room, creator=user, width=32, height=16)
    listed = api.get("/api/rooms/lobby/games/").json()
    assert [g["id"] for g in listed] == [second.pk, first.pk]
    one = api.get(f"/api/games/{second.pk}/").json()
    assert (one["width"], one["height"]) == (32, 16)
    assert api.get("/api/games/999999/").status_code == 404


def test_outsiders_see_no_game_of_a_private_room(api, user, other):
    secret = make_room(creator=other, name="Secret", slug="secret", is_private=True)
    game = services.game_create(room=secret, creator=other)
    assert api.get(f"/api/games/{game.pk}/").status_code == 404
    assert api.get("/api/rooms/secret/games/").status_code == 404
    assert api.post("/api/rooms/secret/games/", {}, format="json").status_code == 404
    assert api.get("/api/games/leaderboard/", {"room": "secret"}).status_code == 404


def test_leaderboard_counts_finished_games_most_wins_first(api, room, user, other):
    carol = UserFactory(username="carol")
    for winner_seat in (1, 1, 0):
        game = services.game_create(room=room, creator=user)
        services.game_join(game=game, user=other)
        services.game_join(game=game, user=carol)
        services.game_start(game=game, user=user)
        ranking = [winner_seat, *[s for s in (0, 1, 2) if s != winner_seat]]
        alive = [seat == winner_seat for seat in range(3)]
        services.game_finish(game_id=game.pk, ranking=ranking, winner=winner_seat, alive=alive,
                             ticks=10)  # fmt: skip
    services.game_create(room=room, creator=other)  # waiting: not counted
    board = api.get("/api/games/leaderboard/", {"room": "lobby"}).json()
    assert board == [
        {"username": "bob", "played": 3, "wins": 2},
        {"username": "alice", "played": 3, "wins": 1},
        {"username": "carol", "played": 3, "wins": 0},
    ]
    assert api.get("/api/games/leaderboard/").status_code == 400
    game = api.get(f"/api/games/{game.pk}/").json()
    assert game["winner"] == "alice" and game["ranking"] == ["alice", "bob", "carol"]
    assert game["status"] == "finished"


def test_muted_and_archived_cannot_create(api, room, user, other):
    from chat.services import member_mute, room_update

    make_room(creator=other, name="Other", slug="other")
    member_mute(room=room, actor=user, target=other, minutes=5)
    from rest_framework.test import APIClient

    bob = APIClient()
    bob.force_login(other)
    assert bob.post("/api/rooms/lobby/games/", {}, format="json").status_code == 403
    room_update(room=room, actor=user, is_archived=True)
    assert api.post("/api/rooms/lobby/games/", {}, format="json").status_code == 403
