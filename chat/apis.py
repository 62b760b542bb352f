"""The rooms and messages REST API (CONTRACT.md §3)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from chat import attachments, conversations, notes, policy, selectors, services
from chat.models import NoteVersion
from chat.search import message_search
from chat.serializers import (
    DmOpenSerializer,
    HistoryQuerySerializer,
    MemberSerializer,
    MessageReactionsSerializer,
    MessageSendSerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    ModerationSerializer,
    MuteSerializer,
    ReactionChangeSerializer,
    ReadSerializer,
    RoleSerializer,
    RoomCreateSerializer,
    RoomSerializer,
    RoomUpdateSerializer,
    UsernameSerializer,
    UserRefSerializer,
)
from realtime.api import Api
from realtime.errors import DomainError, Invalid, NotFound
from realtime.parsers import BoundedMultiPartParser
from realtime.quotas import require_rate_sync


class RoomListCreateApi(Api):
    @extend_schema(operation_id="rooms_list", responses=RoomSerializer(many=True))
    def get(self, request: Request) -> Response:
        rooms = selectors.room_list_for_user(user=request.user)
        return Response(RoomSerializer(rooms, many=True).data)

    @extend_schema(
        operation_id="rooms_create", request=RoomCreateSerializer, responses={201: RoomSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = RoomCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        room = services.room_create(creator=request.user, **serializer.validated_data)
        room = policy.room_to_see(slug=room.slug, user=request.user)
        return Response(RoomSerializer(room).data, status=status.HTTP_201_CREATED)


class RoomDetailApi(Api):
    @extend_schema(operation_id="rooms_retrieve", responses=RoomSerializer)
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_see(slug=slug, user=request.user)
        return Response(RoomSerializer(room).data)

    @extend_schema(
        operation_id="rooms_update", request=RoomUpdateSerializer, responses=RoomSerializer
    )
    def patch(self, request: Request, slug: str) -> Response:
        room = policy.room_to_see(slug=slug, user=request.user)
        serializer = RoomUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.room_update(room=room, actor=request.user, **serializer.validated_data)
        return Response(RoomSerializer(policy.room_to_see(slug=slug, user=request.user)).data)


class RoomJoinApi(Api):
    @extend_schema(operation_id="rooms_join", request=None, responses=RoomSerializer)
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_see(slug=slug, user=request.user)
        services.room_join(room=room, user=request.user)
        room = policy.room_to_see(slug=slug, user=request.user)
        return Response(RoomSerializer(room).data)


class RoomLeaveApi(Api):
    @extend_schema(operation_id="rooms_leave", request=None, responses={204: None})
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_see(slug=slug, user=request.user)
        services.room_leave(room=room, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMembersApi(Api):
    @extend_schema(operation_id="rooms_members_list", responses=MemberSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        return Response(MemberSerializer(selectors.member_list(room=room), many=True).data)

    @extend_schema(
        operation_id="rooms_members_add",
        request=UsernameSerializer,
        responses={201: MemberSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        # Authority first: who may not add members learns nothing about which usernames exist.
        room = policy.room_to_moderate(slug=slug, user=request.user)
        serializer = UsernameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = _target(serializer.validated_data["username"])
        membership = services.member_add(room=room, actor=request.user, user=user)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MessageListCreateApi(Api):
    @extend_schema(
        operation_id="rooms_messages_list",
        parameters=[HistoryQuerySerializer],
        responses=MessageSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = selectors.message_list(room=room, **query.validated_data)
        return Response(MessageSerializer(messages, many=True).data)

    @extend_schema(
        operation_id="rooms_messages_create",
        request=MessageSendSerializer,
        responses={201: OpenApiResponse(MessageSerializer, "Stored (or replayed) message")},
    )
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        require_rate_sync(settings.SWITCHBOARD_CHAT_SEND_RATE, "send", str(request.user.pk))
        message, created = services.message_create(
            room=room, author=request.user, **serializer.validated_data
        )
        # A retried client_id answers like the first request did (201 and the same message),
        # marked so a client can tell; nothing new was stored or broadcast.
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED, headers=headers
        )


class MessageDetailApi(Api):
    """Edit and delete over REST, for clients without a socket (the page's SSE fallback)."""

    @extend_schema(
        operation_id="rooms_messages_update",
        request=MessageUpdateSerializer,
        responses=MessageSerializer,
    )
    def patch(self, request: Request, slug: str, message_id: int) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        serializer = MessageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = services.message_edit(
            room=room, actor=request.user, message_id=message_id, **serializer.validated_data
        )
        return Response(MessageSerializer(message).data)

    @extend_schema(operation_id="rooms_messages_destroy", request=None, responses={204: None})
    def delete(self, request: Request, slug: str, message_id: int) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        services.message_delete(room=room, actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomReadApi(Api):
    """The socket's `read` frame over REST: moves the caller's read mark up to `seq`."""

    @extend_schema(operation_id="rooms_read", request=ReadSerializer, responses=ReadSerializer)
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        serializer = ReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mark = services.room_mark_read(room=room, user=request.user, **serializer.validated_data)
        return Response({"seq": mark})


def _target(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("No such user.")
    return user


class ModerationApi(Api):
    """POST /api/rooms/<slug>/<action>/: one view for ban, unban, kick, mute, unmute, role."""

    actions = {
        "ban": (ModerationSerializer, lambda room, actor, target, data: services.member_ban(
            room=room, actor=actor, target=target, reason=data["reason"])),
        "unban": (ModerationSerializer, lambda room, actor, target, data: services.member_unban(
            room=room, actor=actor, target=target)),
        "kick": (ModerationSerializer, lambda room, actor, target, data: services.member_kick(
            room=room, actor=actor, target=target, reason=data["reason"])),
        "mute": (MuteSerializer, lambda room, actor, target, data: services.member_mute(
            room=room, actor=actor, target=target, minutes=data["minutes"],
            reason=data["reason"])),
        "unmute": (ModerationSerializer, lambda room, actor, target, data: services.member_unmute(
            room=room, actor=actor, target=target)),
        "role": (RoleSerializer, lambda room, actor, target, data: services.member_set_role(
            room=room, actor=actor, target=target, role=data["role"])),
    }  # fmt: skip

    @extend_schema(
        operation_id="rooms_moderate", request=ModerationSerializer, responses={204: None}
    )
    def post(self, request: Request, slug: str, action: str) -> Response:
        serializer_class, perform = self.actions[action]
        # Authority first: who may not moderate learns nothing about which usernames exist.
        room = policy.room_to_moderate(slug=slug, user=request.user)
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        perform(room, request.user, _target(serializer.validated_data["username"]),
                serializer.validated_data)  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = UserRefSerializer(allow_null=True)


class NoteVersionSerializer(serializers.ModelSerializer):
    created_by = UserRefSerializer(allow_null=True)

    class Meta:
        model = NoteVersion
        fields = ["id", "name", "text", "created_by", "created_at", "restored_at"]


class NoteVersionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class NotesApi(Api):
    @extend_schema(operation_id="rooms_notes_retrieve", responses=NoteSerializer)
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        return Response(NoteSerializer(notes.note_text(room=room)).data)


class NoteVersionListCreateApi(Api):
    @extend_schema(
        operation_id="rooms_notes_versions_list", responses=NoteVersionSerializer(many=True)
    )
    def get(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        versions = NoteVersion.objects.filter(room=room).select_related("created_by")
        return Response(NoteVersionSerializer(versions, many=True).data)

    @extend_schema(
        operation_id="rooms_notes_versions_create",
        request=NoteVersionCreateSerializer,
        responses={201: NoteVersionSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        serializer = NoteVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = notes.note_version_create(
            room=room, actor=request.user, name=serializer.validated_data["name"]
        )
        return Response(NoteVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class NoteVersionRestoreApi(Api):
    @extend_schema(
        operation_id="rooms_notes_versions_restore", request=None, responses=NoteVersionSerializer
    )
    def post(self, request: Request, slug: str, version_id: int) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        version = notes.note_version_restore(room=room, actor=request.user, version_id=version_id)
        return Response(NoteVersionSerializer(version).data)


# --- conversations (CONTRACT.md §9) ---------------------------------------------------------


class DmOpenApi(Api):
    """POST /api/dms/: the direct conversation of exactly the caller and these people."""

    @extend_schema(
        operation_id="dms_open",
        request=DmOpenSerializer,
        responses={201: RoomSerializer, 200: RoomSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = DmOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        room, created = conversations.dm_open(
            creator=request.user, usernames=serializer.validated_data["usernames"]
        )
        room = policy.room_to_see(slug=room.slug, user=request.user)
        return Response(
            RoomSerializer(room).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReplyListApi(Api):
    @extend_schema(operation_id="rooms_messages_replies", responses=MessageSerializer(many=True))
    def get(self, request: Request, slug: str, message_id: int) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        replies = conversations.reply_list(room=room, message_id=message_id)
        return Response(MessageSerializer(replies, many=True).data)


class ReactionApi(Api):
    """POST adds the caller's emoji to a message, DELETE removes it; both answer the list."""

    def _change(self, request: Request, slug: str, message_id: int, change) -> Response:
        room = policy.room_to_read(slug=slug, user=request.user)
        serializer = ReactionChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        require_rate_sync(settings.SWITCHBOARD_CHAT_SEND_RATE, "react", str(request.user.pk))
        change(room=room, user=request.user, message_id=message_id, **serializer.validated_data)
        message = selectors.message_get(room=room, message_id=message_id)
        return Response({"id": message.pk, "seq": message.seq,
                         "reactions": conversations.reactions_of(message)})  # fmt: skip

    @extend_schema(
        operation_id="rooms_messages_reactions_add",
        request=ReactionChangeSerializer,
        responses=MessageReactionsSerializer,
    )
    def post(self, request: Request, slug: str, message_id: int) -> Response:
        return self._change(request, slug, message_id, conversations.reaction_add)

    @extend_schema(operation_id="rooms_messages_reactions_remove", request=ReactionChangeSerializer)
    def delete(self, request: Request, slug: str, message_id: int) -> Response:
        return self._change(request, slug, message_id, conversations.reaction_remove)


# --- Attachments and search (CONTRACT.md §9) ---------------------------------------------------


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)


class AttachmentUploadApi(Api):
    """POST a file (multipart field `file`) to a room, to attach to a message sent there."""

    parser_classes = [BoundedMultiPartParser]

    @extend_schema(
        operation_id="rooms_attachments_create",
        request={"multipart/form-data": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        responses={201: AttachmentSerializer},
    )  # fmt: skip
    def post(self, request: Request, slug: str) -> Response:
        room = policy.room_to_post(slug=slug, user=request.user)
        upload = request.FILES.get("file")
        if upload is None:
            raise Invalid("Send the file as the multipart field `file`.", code="no_file")
        attachment = attachments.attachment_create(room=room, uploader=request.user, upload=upload)
        return Response(
            attachments.attachment_data(attachment, slug=room.slug), status=status.HTTP_201_CREATED
        )


class AttachmentDownloadApi(Api):
    """The file itself, to whoever may read the room now (checked on every request)."""

    thumbnail = False

    @extend_schema(operation_id="rooms_attachments_retrieve", responses={(200, "*/*"): bytes})
    def get(self, request: Request, slug: str, attachment_id: int) -> FileResponse:
        return self.respond(request, slug, attachment_id)

    def respond(self, request: Request, slug: str, attachment_id: int) -> FileResponse:
        attachment = attachments.attachment_for_download(
            slug=slug, user=request.user, attachment_id=attachment_id
        )
        if self.thumbnail:
            if not attachment.thumbnail:
                raise NotFound("This file has no thumbnail.")
            response = FileResponse(attachment.thumbnail.open("rb"), content_type="image/webp")
        else:
            content_type = attachment.content_type
            if content_type.startswith("text/"):
                content_type += "; charset=utf-8"
            response = FileResponse(
                attachment.file.open("rb"),
                content_type=content_type,
                # Only the image types render inline; anything else is saved, never opened here.
                as_attachment=not attachment.is_image,
                filename=attachment.name,
            )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        # Even opened directly, the file runs nothing and loads nothing.
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
        return response


class AttachmentThumbnailApi(AttachmentDownloadApi):
    """An image's thumbnail, on the same access check as the file."""

    thumbnail = True

    @extend_schema(
        operation_id="rooms_attachments_thumbnail", responses={(200, "image/webp"): bytes}
    )
    def get(self, request: Request, slug: str, attachment_id: int) -> FileResponse:
        return self.respond(request, slug, attachment_id)


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200)
    room = serializers.SlugField(max_length=50, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=1000, default=0)


class SearchHitSerializer(serializers.Serializer):
    message = MessageSerializer()
    room = serializers.SerializerMethodField()
    highlight = serializers.CharField()

    def get_room(self, hit) -> dict:
        return {"slug": hit.room.slug, "name": hit.room.name}


class SearchApi(Api):
    """Full-text search over the rooms the caller may read now, best first."""

    @extend_schema(
        operation_id="search", parameters=[SearchQuerySerializer],
        responses=SearchHitSerializer(many=True),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        require_rate_sync(settings.SWITCHBOARD_SEARCH_RATE, "search", str(request.user.pk),
                          detail="Too many searches.")  # fmt: skip
        room = None
        if "room" in data:
            try:
                room = policy.room_to_read(slug=data["room"], user=request.user)
            except DomainError:
                raise NotFound(policy.NO_SUCH_ROOM) from None  # a ban hides the room here too
        hits = message_search(
            user=request.user, q=data["q"], room=room, limit=data["limit"], offset=data["offset"]
        )
        return Response(SearchHitSerializer(hits, many=True).data)
