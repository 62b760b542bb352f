from django.urls import path

from dashboard import apis, views

api_urlpatterns = [
    path("devices/", apis.DeviceListCreateApi.as_view(), name="device-list"),
    path(
        "devices/<int:device_id>/rotate-key/",
        apis.DeviceRotateKeyApi.as_view(),
        name="device-rotate",
    ),
    path("devices/<int:device_id>/revoke/", apis.DeviceRevokeApi.as_view(), name="device-revoke"),
    path("ingest/", apis.IngestApi.as_view(), name="ingest"),
    path("dashboards/", apis.DashboardListCreateApi.as_view(), name="dashboard-list"),
    path("dashboards/<slug:slug>/", apis.DashboardDetailApi.as_view(), name="dashboard-detail"),
    path("dashboards/<slug:slug>/series/", apis.SeriesApi.as_view(), name="dashboard-series"),
    path("dashboards/<slug:slug>/panels/", apis.PanelCreateApi.as_view(), name="dashboard-panels"),
    path("alerts/", apis.AlertRuleListCreateApi.as_view(), name="alert-list"),
    path("alert-channels/", apis.AlertChannelListCreateApi.as_view(), name="alert-channel-list"),
    path(
        "alert-channels/<int:channel_id>/",
        apis.AlertChannelDetailApi.as_view(),
        name="alert-channel-detail",
    ),
    path(
        "alert-channels/<int:channel_id>/deliveries/",
        apis.AlertChannelDeliveriesApi.as_view(),
        name="alert-channel-deliveries",
    ),
    path(
        "alert-channels/<int:channel_id>/test/",
        apis.AlertChannelTestApi.as_view(),
        name="alert-channel-test",
    ),
]

page_urlpatterns = [
    path("alert-channels/", views.alert_channels_page, name="alert-channels"),
    path("dashboards/<slug:slug>/", views.dashboard_page, name="dashboard"),
    path("sse/dashboards/<slug:slug>/", views.dashboard_events, name="dashboard-events"),
]
