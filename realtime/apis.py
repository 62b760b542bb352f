"""Notifications REST API (CONTRACT.md §6)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from realtime.api import Api
from realtime.notifications import (
    NotificationSerializer,
    notification_list,
    notification_mark_read,
)


class NotificationListApi(Api):
    @extend_schema(operation_id="notifications_list", responses=NotificationSerializer(many=True))
    def get(self, request: Request) -> Response:
        unread_only = request.query_params.get("unread") in {"1", "true"}
        notifications = notification_list(user=request.user, unread_only=unread_only)[:100]
        return Response(NotificationSerializer(notifications, many=True).data)


class NotificationReadApi(Api):
    @extend_schema(
        operation_id="notifications_read", request=None, responses=NotificationSerializer
    )
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationSerializer(notification).data)
