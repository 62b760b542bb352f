"""The games REST API (CONTRACT.md §10)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from chat import policy
from games import selectors, services
from games.serializers import GameCreateSerializer, GameSerializer, LeaderboardRowSerializer
from realtime.api import Api
from realtime.errors import Invalid


class RoomGameListCreateApi(Api):
    @extend_schema(operation_id="rooms_games_list", responses=GameSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        games = selectors.game_list(room=room)[:50]
        return Response(GameSerializer(games, many=True).data)

    @extend_schema(
        operation_id="rooms_games_create",
        request=GameCreateSerializer,
        responses={201: GameSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_post(slug=slug, user=request.user)
        serializer = GameCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        game = services.game_create(room=room, creator=request.user, **serializer.validated_data)
        return Response(GameSerializer(game).data, status=status.HTTP_201_CREATED)


class GameDetailApi(Api):
    @extend_schema(operation_id="games_retrieve", responses=GameSerializer)
    def get(self, request: Request, game_id: int) -> Response:
        game = selectors.game_to_read(game_id=game_id, user=request.user)
        return Response(GameSerializer(game).data)


class LeaderboardApi(Api):
    @extend_schema(
        operation_id="games_leaderboard",
        parameters=[OpenApiParameter("room", str, required=True)],
        responses=LeaderboardRowSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("room")
        if not slug:
            raise Invalid("room: the room's slug is required.", code="invalid")
        room = policy.room_to_read(slug=slug, user=request.user)
        return Response(selectors.leaderboard(room=room))
