"""Input validation and output shapes, shared by the REST API and the chat socket."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.conversations import dm_display_name, reactions_of
from chat.models import Membership, Message, Room


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class RoomSerializer(serializers.ModelSerializer):
    """A room as one caller sees it; expects the annotations of selectors.room_queryset_for."""

    created_by = UserRefSerializer()
    member_count = serializers.IntegerField(read_only=True)
    is_member = serializers.SerializerMethodField()
    role = serializers.CharField(source="my_role", read_only=True, allow_null=True)
    unread = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = [
            "slug", "name", "topic", "is_private", "created_by", "created_at",
            "last_seq", "member_count", "is_member", "role", "unread", "kind",
        ]  # fmt: skip

    def get_name(self, room: Room) -> str:
        """A direct conversation is named by the other people in it (for whoever reads it)."""
        viewer = getattr(room, "my_username", None)
        if room.kind == Room.Kind.DM and viewer:
            return dm_display_name(room=room, username=viewer)
        return room.name

    def get_is_member(self, room: Room) -> bool:
        return room.my_role is not None

    def get_unread(self, room: Room) -> int:
        if room.my_role is None:
            return 0
        return max(room.last_seq - (room.my_last_read or 0), 0)


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()


class RoomCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=50, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")
    is_private = serializers.BooleanField(required=False, default=False)


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    users = serializers.ListField(child=serializers.CharField())


class MessageSerializer(serializers.ModelSerializer):
    room = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = UserRefSerializer()
    reply_to = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    reactions = serializers.SerializerMethodField()
    # --- attachments (§9) ---
    attachments = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id", "seq", "room", "author", "body", "client_id",
            "created_at", "edited_at", "deleted", "reply_to", "reply_count", "reactions",
            "attachments",
        ]  # fmt: skip

    @extend_schema_field(ReactionSerializer(many=True))
    def get_reactions(self, message: Message) -> list[dict]:
        return reactions_of(message)

    def get_attachments(self, message: Message) -> list[dict]:
        """The message's files (selectors prefetch them); none once it is deleted."""
        from chat.attachments import attachment_data

        if message.deleted:
            return []
        return [attachment_data(a, slug=message.room.slug) for a in message.attachments.all()]


class StrictCharField(serializers.CharField):
    """A CharField that takes only JSON strings (DRF would turn 12 into "12")."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class BodyField(StrictCharField):
    """A message body: not blank, at most SWITCHBOARD_MAX_BODY_CHARS characters.

    The error codes are the contract's (`empty_body`, `body_too_long`) so that the socket
    can pass them straight on.
    """

    default_error_messages = {
        "empty_body": "The message body is empty.",
        "body_too_long": "The message body is longer than {max_length} characters.",
    }

    def __init__(self, *, allow_empty: bool = False, **kwargs) -> None:
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)
        self.allow_empty = allow_empty

    def run_validation(self, data=serializers.empty) -> str:
        # Checked here, not in to_internal_value, which DRF skips for "" when blanks are allowed.
        body = super().run_validation(data)
        if not body.strip() and not self.allow_empty:
            self.fail("empty_body")
        limit = settings.SWITCHBOARD_MAX_BODY_CHARS
        if len(body) > limit:
            self.fail("body_too_long", max_length=limit)
        return body


class MessageSendSerializer(serializers.Serializer):
    body = BodyField()
    client_id = StrictCharField(
        min_length=1, max_length=64, required=False, allow_null=True, default=None,
        trim_whitespace=False,
    )  # fmt: skip
    reply_to = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    # --- attachments (§9): ids of the sender's unused uploads to the room ---
    attachments = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list,
        max_length=settings.SWITCHBOARD_MAX_ATTACHMENTS_PER_MESSAGE,
    )  # fmt: skip

    def get_fields(self):
        fields = super().get_fields()
        data = getattr(self, "initial_data", None)
        # A message that carries files may have no text.
        if isinstance(data, dict) and data.get("attachments") and not data.get("body"):
            fields["body"] = BodyField(required=False, default="", allow_empty=True)
        return fields


class MessageUpdateSerializer(serializers.Serializer):
    body = BodyField()


class MessageEditSerializer(MessageUpdateSerializer):
    id = serializers.IntegerField(min_value=1)


class MessageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


class ResumeSerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0)
    # The newest created_at/edited_at the client has seen: edits and deletes of messages it
    # already has (seq <= after_seq) made since then are sent too.
    updated_since = serializers.DateTimeField(required=False)


class HistoryQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, required=False)
    before_seq = serializers.IntegerField(min_value=1, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    wait = serializers.FloatField(
        min_value=0, max_value=30, required=False,
        help_text="With after_seq: wait up to this many seconds for the next message.",
    )  # fmt: skip

    def validate(self, attrs):
        attrs.pop("wait", None)  # served by chat.views.room_messages before DRF sees it
        if "after_seq" in attrs and "before_seq" in attrs:
            raise serializers.ValidationError("Give after_seq or before_seq, not both.")
        return attrs


class LongPollQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0)
    wait = serializers.FloatField(min_value=0, max_value=30)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)


class UsernameSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class ModerationSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class MuteSerializer(ModerationSerializer):
    minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 365)


class RoleSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class RoomUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    is_archived = serializers.BooleanField(required=False)


# --- conversations (CONTRACT.md §9) ---------------------------------------------------------


class DmOpenSerializer(serializers.Serializer):
    usernames = serializers.ListField(
        child=serializers.CharField(max_length=150), min_length=1, max_length=16
    )


class ReactionChangeSerializer(serializers.Serializer):
    emoji = StrictCharField(max_length=64, trim_whitespace=False)


class MessageReactionsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    reactions = ReactionSerializer(many=True)


class ReactionFrameSerializer(ReactionChangeSerializer):
    id = serializers.IntegerField(min_value=1)
