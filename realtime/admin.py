from django.contrib import admin

from realtime.models import Notification


class ReadOnly:
    """For admin classes (model admins and inlines) over rows that change only through their
    services: an edit in a change form would skip the policy, the audit log and the closing of
    sockets. Rows are shown; the admin's actions call the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__username", "title", "body"]
    readonly_fields = ["user", "kind", "title", "body", "url", "created_at", "read_at"]
