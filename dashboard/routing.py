from django.urls import path

from dashboard.consumers import DashboardConsumer, DeviceConsumer

websocket_urlpatterns = [
    path("ws/devices/", DeviceConsumer.as_asgi()),
    path("ws/dashboards/<slug:slug>/", DashboardConsumer.as_asgi()),
]
