"""Reads and access checks for rooms and messages; they raise realtime.errors, never return None."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value

from chat.models import Membership, Message, Room
from realtime.errors import NotFound


def room_queryset_for(*, user: AbstractBaseUser) -> QuerySet[Room]:
    """Rooms annotated with what `user` needs to see: member count, own role and read mark."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    return (
        Room.objects.select_related("created_by")
        .annotate(
            member_count=Count("memberships", distinct=True),
            my_role=Subquery(mine.values("role")[:1]),
            my_last_read=Subquery(mine.values("last_read_seq")[:1]),
            # Who is asking: a direct conversation is named by the other people in it.
            my_username=Value(user.get_username() if user.is_authenticated else ""),
        )
        .order_by("name")
    )


def room_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Room]:
    """Public rooms and the private rooms `user` belongs to."""
    return (
        room_queryset_for(user=user)
        .filter(Q(is_private=False) | Q(memberships__user=user))
        .distinct()
    )


def room_last_seq(*, room: Room) -> int:
    return Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()


def membership_get(*, room: Room, user: AbstractBaseUser) -> Membership | None:
    return Membership.objects.filter(room=room, user=user).first()


def member_list(*, room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")


def messages_changed_since(*, room: Room, up_to_seq: int, since) -> list[Message]:
    """Messages up to a seq that were edited or deleted, or whose replies or reactions
    changed, at or after `since`, by seq."""
    return list(
        Message.objects.filter(room=room, seq__lte=up_to_seq)
        .filter(Q(edited_at__gte=since) | Q(touched_at__gte=since))
        .select_related("author", "room")
        .prefetch_related("reactions__user", "attachments")
        .order_by("seq")
    )


def last_messages(*, slugs: list[str]) -> dict[str, dict]:
    """The newest message of each room, for the room list's preview: {slug: {author, body, at}}."""
    latest = Message.objects.filter(room__slug__in=slugs, seq=F("room__last_seq"))
    return {
        m.room.slug: {
            "author": m.author.get_username(),
            "body": "" if m.deleted else m.body[:140],
            "deleted": m.deleted,
            "created_at": m.created_at,
        }
        for m in latest.select_related("room", "author")
    }


def message_list(
    *,
    room: Room,
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[Message]:
    """A page of history, ascending by seq: after a seq, before one, or the latest."""
    messages = (
        Message.objects.filter(room=room)
        .select_related("author", "room")
        .prefetch_related("reactions__user", "attachments")
    )
    if after_seq is not None:
        return list(messages.filter(seq__gt=after_seq).order_by("seq")[:limit])
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return sorted(messages.order_by("-seq")[:limit], key=lambda m: m.seq)


def message_get(*, room: Room, message_id: int) -> Message:
    """One message of the room, with its reactions."""
    message = (
        Message.objects.filter(room=room, pk=message_id)
        .select_related("author", "room")
        .prefetch_related("reactions__user")
        .first()
    )
    if message is None:
        raise NotFound("No such message in this room.")
    return message
