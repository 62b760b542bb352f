from django.conf import settings
from django.db import models

from chat.models import Room


class Game(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"
        COUNTDOWN = "countdown"
        RUNNING = "running"
        FINISHED = "finished"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="games")
    kind = models.CharField(max_length=20, default="cycles")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    width = models.PositiveSmallIntegerField(default=64)
    height = models.PositiveSmallIntegerField(default=64)
    tick_hz = models.PositiveSmallIntegerField(default=20)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="games_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    starts_at = models.DateTimeField(null=True, blank=True)  # the end of the countdown
    finished_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="games_won",
    )  # fmt: skip
    ticks = models.PositiveIntegerField(default=0)  # how many ticks the game ran

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["room", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} in {self.room.slug} ({self.status})"


class GamePlayer(models.Model):
    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="players")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="game_seats"
    )
    seat = models.PositiveSmallIntegerField()
    alive = models.BooleanField(default=True)
    place = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 = the winner's place

    class Meta:
        ordering = ["game", "seat"]
        constraints = [
            models.UniqueConstraint(fields=["game", "seat"], name="game_seat_unique"),
            models.UniqueConstraint(fields=["game", "user"], name="game_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in seat {self.seat} of game {self.game_id}"
