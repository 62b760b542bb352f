"""Notifications: stored first, then pushed to the user's notification sockets."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers

from realtime.broadcast import broadcast_on_commit
from realtime.errors import NotFound
from realtime.groups import notification_group
from realtime.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "created_at", "url", "read_at"]


def notification_frame(notification: Notification) -> dict:
    return {"type": "notification", "notification": NotificationSerializer(notification).data}


@transaction.atomic
def notification_create(
    *, user_id: int, kind: str, title: str, body: str = "", url: str = ""
) -> Notification:
    notification = Notification.objects.create(
        user_id=user_id, kind=kind, title=title[:200], body=body[:500], url=url[:300]
    )
    broadcast_on_commit(notification_group(user_id), notification_frame(notification))
    return notification


def notification_list(*, user: AbstractBaseUser, unread_only: bool = False) -> QuerySet:
    notifications = Notification.objects.filter(user=user)
    return notifications.filter(read_at__isnull=True) if unread_only else notifications


def notification_mark_read(*, user: AbstractBaseUser, notification_id: int) -> Notification:
    notification = Notification.objects.filter(user=user, pk=notification_id).first()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
