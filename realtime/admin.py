from django.contrib import admin

from realtime.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__username", "title", "body"]
    readonly_fields = ["user", "kind", "title", "body", "url", "created_at", "read_at"]
