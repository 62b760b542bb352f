"""Writes for rooms and messages. REST views, consumers, admin and commands all come here."""

import re
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from chat import conversations, policy
from chat.attachments import attachments_attach, attachments_remove_for
from chat.frames import message_deleted_frame, message_frame, message_updated_frame
from chat.models import Membership, Message, ModerationAction, Room, RoomBan, RoomMute
from realtime.broadcast import broadcast, broadcast_on_commit, control_event, control_on_commit
from realtime.closecodes import CloseCode
from realtime.errors import Forbidden, Invalid, NotFound
from realtime.groups import room_group, user_group
from realtime.models import Notification
from realtime.notifications import notification_create
from realtime.slugs import free_slug
from realtime.store import rate_allows


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
        slug = free_slug(Room, name, fallback="room")
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug=slug, name=name, topic=topic, is_private=is_private, created_by=creator
            )
            Membership.objects.create(room=room, user=creator, role=Membership.Role.OWNER)
    except IntegrityError:
        raise Invalid("A room with this slug already exists.", code="slug_taken") from None
    return room


def room_join(*, room: Room, user: AbstractBaseUser) -> Membership:
    """Join a public room (private rooms are joined by invitation: member_add)."""
    policy.require_join(policy.access_get(room=room, user=user))
    membership, _ = Membership.objects.get_or_create(
        room=room, user=user, defaults={"last_read_seq": room.last_seq}
    )
    return membership


def room_leave(*, room: Room, user: AbstractBaseUser) -> None:
    policy.require_change_members(policy.access_get(room=room, user=user))
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
    with transaction.atomic():
        membership.delete()
        if room.is_private:
            _revoke_sockets(room=room, user=user)  # outside a private room, nothing to read


def member_add(*, room: Room, actor: AbstractBaseUser, user: AbstractBaseUser) -> Membership:
    """An owner or moderator adds `user` to the room (the way into a private room)."""
    policy.require_change_members(policy.require_moderate(policy.access_get(room=room, user=actor)))
    if RoomBan.objects.filter(room=room, user=user).exists():
        raise Forbidden("That user is banned from this room; unban them first.")
    membership, _ = Membership.objects.get_or_create(
        room=room, user=user, defaults={"last_read_seq": 0}
    )
    return membership


def _record(*, room: Room, actor: AbstractBaseUser, kind: str, target=None, reason: str = "",
            detail: str = "") -> None:  # fmt: skip
    ModerationAction.objects.create(
        room=room, actor=actor, target=target, kind=kind, reason=reason[:500], detail=detail[:200]
    )


def _revoke_sockets(*, room: Room, user: AbstractBaseUser) -> None:
    """Close the user's sockets in this room with 4003, on every process, after commit."""
    control_on_commit(
        control_event(user_group(user.pk), "hub.close", code=CloseCode.ACCESS_REVOKED, room=room.pk)
    )


@transaction.atomic
def member_ban(
    *, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser, reason: str = ""
) -> RoomBan:
    """Ban `target`: membership gone, sockets closed (4003), no way back until unbanned."""
    policy.require_authority_over(policy.access_get(room=room, user=actor), target)
    ban, _ = RoomBan.objects.update_or_create(
        room=room, user=target, defaults={"banned_by": actor, "reason": reason[:500]}
    )
    Membership.objects.filter(room=room, user=target).delete()
    _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.BAN, reason=reason)
    _revoke_sockets(room=room, user=target)
    return ban


@transaction.atomic
def member_unban(*, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser) -> None:
    policy.require_moderate(policy.access_get(room=room, user=actor))
    if RoomBan.objects.filter(room=room, user=target).delete()[0]:
        _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.UNBAN)


@transaction.atomic
def member_kick(
    *, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser, reason: str = ""
) -> None:
    """Remove `target` and close their sockets in the room; a public room can be rejoined."""
    policy.require_authority_over(policy.access_get(room=room, user=actor), target)
    Membership.objects.filter(room=room, user=target).delete()
    _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.KICK, reason=reason)
    _revoke_sockets(room=room, user=target)


