from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chat import attachments, services
from chat.models import (
    Attachment,
    Membership,
    Message,
    ModerationAction,
    NoteQuarantine,
    NoteVersion,
    Room,
    RoomBan,
    RoomMute,
)
from realtime.admin import ReadOnly, ReadOnlyAdmin
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


class MembershipInline(ReadOnly, admin.TabularInline):
    """Members are added by the room's moderators or by joining, removed by kick or ban."""

    model = Membership
    extra = 0
    fields = ["user", "role", "last_read_seq", "joined_at"]
    readonly_fields = fields


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
    # Name and topic are saved through services.room_update; the rest changes by actions.
    fields = ["name", "topic", "slug", "is_private", "is_archived", "created_by", "last_seq",
              "created_at"]  # fmt: skip
    readonly_fields = ["slug", "is_private", "is_archived", "created_by", "last_seq", "created_at"]
    inlines = [MembershipInline]
    actions = ["archive", "unarchive"]

    def has_add_permission(self, request) -> bool:
        return False  # rooms are made by people (services.room_create gives them an owner)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: history stays readable

    def save_model(self, request, obj: Room, form, change: bool) -> None:
        try:
            services.room_update(room=obj, actor=request.user, name=obj.name, topic=obj.topic)
        except DomainError as error:
            messages.error(request, error.detail)

    @admin.action(description="Archive (read-only, audited)")
    def archive(self, request, queryset):
        _each(request, queryset, lambda room: services.room_update(
            room=room, actor=request.user, is_archived=True), "Archived")  # fmt: skip

    @admin.action(description="Unarchive")
    def unarchive(self, request, queryset):
        _each(request, queryset, lambda room: services.room_update(
            room=room, actor=request.user, is_archived=False), "Unarchived")  # fmt: skip

    @admin.display(description="members")
    def member_count(self, room: Room) -> int:
        return room.memberships.count()


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "room", "role", "last_read_seq", "joined_at"]
    list_filter = ["role", "room"]
    search_fields = ["user__username", "room__name", "room__slug"]
    actions = ["ban", "kick", "mute_hour", "make_moderator", "make_member"]

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

    @admin.action(description="Make member (no moderation rights)")
    def make_member(self, request, queryset):
        _each(request, queryset.select_related("room", "user"), lambda m: services.member_set_role(
            room=m.room, actor=request.user, target=m.user, role=Membership.Role.MEMBER),
            "Demoted")  # fmt: skip


@admin.register(RoomBan)
class RoomBanAdmin(ReadOnlyAdmin):
    """Bans are made by the Membership action (which closes sockets) and lifted by `unban`."""

    list_display = ["user", "room", "banned_by", "reason", "created_at"]
    list_filter = ["room", "created_at"]
    search_fields = ["user__username", "room__name", "reason"]
    actions = ["unban"]

    @admin.action(description="Unban")
    def unban(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda b: services.member_unban(room=b.room, actor=request.user, target=b.user),
            "Unbanned",
        )


@admin.register(RoomMute)
class RoomMuteAdmin(ReadOnlyAdmin):
    list_display = ["user", "room", "until", "muted_by", "reason"]
    list_filter = ["room"]
    search_fields = ["user__username", "room__name", "reason"]
    actions = ["unmute"]

    @admin.action(description="Unmute")
    def unmute(self, request, queryset):
        _each(
            request,
            queryset.select_related("room", "user"),
            lambda mute: services.member_unmute(room=mute.room, actor=request.user,
                                                target=mute.user),
            "Unmuted",
        )  # fmt: skip


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
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["room", "seq", "author", "short_body", "created_at", "edited_at", "deleted"]
    list_filter = ["deleted", "room", "created_at"]
    search_fields = ["body", "author__username", "room__slug", "client_id"]
    list_select_related = ["room", "author"]
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

    # No hard delete either: it would leave a gap in seq; the tombstone action tells the room.

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


@admin.register(NoteQuarantine)
class NoteQuarantineAdmin(ReadOnlyAdmin):
    """Stored notes parts that failed to load, set aside so the rest of the document loads."""

    list_display = ["room", "source", "author", "stored_at", "quarantined_at", "error"]
    exclude = ["data"]
    list_filter = ["room"]


# --- Attachments (§9) -------------------------------------------------------------------------


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """Files are seen here and removed through the services: a sent file by deleting its
    message (the room is told, the deletion audited, the files removed), an unsent one alone."""

    list_display = ["name", "room", "uploader", "content_type", "size", "message", "created_at"]
    list_filter = ["content_type", "room", "created_at"]
    search_fields = ["name", "uploader__username", "room__slug"]
    list_select_related = ["room", "uploader", "message"]
    date_hierarchy = "created_at"
    exclude = ["file", "thumbnail"]
    actions = ["remove"]

    @admin.action(description="Remove (deletes its message, tells the room, audited)")
    def remove(self, request, queryset):
        _each(
            request,
            queryset.select_related("room"),
            lambda a: attachments.attachment_remove(attachment=a, actor=request.user),
            "Removed",
        )
