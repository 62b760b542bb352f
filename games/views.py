"""The game page."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from games import selectors
from games.frames import game_data
from realtime.errors import DomainError


def game_page(request: HttpRequest, game_id: int) -> HttpResponse:
    try:
        game = selectors.game_to_read(game_id=game_id, user=request.user)
    except DomainError:
        raise Http404("No such game.") from None
    return render(request, "games/game.html", {"game": game, "game_data": game_data(game)})
