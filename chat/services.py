"""Writes for rooms and messages. REST views, consumers, admin and commands all come here."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from chat.frames import message_frame
from chat.models import Membership, Message, Room, RoomBan
from realtime.broadcast import broadcast_on_commit
from realtime.errors import Forbidden, Invalid, NotFound
from realtime.groups import room_group


def room_create(
    *,
    creator: AbstractBaseUser,
    name: str,
    slug: str | None = None,
    topic: str = "",
    is_private: bool = False,
) -> Room:
    """Create a room owned by its creator; a taken slug is refused, a derived one made unique."""
    if slug:
        if Room.objects.filter(slug=slug).exists():
            raise Invalid("A room with this slug already exists.", code="slug_taken")
    else:
        slug = _free_slug(name)
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug=slug, name=name, topic=topic, is_private=is_private, created_by=creator
            )
            Membership.objects.create(room=room, user=creator, role=Membership.Role.OWNER)
    except IntegrityError:
        raise Invalid("A room with this slug already exists.", code="slug_taken") from None
    return room


def _free_slug(name: str) -> str:
    base = slugify(name)[:40] or "room"
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def room_join(*, room: Room, user: AbstractBaseUser) -> Membership:
    """Join a public room (private rooms are joined by invitation: member_add)."""
    if room.is_private:
        raise NotFound("No such room.")
    if RoomBan.objects.filter(room=room, user=user).exists():
        raise Forbidden("You are banned from this room.")
    membership, _ = Membership.objects.get_or_create(
        room=room, user=user, defaults={"last_read_seq": room.last_seq}
    )
    return membership


def room_leave(*, room: Room, user: AbstractBaseUser) -> None:
    membership = Membership.objects.filter(room=room, user=user).first()
    if membership is None:
        return
    if (
        membership.role == Membership.Role.OWNER
        and not (
            Membership.objects.filter(room=room, role=Membership.Role.OWNER).exclude(
                pk=membership.pk
            )
        ).exists()
    ):
        raise Forbidden("The last owner cannot leave; make someone else owner first.")
    membership.delete()


def member_add(*, room: Room, actor: AbstractBaseUser, user: AbstractBaseUser) -> Membership:
    """An owner or moderator adds `user` to the room (the way into a private room)."""
    _require_moderator(room=room, user=actor)
    if RoomBan.objects.filter(room=room, user=user).exists():
        raise Forbidden("That user is banned from this room; unban them first.")
    membership, _ = Membership.objects.get_or_create(
        room=room, user=user, defaults={"last_read_seq": 0}
    )
    return membership


def _require_moderator(*, room: Room, user: AbstractBaseUser) -> Membership:
    membership = Membership.objects.filter(room=room, user=user).first()
    if membership is None or not membership.is_moderator:
        raise Forbidden("Only the room's owners and moderators can do that.")
    return membership


def message_create(
    *, room: Room, author: AbstractBaseUser, body: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Store a message under the room's next seq, then broadcast it once committed.

    Returns (message, created). A `client_id` the author already used in this room returns the
    original message and creates nothing: the unique constraint decides, so two retries racing
    on two processes still make one row. Sending to a public room makes the author a member.
    """
    if client_id is not None:
        existing = _message_by_client_id(room=room, author=author, client_id=client_id)
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            # The UPDATE takes the room row's write lock until commit, so concurrent senders on
            # any process queue here: seq N+1 is always committed after seq N, with no gaps.
            Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
            seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
            message = Message.objects.create(
                room=room, seq=seq, author=author, body=body, client_id=client_id
            )
            membership, created = Membership.objects.get_or_create(
                room=room, user=author, defaults={"last_read_seq": seq}
            )
            if not created and membership.last_read_seq < seq:
                Membership.objects.filter(pk=membership.pk).update(last_read_seq=seq)
            room.last_seq = seq
            broadcast_on_commit(room_group(room.pk), message_frame(message), seq=seq)
    except IntegrityError:
        # A concurrent retry of this client_id won; this attempt (its seq too) rolled back.
        if client_id is None:
            raise
        existing = _message_by_client_id(room=room, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing, False
    return message, True


def _message_by_client_id(
    *, room: Room, author: AbstractBaseUser, client_id: str
) -> Message | None:
    return (
        Message.objects.select_related("author", "room")
        .filter(room=room, author=author, client_id=client_id)
        .first()
    )
