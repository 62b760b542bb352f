"""The rooms and messages REST API (CONTRACT.md §3)."""

from django.contrib.auth import get_user_model
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from chat import selectors, services
from chat.serializers import (
    HistoryQuerySerializer,
    MessageSendSerializer,
    MessageSerializer,
    RoomCreateSerializer,
    RoomSerializer,
    UsernameSerializer,
)
from realtime.api import Api
from realtime.errors import Forbidden, NotFound


class RoomListCreateApi(Api):
    def get(self, request: Request) -> Response:
        rooms = selectors.room_list_for_user(user=request.user)
        return Response(RoomSerializer(rooms, many=True).data)

    def post(self, request: Request) -> Response:
        serializer = RoomCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        room = services.room_create(creator=request.user, **serializer.validated_data)
        room = selectors.room_get_for_user(slug=room.slug, user=request.user)
        return Response(RoomSerializer(room).data, status=status.HTTP_201_CREATED)


class RoomDetailApi(Api):
    def get(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        return Response(RoomSerializer(room).data)


class RoomJoinApi(Api):
    def post(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        services.room_join(room=room, user=request.user)
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        return Response(RoomSerializer(room).data)


class RoomLeaveApi(Api):
    def post(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        services.room_leave(room=room, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMembersApi(Api):
    def get(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        members = [
            {"id": m.user.pk, "username": m.user.get_username(), "role": m.role}
            for m in selectors.member_list(room=room)
        ]
        return Response(members)

    def post(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        serializer = UsernameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = (
            get_user_model().objects.filter(username=serializer.validated_data["username"]).first()
        )
        if user is None:
            raise NotFound("No such user.")
        membership = services.member_add(room=room, actor=request.user, user=user)
        return Response(
            {"id": user.pk, "username": user.get_username(), "role": membership.role},
            status=status.HTTP_201_CREATED,
        )


class MessageListCreateApi(Api):
    def get(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = selectors.message_list(room=room, **query.validated_data)
        return Response(MessageSerializer(messages, many=True).data)

    def post(self, request: Request, slug: str) -> Response:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
        if selectors.user_is_banned(room=room, user=request.user):
            raise Forbidden("You are banned from this room.")
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message, created = services.message_create(
            room=room, author=request.user, **serializer.validated_data
        )
        # A retried client_id answers like the first request did (201 and the same message),
        # marked so a client can tell; nothing new was stored or broadcast.
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED, headers=headers
        )
