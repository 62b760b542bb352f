from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something a user should see: an @mention in a room, an alert firing or resolving."""

    class Kind(models.TextChoices):
        MENTION = "mention"
        ALERT_FIRING = "alert.firing"
        ALERT_RESOLVED = "alert.resolved"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user}: {self.title}"


class ServerProcess(models.Model):
    """A server process's heartbeat: how many sockets it holds (the built-in source reads it)."""

    name = models.CharField(max_length=100, unique=True)
    sockets = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
