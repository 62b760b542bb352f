from django.contrib import admin

from chat.models import Membership, Message, Room, RoomBan


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "last_read_seq", "joined_at"]
    readonly_fields = ["last_read_seq", "joined_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_private",
        "created_by",
        "member_count",
        "last_seq",
        "created_at",
    ]
    list_filter = ["is_private", "created_at"]
    search_fields = ["name", "slug", "topic", "created_by__username"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["last_seq", "created_at"]
    autocomplete_fields = ["created_by"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, room: Room) -> int:
        return room.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "role", "last_read_seq", "joined_at"]
    list_filter = ["role", "room"]
    search_fields = ["user__username", "room__name", "room__slug"]
    autocomplete_fields = ["user", "room"]


@admin.register(RoomBan)
class RoomBanAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "banned_by", "reason", "created_at"]
    list_filter = ["room", "created_at"]
    search_fields = ["user__username", "room__name", "reason"]
    autocomplete_fields = ["user", "room", "banned_by"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "short_body", "created_at", "edited_at", "deleted"]
    list_filter = ["deleted", "room", "created_at"]
    search_fields = ["body", "author__username", "room__slug", "client_id"]
    list_select_related = ["room", "author"]
    readonly_fields = ["room", "seq", "author", "client_id", "created_at", "edited_at"]
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        # The admin escapes this; message bodies are never rendered as HTML anywhere.
        return message.body if len(message.body) <= 80 else message.body[:79] + "…"
