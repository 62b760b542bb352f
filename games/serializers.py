"""Input validation and output shapes of games, shared by the REST API and the game socket."""

from rest_framework import serializers

from games.engine import GAMES, rules_for
from games.models import Game, GamePlayer

MIN_SIDE, MAX_SIDE = 16, 128


class GameCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=20, default="cycles")
    width = serializers.IntegerField(min_value=MIN_SIDE, max_value=MAX_SIDE, default=64)
    height = serializers.IntegerField(min_value=MIN_SIDE, max_value=MAX_SIDE, default=64)

    def validate_kind(self, kind: str) -> str:
        rules_for("cycles")  # registers the shipped games
        if kind not in GAMES:
            raise serializers.ValidationError(f"One of: {', '.join(sorted(GAMES))}.")
        return kind


class TurnSerializer(serializers.Serializer):
    dir = serializers.ChoiceField(choices=["up", "down", "left", "right"])
    seq = serializers.IntegerField(min_value=1, max_value=2**53)


class GamePlayerSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = GamePlayer
        fields = ["seat", "username", "alive"]


class GameSerializer(serializers.ModelSerializer):
    room = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    players = GamePlayerSerializer(many=True)
    winner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    ranking = serializers.SerializerMethodField()

    class Meta:
        model = Game
        fields = [
            "id", "kind", "room", "status", "width", "height", "tick_hz", "players", "winner",
            "created_by", "created_at", "starts_at", "finished_at", "ranking",
        ]  # fmt: skip

    def get_ranking(self, game: Game) -> list[str]:
        """Usernames, the last one out first (empty until the game is finished)."""
        placed = [p for p in game.players.all() if p.place is not None]
        return [p.user.username for p in sorted(placed, key=lambda p: p.place)]


class LeaderboardRowSerializer(serializers.Serializer):
    username = serializers.CharField()
    played = serializers.IntegerField()
    wins = serializers.IntegerField()
