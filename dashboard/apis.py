"""Devices, ingestion, dashboards, series and alert rules (CONTRACT.md §5, §6)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import selectors, services
from dashboard.delivery import delivery_create_test
from dashboard.models import Device
from dashboard.serializers import (
    AlertChannelCreateSerializer,
    AlertChannelSerializer,
    AlertDeliverySerializer,
    AlertRuleSerializer,
    DashboardSerializer,
    DeviceCreateSerializer,
    DeviceSerializer,
    PanelSerializer,
    SeriesQuerySerializer,
    validate_readings,
)
from realtime.api import Api
from realtime.credentials import INGEST
from realtime.errors import Forbidden
from realtime.quotas import require_rate_sync

DeviceKeySerializer = inline_serializer(
    "DeviceKey", {"id": serializers.IntegerField(), "name": serializers.CharField(),
                  "api_key": serializers.CharField()}
)  # fmt: skip


class DeviceListCreateApi(Api):
    @extend_schema(operation_id="devices_list", responses=DeviceSerializer(many=True))
    def get(self, request: Request) -> Response:
        devices = Device.objects.filter(owner=request.user)
        return Response(DeviceSerializer(devices, many=True).data)

    @extend_schema(
        operation_id="devices_create",
        request=DeviceCreateSerializer,
        responses={201: DeviceKeySerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = DeviceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, key = services.device_create(owner=request.user, **serializer.validated_data)
        return Response(
            {"id": device.pk, "name": device.name, "api_key": key}, status=status.HTTP_201_CREATED
        )


class DeviceRotateKeyApi(Api):
    @extend_schema(operation_id="devices_rotate_key", request=None, responses=DeviceKeySerializer)
    def post(self, request: Request, device_id: int) -> Response:
        device = selectors.device_get_for_owner(device_id=device_id, user=request.user)
        key = services.device_rotate_key(device=device, actor=request.user)
        return Response({"id": device.pk, "name": device.name, "api_key": key})


class DeviceRevokeApi(Api):
    @extend_schema(operation_id="devices_revoke", request=None, responses={204: None})
    def post(self, request: Request, device_id: int) -> Response:
        device = selectors.device_get_for_owner(device_id=device_id, user=request.user)
        services.device_revoke(device=device, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IngestApi(Api):
    credential_scope = INGEST  # the one REST path a device key reaches
    # A device's budget is its own (below), shared with its socket: not its owner's REST writes.
    throttle_classes = []

    @extend_schema(
        operation_id="ingest",
        request=inline_serializer("Readings", {"readings": serializers.ListField()}),
        responses={202: inline_serializer("Accepted", {"accepted": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        device = request.auth
        if not isinstance(device, Device):
            if request.user.is_authenticated:
                raise Forbidden("Ingestion takes a device's Api-Key, not a user's credentials.")
            raise NotAuthenticated("Send Authorization: Api-Key <key>.")
        # One budget per device, counted in the same windows as DeviceConsumer.on_readings.
        require_rate_sync(
            settings.SWITCHBOARD_DEVICE_INGEST_RATE, "ingest", str(device.pk),
            detail="This device sends readings too often.",
        )  # fmt: skip
        readings = validate_readings(request.data)
        if isinstance(readings, dict):
            return Response(
                {"code": "invalid_readings",
                 "detail": "Some readings are invalid; none were stored.", "errors": readings},
                status=status.HTTP_400_BAD_REQUEST,
            )  # fmt: skip
        accepted = services.readings_record(device=device, readings=readings)
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)


class DashboardListCreateApi(Api):
    @extend_schema(operation_id="dashboards_list", responses=DashboardSerializer(many=True))
    def get(self, request: Request) -> Response:
        dashboards = selectors.dashboard_list_for_user(user=request.user)
        return Response(DashboardSerializer(dashboards, many=True).data)

    @extend_schema(
        operation_id="dashboards_create",
        request=DashboardSerializer,
        responses={201: DashboardSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = DashboardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dashboard = services.dashboard_create(owner=request.user, **serializer.validated_data)
        return Response(DashboardSerializer(dashboard).data, status=status.HTTP_201_CREATED)


class DashboardDetailApi(Api):
    @extend_schema(operation_id="dashboards_retrieve", responses=DashboardSerializer)
    def get(self, request: Request, slug: str) -> Response:
        dashboard = selectors.dashboard_get_for_user(slug=slug, user=request.user)
        return Response(DashboardSerializer(dashboard).data)


class PanelCreateApi(Api):
    @extend_schema(
        operation_id="dashboards_panels_create",
        request=PanelSerializer,
        responses={201: PanelSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        dashboard = selectors.dashboard_get_for_user(slug=slug, user=request.user)
        serializer = PanelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        panel = services.panel_add(
            dashboard=dashboard, actor=request.user, **serializer.validated_data
        )
        return Response(PanelSerializer(panel).data, status=status.HTTP_201_CREATED)


class SeriesApi(Api):
    @extend_schema(
        operation_id="dashboards_series",
        parameters=[SeriesQuerySerializer],
        responses=inline_serializer("Series", {"points": serializers.ListField()}),
    )
    def get(self, request: Request, slug: str) -> Response:
        dashboard = selectors.dashboard_get_for_user(slug=slug, user=request.user)
        query = SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        device = selectors.charted_device(
            dashboard=dashboard, device_id=data["device"], metric=data["metric"]
        )
        points = selectors.series(
            device=device, metric=data["metric"], since=data["since"], until=data["until"],
            bucket=data["bucket"], agg=data.get("agg"),
        )  # fmt: skip
        return Response({"points": points})


class AlertRuleListCreateApi(Api):
    @extend_schema(operation_id="alerts_list", responses=AlertRuleSerializer(many=True))
    def get(self, request: Request) -> Response:
        rules = selectors.alert_rules_for_user(user=request.user)
        return Response(AlertRuleSerializer(rules, many=True).data)

    @extend_schema(
        operation_id="alerts_create",
        request=AlertRuleSerializer,
        responses={201: AlertRuleSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = AlertRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.alert_rule_create(owner=request.user, **serializer.validated_data)
        return Response(AlertRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


AlertChannelSecretSerializer = inline_serializer(
    "AlertChannelCreated", {"id": serializers.IntegerField(), "kind": serializers.CharField(),
                            "url": serializers.CharField(required=False),
                            "address": serializers.CharField(required=False),
                            "secret": serializers.CharField()}
)  # fmt: skip
DELIVERIES_LISTED = 50


class AlertChannelListCreateApi(Api):
    @extend_schema(operation_id="alert_channels_list", responses=AlertChannelSerializer(many=True))
    def get(self, request: Request) -> Response:
        channels = selectors.alert_channels_for_user(user=request.user)
        return Response(AlertChannelSerializer(channels, many=True).data)

    @extend_schema(
        operation_id="alert_channels_create",
        request=AlertChannelCreateSerializer,
        responses={201: AlertChannelSecretSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = AlertChannelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = services.alert_channel_create(owner=request.user, **serializer.validated_data)
        target = {"url": channel.url} if channel.kind == "webhook" else {"address": channel.address}
        # The only time the secret leaves the server.
        return Response(
            {"id": channel.pk, "kind": channel.kind, **target, "secret": channel.secret},
            status=status.HTTP_201_CREATED,
        )


class AlertChannelDetailApi(Api):
    @extend_schema(operation_id="alert_channels_retrieve", responses=AlertChannelSerializer)
    def get(self, request: Request, channel_id: int) -> Response:
        channel = selectors.alert_channel_get_for_owner(channel_id=channel_id, user=request.user)
        return Response(AlertChannelSerializer(channel).data)

    @extend_schema(operation_id="alert_channels_delete", responses={204: None})
    def delete(self, request: Request, channel_id: int) -> Response:
        channel = selectors.alert_channel_get_for_owner(channel_id=channel_id, user=request.user)
        services.alert_channel_delete(channel=channel, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertChannelDeliveriesApi(Api):
    @extend_schema(
        operation_id="alert_channels_deliveries", responses=AlertDeliverySerializer(many=True)
    )
    def get(self, request: Request, channel_id: int) -> Response:
        channel = selectors.alert_channel_get_for_owner(channel_id=channel_id, user=request.user)
        deliveries = channel.deliveries.order_by("-id")[:DELIVERIES_LISTED]
        return Response(AlertDeliverySerializer(deliveries, many=True).data)


class AlertChannelTestApi(Api):
    @extend_schema(
        operation_id="alert_channels_test", request=None, responses={202: AlertDeliverySerializer}
    )
    def post(self, request: Request, channel_id: int) -> Response:
        channel = selectors.alert_channel_get_for_owner(channel_id=channel_id, user=request.user)
        delivery = delivery_create_test(channel=channel)
        return Response(AlertDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
