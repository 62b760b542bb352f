"""Validation and shapes for devices, readings, dashboards and alerts (REST and sockets)."""

import math
import re
from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from dashboard.models import AlertChannel, AlertDelivery, AlertRule, Dashboard, Device, Panel

METRIC = re.compile(r"^[a-z0-9_.:-]{1,64}$")
MAX_BATCH = 1000
FUTURE_LIMIT = timedelta(minutes=5)


class ReadingSerializer(serializers.Serializer):
    """One reading: a metric name, a finite number, and an optional time (now by default)."""

    metric = serializers.CharField(max_length=64, trim_whitespace=False)
    value = serializers.JSONField()
    ts = serializers.DateTimeField(required=False)

    def validate_metric(self, metric: str) -> str:
        if not METRIC.match(metric):
            raise serializers.ValidationError("Must match ^[a-z0-9_.:-]{1,64}$.")
        return metric

    def validate_value(self, value) -> float:
        # JSONField takes any JSON value; only real finite numbers are readings (not true/"1").
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise serializers.ValidationError("Must be a number.")
        if not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return float(value)

    def validate_ts(self, ts):
        if ts > timezone.now() + FUTURE_LIMIT:
            raise serializers.ValidationError("Is more than 5 minutes in the future.")
        return ts


class ReadingBatchSerializer(serializers.Serializer):
    readings = serializers.ListField(
        child=serializers.JSONField(), min_length=1, max_length=MAX_BATCH
    )


def validate_readings(payload) -> list[dict] | dict:
    """The one validation path for a batch: the clean readings, or errors keyed by index.

    Returns a dict of errors ({"readings": ...} for the batch itself, or {"3": {...}} per bad
    reading) when anything is wrong: a batch is stored whole or not at all.
    """
    batch = ReadingBatchSerializer(data=payload if isinstance(payload, dict) else {})
    if not isinstance(payload, dict) or not batch.is_valid():
        errors = batch.errors if isinstance(payload, dict) else {"readings": ["Send an object."]}
        return {"readings": errors.get("readings", errors)}
    clean, errors = [], {}
    now = timezone.now()
    # One serializer for the batch: its fields are built (deep-copied) once, not per reading,
    # which was most of the cost of a 1,000-reading batch.
    reader = ReadingSerializer()
    for index, raw in enumerate(batch.validated_data["readings"]):
        if not isinstance(raw, dict):
            errors[str(index)] = {"non_field_errors": ["A reading is an object."]}
            continue
        try:
            clean.append({"ts": now, **reader.run_validation(raw)})
        except serializers.ValidationError as invalid:
            errors[str(index)] = invalid.detail
    return errors or clean


class DeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "name", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
        read_only_fields = fields


class DeviceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class PanelSerializer(serializers.ModelSerializer):
    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all())
    thresholds = serializers.DictField(child=serializers.FloatField(), required=False)

    class Meta:
        model = Panel
        fields = ["id", "title", "device", "metric", "kind", "thresholds"]

    def validate_metric(self, metric: str) -> str:
        if not METRIC.match(metric):
            raise serializers.ValidationError("Must match ^[a-z0-9_.:-]{1,64}$.")
        return metric


class DashboardSerializer(serializers.ModelSerializer):
    panels = PanelSerializer(many=True, required=False)
    slug = serializers.SlugField(max_length=50, required=False)

    class Meta:
        model = Dashboard
        fields = ["slug", "name", "is_public", "panels"]


class SeriesQuerySerializer(serializers.Serializer):
    device = serializers.IntegerField()
    metric = serializers.CharField(max_length=64)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    bucket = serializers.IntegerField(min_value=1, max_value=86400, default=60)

    def validate(self, attrs):
        until = attrs.setdefault("until", timezone.now())
        since = attrs.setdefault("since", until - timedelta(hours=1))
        if since >= until:
            raise serializers.ValidationError("since must be before until.")
        if (until - since).total_seconds() / attrs["bucket"] > 5000:
            raise serializers.ValidationError("At most 5000 buckets: widen the bucket.")
        return attrs


class ChannelIdsField(serializers.ListField):
    """A rule's channels: ids in, ids out (the service checks they are the owner's)."""

    child = serializers.IntegerField(min_value=1)

    def to_representation(self, value) -> list[int]:
        return [channel.pk for channel in value.all()]


class AlertRuleSerializer(serializers.ModelSerializer):
    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all())
    dashboard = serializers.SlugRelatedField(
        slug_field="slug", queryset=Dashboard.objects.all(), required=False, allow_null=True
    )
    threshold = serializers.FloatField()
    channels = ChannelIdsField(required=False, max_length=20)

    class Meta:
        model = AlertRule
        fields = [
            "id", "device", "metric", "op", "threshold", "for_seconds", "dashboard",
            "channels", "state", "last_value", "changed_at",
        ]  # fmt: skip
        read_only_fields = ["id", "state", "last_value", "changed_at"]

    def validate_metric(self, metric: str) -> str:
        if not METRIC.match(metric):
            raise serializers.ValidationError("Must match ^[a-z0-9_.:-]{1,64}$.")
        return metric

    def validate_threshold(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


class AlertChannelSerializer(serializers.ModelSerializer):
    """A channel as listed (never its secret); `url` or `address` by kind."""

    class Meta:
        model = AlertChannel
        fields = ["id", "kind", "url", "address", "created_at"]
        read_only_fields = fields


class AlertChannelCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AlertChannel.Kind.choices)
    url = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    address = serializers.EmailField(required=False, default="")


class AlertDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = [
            "id", "event", "status", "attempts", "response_code", "error", "history",
            "next_attempt_at", "created_at", "last_attempt_at", "delivered_at",
        ]  # fmt: skip
        read_only_fields = fields
