"""The game socket's server frames (CONTRACT.md §10), built in one place."""

from typing import Any

from games.models import Game
from games.serializers import GameSerializer
from realtime.broadcast import frame_event
from realtime.groups import game_group


def game_data(game: Game, alive: list[bool] | None = None) -> dict[str, Any]:
    """The game object; `alive` (by seat) from a running match overrides the stored flags."""
    data = GameSerializer(game).data
    if alive is not None:
        for player in data["players"]:
            player["alive"] = alive[player["seat"]] if player["seat"] < len(alive) else False
    return data


def status_frame(game: Game) -> dict[str, Any]:
    return {"type": "status", "game": game_data(game)}


def status_event(game: Game) -> dict[str, Any]:
    """The status frame as a layer event that also tells each process the new status (its
    supervisor then knows whether the game needs a runner) and each socket how many are
    seated (where the cycles start depends on it)."""
    frame = status_frame(game)
    return {**frame_event(game_group(game.pk), frame), "game_status": game.status,
            "seats": len(frame["game"]["players"]), **_last_tick(game)}  # fmt: skip


def result_frame(game: Game) -> dict[str, Any]:
    ranking = GameSerializer().get_ranking(game)
    winner = game.winner.get_username() if game.winner else None
    return {"type": "result", "winner": winner, "ranking": ranking}


def result_event(game: Game) -> dict[str, Any]:
    """The result frame as a layer event (a socket sends one result, whichever runner sent it)."""
    return {**frame_event(game_group(game.pk), result_frame(game)), "game_result": True,
            **_last_tick(game)}  # fmt: skip


def _last_tick(game: Game) -> dict[str, int]:
    """A finished game's number of ticks: each socket sends them all before the status or
    result that says it is over (a tick may still be held for its beat, or was dropped)."""
    return {"ticks": game.ticks} if game.status == Game.Status.FINISHED and game.ticks else {}
