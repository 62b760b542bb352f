"""Devices, dashboards and alert rules in the admin: changes go through dashboard.services.

A device's key is revoked by the `revoke_keys` action (services.device_revoke: its sockets close
on every process, and the revocation is logged); only its name is edited in place. Dashboards
and alert rules are read-only here: their services check that a panel or rule only watches
devices its owner may read, which a change form would skip.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from dashboard import services
from dashboard.models import AlertRule, Dashboard, Device, Panel
from realtime.admin import ReadOnly, ReadOnlyAdmin
from realtime.errors import DomainError


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    # The key hash never appears: keys are shown once, to the owner, at creation or rotation.
    list_display = ["name", "owner", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
    list_filter = ["is_builtin", "revoked_at"]
    search_fields = ["name", "owner__username"]
    fields = ["name", "owner", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
    # The owner decides whose sockets a revocation closes and who may chart the device.
    readonly_fields = ["owner", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False  # a device's key is made and shown by POST /api/devices/

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the readings and the charts stay

    @admin.action(description="Revoke the key (closes the device's sockets)")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        done = 0
        for device in queryset.select_related("owner"):
            try:
                services.device_revoke(device=device, actor=request.user)
            except DomainError as error:
                messages.error(request, f"{device}: {error.detail}")
                continue
            self.log_change(request, device, "Key revoked; its sockets were closed.")
            done += 1
        if done:
            messages.success(request, f"Keys revoked: {done}.")


class PanelInline(ReadOnly, admin.TabularInline):
    model = Panel
    extra = 0
    fields = [
        "position",
        "title",
        "kind",
        "device",
        "metric",
        "metrics",
        "map_devices",
        "thresholds",
    ]
    readonly_fields = fields

    @admin.display(description="devices (map)")
    def map_devices(self, panel: Panel) -> str:
        return ", ".join(device.name for device in panel.devices.all())


@admin.register(Dashboard)
class DashboardAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "owner", "is_public", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug", "owner__username"]
    inlines = [PanelInline]


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "owner", "for_seconds", "state", "last_value", "changed_at"]
    list_filter = ["state", "op"]
    search_fields = ["metric", "device__name", "owner__username"]
