"""Writes for games. The REST API, the game socket and the runner all come here."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import policy
from chat.models import Room
from chat.services import system_message_create
from games.engine import rules_for
from games.frames import result_event, status_event
from games.models import Game, GamePlayer
from games.selectors import game_get
from realtime.broadcast import control_on_commit
from realtime.errors import Forbidden, Invalid

KIND_NAMES = {"cycles": "light cycles"}


def game_url(game: Game) -> str:
    return f"/games/{game.pk}/"


def _locked(game: Game) -> Game:
    return Game.objects.select_for_update().get(pk=game.pk)


def _announce(game_id: int) -> None:
    """Send the game's new status to its sockets once the transaction commits."""
    game = game_get(game_id=game_id)
    control_on_commit(status_event(game))


@transaction.atomic
def game_create(
    *, room: Room, creator: AbstractBaseUser, kind: str = "cycles", width: int = 64,
    height: int = 64,
) -> Game:  # fmt: skip
    """A new game in the room, its creator in seat 0; the room is invited by a system message."""
    policy.require_post(policy.access_get(room=room, user=creator))
    rules_for(kind)
    game = Game.objects.create(room=room, kind=kind, width=width, height=height,
                               created_by=creator)  # fmt: skip
    GamePlayer.objects.create(game=game, user=creator, seat=0)
    name = KIND_NAMES.get(kind, kind)
    invite = f"[join the game]({game_url(game)})"  # Markdown: a link to the game's page
    system_message_create(
        room=room, body=f"{creator.get_username()} started a game of {name}: {invite}"
    )
    return game_get(game_id=game.pk)


def game_join(*, game: Game, user: AbstractBaseUser) -> GamePlayer:
    """Take the next free seat while the game is waiting (a seated player keeps theirs)."""
    try:
        with transaction.atomic():
            game = _locked(game)
            policy.require_post(policy.access_get(room=game.room, user=user))
            seat = GamePlayer.objects.filter(game=game, user=user).first()
            if seat is not None:
                return seat
            if game.status != Game.Status.WAITING:
                raise Forbidden("The game has started; watch it, or start another.")
            taken = GamePlayer.objects.filter(game=game).count()
            if taken >= rules_for(game.kind).max_seats:
                raise Forbidden("The game is full.")
            seat = GamePlayer.objects.create(game=game, user=user, seat=taken)
            _announce(game.pk)
            return seat
    except IntegrityError:
        # Two joins raced for one seat on two processes: the game row's lock makes that a bug.
        raise Invalid("Could not take a seat; try again.", code="unavailable") from None


@transaction.atomic
def game_start(*, game: Game, user: AbstractBaseUser) -> Game:
    """The creator starts a waiting game with 2 or more seated: a countdown, then it runs."""
    game = _locked(game)
    policy.require_post(policy.access_get(room=game.room, user=user))
    if game.created_by_id != user.pk:
        raise Forbidden("Only the game's creator can start it.")
    if game.status != Game.Status.WAITING:
        raise Forbidden("The game has already started.")
    seated = GamePlayer.objects.filter(game=game).count()
    if seated < rules_for(game.kind).min_seats:
        raise Forbidden("A game needs 2 or more players to start.")
    game.status = Game.Status.COUNTDOWN
    game.starts_at = timezone.now() + timedelta(seconds=settings.SWITCHBOARD_GAME_COUNTDOWN_SECONDS)
    game.save(update_fields=["status", "starts_at"])
    _announce(game.pk)
    return game


@transaction.atomic
def game_begin(*, game_id: int) -> None:
    """The countdown ended: the game runs (called by its runner)."""
    updated = Game.objects.filter(pk=game_id, status=Game.Status.COUNTDOWN).update(
        status=Game.Status.RUNNING
    )
    if updated:
        _announce(game_id)


def game_finish(
    *, game_id: int, ranking: list[int], winner: int | None, alive: list[bool], ticks: int
) -> None:
    """Store the result (seats ranked best first), tell the room, then send `status` and
    `result` to the game's sockets, in that order and only once committed. A game already
    finished (a runner that took over after the result was stored) is announced again."""
    with transaction.atomic():
        game = Game.objects.select_for_update().select_related("room").get(pk=game_id)
        if game.status == Game.Status.FINISHED:
            _announce_result(game_get(game_id=game_id))
            return
        players = {p.seat: p for p in GamePlayer.objects.filter(game=game).select_related("user")}
        for place, seat in enumerate(ranking, start=1):
            player = players[seat]
            player.place = place
            player.alive = alive[seat]
            player.save(update_fields=["place", "alive"])
        game.status = Game.Status.FINISHED
        game.finished_at = timezone.now()
        game.winner = players[winner].user if winner is not None else None
        game.ticks = ticks
        game.save(update_fields=["status", "finished_at", "winner", "ticks"])
        names = [players[seat].user.get_username() for seat in ranking]
        outcome = f"{names[0]} won" if winner is not None else "nobody won (all out at once)"
        system_message_create(
            room=game.room,
            body=f"[The game]({game_url(game)}) is over: {outcome}. Ranking: {', '.join(names)}.",
        )
        _announce(game_id)
        _announce_result(game_get(game_id=game_id))


def _announce_result(game: Game) -> None:
    control_on_commit(result_event(game))
