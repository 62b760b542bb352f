from django.conf import settings
from django.db import models


class Device(models.Model):
    """Something that pushes readings. Its API key is shown once and stored only as a hash."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices"
    )
    name = models.CharField(max_length=100)
    # The key's first characters, to find the row; the whole key is compared by hash.
    key_prefix = models.CharField(max_length=16, db_index=True, blank=True)
    key_hash = models.CharField(max_length=64, blank=True)
    is_builtin = models.BooleanField(default=False, help_text="The server's own metrics.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A change the MQTT broker has yet to learn (dashboard.mqtt): "provision" the key sealed in
    # broker_secret (kept only until the broker has it), or "remove" the device's client.
    broker_pending = models.CharField(max_length=10, blank=True, default="")
    broker_secret = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Reading(models.Model):
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="readings")
    metric = models.CharField(max_length=64)
    value = models.FloatField()
    ts = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["device", "metric", "ts"], name="reading_series")]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.metric}@{self.ts:%H:%M:%S}={self.value}"


class ReadingRollup(models.Model):
    """Readings older than the raw retention, folded into min/avg/max buckets."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="rollups")
    metric = models.CharField(max_length=64)
    bucket_start = models.DateTimeField()
    bucket_seconds = models.PositiveIntegerField()
    min = models.FloatField()
    max = models.FloatField()
    sum = models.FloatField()
    count = models.PositiveIntegerField()
    # The bucket's first and last reading (for open and close; null in rows folded before
    # they were kept, whose open and close the series API approximates by the average).
    first = models.FloatField(null=True, blank=True)
    first_ts = models.DateTimeField(null=True, blank=True)
    last = models.FloatField(null=True, blank=True)
    last_ts = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "metric", "bucket_seconds", "bucket_start"], name="rollup_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.metric}@{self.bucket_start:%Y-%m-%d %H:%M}"


class Dashboard(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboards"
    )
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    is_public = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Panel(models.Model):
    class Kind(models.TextChoices):
        LINE = "line"
        GAUGE = "gauge"
        STAT = "stat"
        TICKER = "ticker"
        CANDLES = "candles"
        MAP = "map"

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="panels")
    title = models.CharField(max_length=100)
    # One device for every kind but `map`, which charts `devices` instead.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="panels", null=True, blank=True
    )
    # One metric for line, gauge, stat and candles; a ticker names `metrics`, a map none.
    metric = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=list, blank=True)
    devices = models.ManyToManyField(Device, related_name="mapped_panels", blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LINE)
    # {"warn": 70, "crit": 90} (any names; values are numbers drawn as lines on the chart)
    thresholds = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.dashboard.slug}: {self.title}"


class AlertRule(models.Model):
    class Op(models.TextChoices):
        GT = ">"
        LT = "<"
        GE = ">="
        LE = "<="

    class State(models.TextChoices):
        OK = "ok"
        PENDING = "pending"
        FIRING = "firing"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules"
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="alert_rules")
    metric = models.CharField(max_length=64)
    op = models.CharField(max_length=2, choices=Op.choices)
    threshold = models.FloatField()
    for_seconds = models.PositiveIntegerField(default=0)
    dashboard = models.ForeignKey(
        Dashboard, on_delete=models.SET_NULL, null=True, blank=True, related_name="alert_rules"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    pending_since = models.DateTimeField(null=True, blank=True)
    # While firing: since when the value has been back across the threshold (None: it is not).
    clear_since = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    channels = models.ManyToManyField("AlertChannel", blank=True, related_name="rules")

    class Meta:
        indexes = [models.Index(fields=["device", "metric"], name="alert_rule_series")]

    def __str__(self) -> str:
        return f"{self.device} {self.metric} {self.op} {self.threshold}"


class AlertChannel(models.Model):
    """Where an alert rule's firing and resolving are sent: a signed webhook or an e-mail."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_channels"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.URLField(max_length=500, blank=True)
    address = models.EmailField(blank=True)
    # The HMAC key of the webhook signature: stored as is (signing needs it), shown once.
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.url or self.address}"


class AlertDelivery(models.Model):
    """One alert event for one channel (an outbox row), and how sending it went."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    event = models.CharField(max_length=10)  # firing | resolved | test
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # Every attempt: [{"at": iso, "code": int | None, "error": str}, ...] (the delivery log).
    history = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField()
    # While SENDING: until when the worker that claimed it holds it (a crashed worker's rows
    # become due again after this).
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.event} {self.status}"
