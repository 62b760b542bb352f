"""Reads and access checks for games; they raise realtime.errors, never return None."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet

from chat import policy
from chat.models import Room
from games.models import Game, GamePlayer
from realtime.errors import NotFound

NO_SUCH_GAME = "No such game."


def _games() -> QuerySet[Game]:
    return Game.objects.select_related("room", "winner", "created_by").prefetch_related(
        "players__user"
    )


def game_get(*, game_id: int) -> Game:
    game = _games().filter(pk=game_id).first()
    if game is None:
        raise NotFound(NO_SUCH_GAME)
    return game


def game_to_read(*, game_id: int, user: AbstractBaseUser) -> Game:
    """A game of a room the user may read (chat.policy); NotFound for a room they may not see."""
    game = game_get(game_id=game_id)
    try:
        policy.require_read(policy.access_get(room=game.room, user=user))
    except NotFound:
        raise NotFound(NO_SUCH_GAME) from None
    return game


def game_list(*, room: Room) -> QuerySet[Game]:
    """The room's games, newest first."""
    return _games().filter(room=room).order_by("-created_at", "-pk")


def leaderboard(*, room: Room) -> list[dict]:
    """[{username, played, wins}] over the room's finished games, most wins first."""
    rows = (
        GamePlayer.objects.filter(game__room=room, game__status=Game.Status.FINISHED)
        .values("user__username")
        .annotate(played=Count("pk"), wins=Count("pk", filter=Q(game__winner_id=F("user_id"))))
        .order_by("-wins", "-played", "user__username")
    )
    return [{"username": r["user__username"], "played": r["played"], "wins": r["wins"]}
            for r in rows]  # fmt: skip
