from django.contrib import admin

from dashboard.models import AlertRule, Dashboard, Device, Panel


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    # The key hash never appears: keys are shown once, to the owner, at creation or rotation.
    list_display = ["name", "owner", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
    list_filter = ["is_builtin", "revoked_at"]
    search_fields = ["name", "owner__username"]
    fields = ["name", "owner", "is_builtin", "created_at", "last_seen_at", "revoked_at"]
    readonly_fields = ["created_at", "last_seen_at", "revoked_at"]


class PanelInline(admin.TabularInline):
    model = Panel
    extra = 0


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "owner", "is_public", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug", "owner__username"]
    inlines = [PanelInline]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "for_seconds", "state", "last_value", "changed_at"]
    list_filter = ["state", "op"]
    search_fields = ["metric", "device__name", "owner__username"]
    readonly_fields = ["state", "pending_since", "clear_since", "last_value", "changed_at"]
