from django.conf import settings
from django.db import models
from django.db.models import Q


class Room(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    topic = models.CharField(max_length=250, blank=True)
    is_private = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rooms_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The highest seq handed out; incremented under the row's write lock (services.message_create).
    last_seq = models.PositiveBigIntegerField(default=0)
    # An archived room keeps its history readable and takes no new messages.
    is_archived = models.BooleanField(default=False)

    # --- direct conversations (CONTRACT.md §9) ---
    class Kind(models.TextChoices):
        ROOM = "room"
        DM = "dm"

    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.ROOM)
    # A DM's members, as sorted user ids joined by "-": unique, so two concurrent creates of the
    # same conversation make one room. NULL for ordinary rooms (the constraint skips NULL).
    dm_key = models.CharField(max_length=200, null=True, blank=True, unique=True)  # noqa: DJ001

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MODERATOR = "moderator"
        MEMBER = "member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"

    @property
    def is_moderator(self) -> bool:
        return self.role in {self.Role.OWNER, self.Role.MODERATOR}


class RoomBan(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_bans"
    )
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="ban_unique")]

    def __str__(self) -> str:
        return f"{self.user} banned from {self.room}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField(max_length=4000, blank=True)
    # NULL, not "", means "no idempotency key": the partial unique constraint skips it.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    # --- replies (CONTRACT.md §9): a reply is an ordinary message of the same room ---
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    # Raised with F() under the parent row's write lock (services.message_create).
    reply_count = models.PositiveIntegerField(default=0)
    # --- reactions: raised by every reaction change, under this row's write lock; the
    # `reactions` frame carries it so a client keeps the newest list whatever the arrival order.
    reactions_version = models.PositiveIntegerField(default=0)
    # When its replies or reactions last changed (not an edit: edited_at stays): a resuming
    # socket is sent the messages touched while it was away (selectors.messages_changed_since).
    touched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            # Idempotent sends: a retried client_id can never create a second row.
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq}"


class Reaction(models.Model):
    """One user's emoji on one message (CONTRACT.md §9); the unique constraint makes adds
    idempotent whatever the process."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions"
    )
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.emoji} on {self.message_id}"


class RoomMute(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="mutes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_mutes"
    )
    until = models.DateTimeField()
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="mute_unique")]

    def __str__(self) -> str:
        return f"{self.user} muted in {self.room} until {self.until:%Y-%m-%d %H:%M}"


class ModerationAction(models.Model):
    """The audit log: who did what to whom, in which room, when and why."""

    class Kind(models.TextChoices):
        BAN = "ban"
        UNBAN = "unban"
        KICK = "kick"
        MUTE = "mute"
        UNMUTE = "unmute"
        DELETE_MESSAGE = "delete_message"
        SET_ROLE = "set_role"
        ARCHIVE = "archive"
        UNARCHIVE = "unarchive"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="moderation_actions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=500, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor} {self.kind} {self.target or ''} in {self.room}"


class RoomNote(models.Model):
    """A room's shared notes (one Yjs document, a Y.Text named "notes").

    The document is `snapshot` (a Yjs update holding the state at the last compaction) plus
    the NoteUpdate rows stored since, applied in any order: CRDT updates commute.
    """

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="note")
    snapshot = models.BinaryField(default=bytes)
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"notes of {self.room}"


class NoteUpdate(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="note_updates")
    data = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"update {self.pk} of {self.room_id}"


class NoteQuarantine(models.Model):
    """A stored part of a room's notes (an update or the snapshot) that failed to load, set aside
    so the document loads from the rest; kept for inspection, never applied."""

    class Source(models.TextChoices):
        UPDATE = "update"
        SNAPSHOT = "snapshot"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="note_quarantine")
    source = models.CharField(max_length=16, choices=Source.choices)
    data = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    stored_at = models.DateTimeField(null=True)
    error = models.CharField(max_length=300)
    quarantined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"quarantined {self.source} of {self.room_id}"


class NoteVersion(models.Model):
    """A named snapshot of a room's notes that an owner can view and restore."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="note_versions")
    name = models.CharField(max_length=100)
    state = models.BinaryField()
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.room}: {self.name}"


# --- Attachments (CONTRACT.md §9: files and images) -------------------------------------------


def attachment_storage():
    """Where uploads live: the `attachments` alias of STORAGES (local files unless configured)."""
    from django.core.files.storage import storages

    return storages["attachments"]


class Attachment(models.Model):
    """A file uploaded to a room, stored under a random key; it joins one message when sent.

    Until a message uses it (`message` null) only its uploader can fetch it; unused uploads
    older than SWITCHBOARD_ATTACHMENT_GRACE_SECONDS are removed (chat.attachments.cleanup).
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attachments")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    # The type detected from the content (one of SWITCHBOARD_UPLOAD_TYPES), never the client's.
    content_type = models.CharField(max_length=100)
    file = models.FileField(storage=attachment_storage, max_length=255)
    thumbnail = models.FileField(storage=attachment_storage, max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.room_id})"

    @property
    def is_image(self) -> bool:
        return bool(self.thumbnail)
