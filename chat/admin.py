from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chat import services
from chat.models import (
    Membership,
    Message,
    ModerationAction,
    NoteVersion,
    Room,
    RoomBan,
    RoomMute,
)
from realtime.errors import DomainError


def _each(request: HttpRequest, queryset: QuerySet, perform, done: str) -> None:
    """Run a moderation service per row; the admin shows what worked and what was refused."""
    count = 0
    for row in queryset:
        try:
            perform(row)
            count += 1
        except DomainError as error:
            messages.error(request, f"{row}: {error.detail}")
    if count:
        messages.success(request, f"{done}: {count}.")


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
    list_filter = ["is_private", "is_archived", "created_at"]
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
    actions = ["ban", "kick", "mute_hour", "make_moderator"]

    # Staff moderate through the same services as room owners: same rules, same audit log,
    # and the target's open sockets close at once on every process.
    @admin.action(description="Ban from the room (closes their sockets)")
    def ban(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda m: services.member_ban(
                room=m.room, actor=request.user, target=m.user, reason="by staff in admin"
            ),
            "Banned",
        )

    @admin.action(description="Kick from the room (closes their sockets)")
    def kick(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda m: services.member_kick(
                room=m.room, actor=request.user, target=m.user, reason="by staff in admin"
            ),
            "Kicked",
        )

    @admin.action(description="Mute for one hour")
    def mute_hour(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda m: services.member_mute(
                room=m.room,
                actor=request.user,
                target=m.user,
                minutes=60,
                reason="by staff in admin",
            ),
            "Muted",
        )

    @admin.action(description="Make moderator")
    def make_moderator(self, request, queryset):
        _each(request, queryset.select_related("room", "user"), lambda m: services.member_set_role(
            room=m.room, actor=request.user, target=m.user, role=Membership.Role.MODERATOR),
            "Promoted")  # fmt: skip


@admin.register(RoomBan)
class RoomBanAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "banned_by", "reason", "created_at"]
    list_filter = ["room", "created_at"]
    search_fields = ["user__username", "room__name", "reason"]
    actions = ["unban"]

    def has_add_permission(self, request) -> bool:
        return False  # bans are made through the Membership action, which closes sockets

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Unban")
    def unban(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda b: services.member_unban(room=b.room, actor=request.user, target=b.user),
            "Unbanned",
        )


@admin.register(RoomMute)
class RoomMuteAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "until", "muted_by", "reason"]
    list_filter = ["room"]
    search_fields = ["user__username", "room__name", "reason"]
    readonly_fields = ["room", "user", "muted_by", "created_at"]


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "room", "actor", "kind", "target", "reason", "detail"]
    list_filter = ["kind", "room", "created_at"]
    search_fields = ["actor__username", "target__username", "room__name", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit log is append-only


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "short_body", "created_at", "edited_at", "deleted"]
    list_filter = ["deleted", "room", "created_at"]
    search_fields = ["body", "author__username", "room__slug", "client_id"]
    list_select_related = ["room", "author"]
    readonly_fields = ["room", "seq", "author", "client_id", "created_at", "edited_at", "deleted"]
    date_hierarchy = "created_at"
    actions = ["tombstone"]

    @admin.action(description="Delete (keep the seq as a tombstone, tell the room)")
    def tombstone(self, request, queryset):
        _each(
            request,
            queryset.select_related("room"),
            lambda m: services.message_delete(room=m.room, actor=request.user, message_id=m.pk),
            "Deleted",
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a hard delete would leave a gap in seq; use the tombstone action

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        # The admin escapes this; message bodies are never rendered as HTML anywhere.
        return message.body if len(message.body) <= 80 else message.body[:79] + "…"


@admin.register(NoteVersion)
class NoteVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "room", "created_by", "created_at", "restored_at"]
    list_filter = ["room", "created_at"]
    search_fields = ["name", "room__name", "text"]
    readonly_fields = ["room", "name", "text", "created_by", "created_at", "restored_at"]
    exclude = ["state"]

    def has_add_permission(self, request) -> bool:
        return False