@transaction.atomic
def member_mute(
    *, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser, minutes: int,
    reason: str = "",
) -> RoomMute:  # fmt: skip
    """Mute `target` for `minutes`: they still read, their sends get `muted`."""
    policy.require_authority_over(policy.access_get(room=room, user=actor), target)
    until = timezone.now() + timedelta(minutes=minutes)
    mute, _ = RoomMute.objects.update_or_create(
        room=room, user=target, defaults={"until": until, "muted_by": actor, "reason": reason[:500]}
    )
    _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.MUTE,
            reason=reason, detail=f"{minutes} min")  # fmt: skip
    return mute


@transaction.atomic
def member_unmute(*, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser) -> None:
    policy.require_moderate(policy.access_get(room=room, user=actor))
    if RoomMute.objects.filter(room=room, user=target).delete()[0]:
        _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.UNMUTE)


@transaction.atomic
def member_set_role(
    *, room: Room, actor: AbstractBaseUser, target: AbstractBaseUser, role: str
) -> Membership:
    """Owners (and staff) promote members to moderator or owner, or demote them."""
    policy.require_change_members(policy.require_own(policy.access_get(room=room, user=actor)))
    membership = Membership.objects.filter(room=room, user=target).first()
    if membership is None:
        raise NotFound("That user is not a member of this room.")
    if (
        membership.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and not (
            Membership.objects.filter(room=room, role=Membership.Role.OWNER).exclude(
                pk=membership.pk
            )
        ).exists()
    ):
        raise Forbidden("A room needs at least one owner.")
    membership.role = role
    membership.save(update_fields=["role"])
    _record(room=room, actor=actor, target=target, kind=ModerationAction.Kind.SET_ROLE, detail=role)
    return membership


@transaction.atomic
def room_update(
    *, room: Room, actor: AbstractBaseUser, name: str | None = None, topic: str | None = None,
    is_archived: bool | None = None,
) -> Room:  # fmt: skip
    """Owners rename the room, set its topic, archive it (read-only) or bring it back."""
    policy.require_own(policy.access_get(room=room, user=actor))
    room = Room.objects.select_for_update().get(pk=room.pk)
    if name is not None:
        room.name = name
    if topic is not None:
        room.topic = topic
    if is_archived is not None and is_archived != room.is_archived:
        room.is_archived = is_archived
        kind = ModerationAction.Kind.ARCHIVE if is_archived else ModerationAction.Kind.UNARCHIVE
        _record(room=room, actor=actor, kind=kind)
    room.save(update_fields=["name", "topic", "is_archived"])
    return room


def room_mark_read(*, room: Room, user: AbstractBaseUser, seq: int) -> int:
    """Move the user's read mark up to `seq` (never down, never past the last message)."""
    last_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
    mark = min(seq, last_seq)
    Membership.objects.filter(room=room, user=user, last_read_seq__lt=mark).update(
        last_read_seq=mark
    )
    return mark


async def room_typing(*, room: Room, user: AbstractBaseUser) -> None:
    """Tell the room's other sockets that `user` is typing, at most once per 2 s per user."""
    if await rate_allows("1/2second", "typing", str(room.pk), str(user.pk)):
        frame = {"type": "typing", "user": {"id": user.pk, "username": user.get_username()}}
        await broadcast(room_group(room.pk), frame, exclude_user=user.pk)


