from django.urls import path

from realtime import apis

api_urlpatterns = [
    path("notifications/", apis.NotificationListApi.as_view(), name="notification-list"),
    path(
        "notifications/<int:notification_id>/read/",
        apis.NotificationReadApi.as_view(),
        name="notification-read",
    ),
]
