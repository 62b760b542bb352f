"""Direct conversations, replies and reactions (CONTRACT.md §9): writes and reads.

A direct conversation is a room (kind "dm"): private, its members fixed at creation (chat.policy
refuses every membership change), so every transport reaches it through the same policy verbs.
Replies are ordinary messages (chat.services.message_create takes `reply_to`); what is theirs
alone is the replies selector here. Reactions are rows, one per (message, user, emoji).
"""

import hashlib
from typing import Any

import emoji as emoji_data
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from chat import policy
from chat.models import Membership, Message, Reaction, Room
from realtime.broadcast import broadcast_on_commit
from realtime.errors import Invalid, NotFound
from realtime.groups import room_group

DM_MAX_OTHERS = 8
REACTIONS_MAX_EMOJI = 20
DM_NAME_SEPARATOR = ", "


# --- direct conversations --------------------------------------------------------------------


def dm_key(user_ids: set[int]) -> str:
    """The one key of a set of people: sorted ids, so order and duplicates do not matter."""
    return "-".join(str(pk) for pk in sorted(user_ids))


def dm_open(*, creator: AbstractBaseUser, usernames: list[str]) -> tuple[Room, bool]:
    """The direct conversation of exactly `creator` and `usernames`: (room, created).

    Two concurrent opens of the same set race on the unique `dm_key`: one creates, the other
    finds it, on any process and database."""
    wanted = {name for name in usernames if name != creator.get_username()}
    if not wanted:
        raise Invalid("Name at least one other person.", code="invalid")
    users = list(get_user_model().objects.filter(username__in=wanted, is_active=True))
    unknown = wanted - {user.get_username() for user in users}
    if unknown:
        raise Invalid(f"No such user: {', '.join(sorted(unknown))}.", code="unknown_user")
    if len(users) > DM_MAX_OTHERS:
        raise Invalid(
            f"A direct conversation has at most {DM_MAX_OTHERS} other people.", code="too_many"
        )
    people = [creator, *users]
    key = dm_key({user.pk for user in people})
    existing = Room.objects.filter(dm_key=key).first()
    if existing is not None:
        return existing, False
    names = DM_NAME_SEPARATOR.join(sorted(user.get_username() for user in people))
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug="dm-" + hashlib.sha256(key.encode()).hexdigest()[:20],
                name=names[:100],
                is_private=True,
                kind=Room.Kind.DM,
                dm_key=key,
                created_by=creator,
            )
            Membership.objects.bulk_create(
                Membership(room=room, user=user, role=Membership.Role.MEMBER) for user in people
            )
    except IntegrityError:
        return Room.objects.get(dm_key=key), False  # a concurrent open of the same set won
    return room, True


def dm_display_name(*, room: Room, username: str) -> str:
    """A conversation is named by the other people in it."""
    others = [name for name in room.name.split(DM_NAME_SEPARATOR) if name != username]
    return DM_NAME_SEPARATOR.join(others) or room.name


# --- replies ---------------------------------------------------------------------------------


def reply_parent(*, room: Room, message_id: int) -> Message:
    """The message a reply answers: one of the same room, not deleted (else `invalid_frame`)."""
    parent = Message.objects.filter(room=room, pk=message_id, deleted=False).first()
    if parent is None:
        raise Invalid("reply_to: no such message in this room.")
    return parent


def reply_count_raise(*, parent: Message) -> None:
    """Count one more reply (inside the reply's transaction) and tell the room after commit.

    The F() update holds the parent row's write lock until commit, so concurrent replies on any
    process each add one, and each broadcast carries the count as its transaction left it."""
    from chat.frames import message_updated_frame

    Message.objects.filter(pk=parent.pk).update(
        reply_count=F("reply_count") + 1, touched_at=timezone.now()
    )
    parent.refresh_from_db(fields=["reply_count"])
    broadcast_on_commit(room_group(parent.room_id), message_updated_frame(parent))


def reply_list(*, room: Room, message_id: int) -> list[Message]:
    """The replies to one message of the room, ascending by seq."""
    if not Message.objects.filter(room=room, pk=message_id).exists():
        raise NotFound("No such message in this room.")
    return list(
        Message.objects.filter(room=room, reply_to_id=message_id)
        .select_related("author", "room")
        .prefetch_related("reactions__user")
        .order_by("seq")
    )


# --- reactions -------------------------------------------------------------------------------


def emoji_validate(value: Any) -> str:
    """Exactly one emoji (a ZWJ sequence or a skin tone is one), else `invalid_frame`."""
    if not isinstance(value, str) or not emoji_data.is_emoji(value):
        raise Invalid("emoji: give exactly one emoji.")
    return value


def reactions_of(message: Message) -> list[dict[str, Any]]:
    """[{emoji, count, users}] by first reaction; uses prefetched reactions when there are."""
    grouped: dict[str, list[str]] = {}
    for reaction in message.reactions.all():  # ordered by id: first reaction first
        grouped.setdefault(reaction.emoji, []).append(reaction.user.get_username())
    return [{"emoji": e, "count": len(users), "users": users} for e, users in grouped.items()]


def reactions_frame(message: Message) -> dict[str, Any]:
    """`seq` is the message's own (it places the message; reactions take no seq of the stream);
    `version` grows with each change, so a client keeps the newest list."""
    return {
        "type": "reactions", "id": message.pk, "seq": message.seq,
        "version": message.reactions_version, "reactions": reactions_of(message),
    }  # fmt: skip


def reaction_add(*, room: Room, user: AbstractBaseUser, message_id: int, emoji: str) -> bool:
    """Add the user's `emoji` to a message; False (and no broadcast) if it was there already."""
    return _reaction_change(room=room, user=user, message_id=message_id, emoji=emoji, add=True)


def reaction_remove(*, room: Room, user: AbstractBaseUser, message_id: int, emoji: str) -> bool:
    """Remove the user's `emoji`; False (and no broadcast) if it was not there."""
    return _reaction_change(room=room, user=user, message_id=message_id, emoji=emoji, add=False)


class _Unchanged(Exception):
    """Rolls back the version raise of a change that changed nothing."""


def _reaction_change(
    *, room: Room, user: AbstractBaseUser, message_id: int, emoji: str, add: bool
) -> bool:
    emoji_validate(emoji)
    try:
        with transaction.atomic():
            policy.require_post(policy.access_get(room=room, user=user))
            # The UPDATE takes the message row's write lock (on SQLite, the database's): changes
            # to one message's reactions queue here, so the 20-emoji cap holds under races.
            locked = Message.objects.filter(room=room, pk=message_id, deleted=False).update(
                reactions_version=F("reactions_version") + 1, touched_at=timezone.now()
            )
            if not locked:
                raise NotFound("No such message in this room.")
            mine = Reaction.objects.filter(message_id=message_id, user=user, emoji=emoji)
            if add:
                if mine.exists():
                    raise _Unchanged
                emojis = set(
                    Reaction.objects.filter(message_id=message_id).values_list("emoji", flat=True)
                )
                if emoji not in emojis and len(emojis) >= REACTIONS_MAX_EMOJI:
                    raise Invalid(
                        f"A message takes at most {REACTIONS_MAX_EMOJI} different emoji.",
                        code="too_many_reactions",
                    )
                Reaction.objects.create(message_id=message_id, user=user, emoji=emoji)
            elif not mine.delete()[0]:
                raise _Unchanged
            message = (
                Message.objects.select_related("room")
                .prefetch_related("reactions__user")
                .get(pk=message_id)
            )
            broadcast_on_commit(room_group(room.pk), reactions_frame(message))
    except _Unchanged:
        return False
    return True