def message_create(
    *,
    room: Room,
    author: AbstractBaseUser,
    body: str,
    client_id: str | None = None,
    reply_to: int | None = None,
    attachments: list[int] | None = None,
) -> tuple[Message, bool]:
    """Store a message under the room's next seq, then broadcast it once committed.

    Returns (message, created). A `client_id` the author already used in this room returns the
    original message and creates nothing: the unique constraint decides, so two retries racing
    on two processes still make one row. Sending to a public room makes the author a member.
    A `reply_to` (a message id of this room) makes it a reply: the parent's count goes up and
    the room gets the parent as message.updated.
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
            # Checked under the room's lock: an archive or mute committed before this send
            # applies to it.
            policy.require_post(policy.access_get(room=room, user=author))
            parent = None
            if reply_to is not None:
                parent = conversations.reply_parent(room=room, message_id=reply_to)
            seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
            message = Message.objects.create(
                room=room, seq=seq, author=author, body=body, client_id=client_id, reply_to=parent
            )
            membership, created = Membership.objects.get_or_create(
                room=room, user=author, defaults={"last_read_seq": seq}
            )
            if not created and membership.last_read_seq < seq:
                Membership.objects.filter(pk=membership.pk).update(last_read_seq=seq)
            room.last_seq = seq
            # --- attachments (§9): joined in this transaction, or the message is not stored ---
            if attachments:
                attachments_attach(message=message, ids=attachments)
            broadcast_on_commit(room_group(room.pk), message_frame(message), seq=seq)
            if parent is not None:
                conversations.reply_count_raise(parent=parent)
            _notify_mentions(room=room, message=message)
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


MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


def _notify_mentions(*, room: Room, message: Message) -> None:
    """Each room member named as @username (not the author) gets a notification."""
    names = {name.rstrip(".") for name in MENTION.findall(message.body)}
    if not names:
        return
    members = (
        Membership.objects.filter(room=room, user__username__in=names)
        .exclude(user=message.author)
        .values_list("user_id", flat=True)
    )
    author = message.author.get_username()
    for user_id in members:
        notification_create(
            user_id=user_id,
            kind=Notification.Kind.MENTION,
            title=f"{author} mentioned you in "
            + ("a direct message" if room.kind == Room.Kind.DM else room.name),
            body=message.body[:300],
            url=f"/rooms/{room.slug}/#seq-{message.seq}",
        )


def _editable(*, room: Room, actor: AbstractBaseUser, message_id: int) -> Message:
    message = (
        Message.objects.select_related("author", "room").filter(room=room, pk=message_id).first()
    )
    if message is None:
        raise NotFound("No such message in this room.")
    policy.require_change(policy.access_get(room=room, user=actor), message)
    if message.deleted:
        raise NotFound("That message was deleted.")
    return message


@transaction.atomic
def message_edit(*, room: Room, actor: AbstractBaseUser, message_id: int, body: str) -> Message:
    """Change a message's body (author or moderator); the room gets message.updated."""
    message = _editable(room=room, actor=actor, message_id=message_id)
    message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "edited_at"])
    broadcast_on_commit(room_group(room.pk), message_updated_frame(message))
    return message


@transaction.atomic
def message_delete(*, room: Room, actor: AbstractBaseUser, message_id: int) -> Message:
    """Delete a message (author or moderator): its seq stays, as a tombstone with no body."""
    message = _editable(room=room, actor=actor, message_id=message_id)
    message.deleted = True
    message.body = ""
    message.edited_at = timezone.now()
    message.save(update_fields=["deleted", "body", "edited_at"])
    # A deleted message's files stop being downloadable and are removed (§9).
    attachments_remove_for(message=message)
    if message.author_id != actor.pk:
        _record(room=room, actor=actor, target=message.author,
                kind=ModerationAction.Kind.DELETE_MESSAGE, detail=f"seq {message.seq}")  # fmt: skip
    broadcast_on_commit(room_group(room.pk), message_deleted_frame(message))
    return message


SYSTEM_USERNAME = "switchboard"


def system_user() -> AbstractBaseUser:
    """The author of the system's messages (games, ...): an inactive account with no
    password, created by a migration (games 0002) so that nobody can sign up under its name."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def system_message_create(*, room: Room, body: str) -> Message:
    """A message from the system to the room: an ordinary message with the room's next seq,
    authored by `system_user()`. No policy applies: the system is no member; callers decide."""
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)  # the seq lock
        next_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
        message = Message.objects.create(room=room, seq=next_seq, author=system_user(), body=body)
        room.last_seq = next_seq
        broadcast_on_commit(room_group(room.pk), message_frame(message), seq=next_seq)
    return message
