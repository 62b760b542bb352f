"""Who may see, read, write and moderate a room: the one place that knows about membership,
privacy, bans, mutes and archive.

Every path asks here, whatever its transport: the REST API, the chat and notes sockets, the
SSE stream and the long poll, the notes REST API, the pages, Django admin's actions and the
services behind them (Zulip's `access_stream_by_id`, called by its views, event queue and
tools alike). A refusal is a realtime.errors domain error, which each transport turns into its
own answer once: 404/403 over HTTP, a refused handshake or an `error` frame over a socket.
tests/integration/test_transport_matrix.py asserts the same answer on every path.

The verbs:
- see: the room's name and metadata (public rooms, and private ones the user belongs to);
- read: its messages, notes, members and live streams (see, and not banned);
- post: send a message (read, the room not archived, the user not muted);
- change: edit or delete a message (post, and the author or a moderator);
- write_notes: change the notes (a member, the room not archived, the user not muted);
- moderate / own: the moderation actions and the room's settings, by rank;
- change_members: join, leave, add, ban, kick, mute or promote: never in a direct conversation
  (CONTRACT.md §9), whose members are fixed when it is created.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model as user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connections
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from chat.models import Membership, Message, Room, RoomBan, RoomMute
from realtime.errors import Forbidden, NotFound

MEMBER, MODERATOR, OWNER, STAFF = 0, 1, 2, 3
_RANK = {Membership.Role.MEMBER: MEMBER, Membership.Role.MODERATOR: MODERATOR,
         Membership.Role.OWNER: OWNER}  # fmt: skip

NO_SUCH_ROOM = "No such room."


@dataclass(frozen=True)
class RoomAccess:
    """What one user is in one room, read in one query."""

    room: Room
    user: AbstractBaseUser
    role: str | None  # None: not a member
    banned: bool
    muted_until: datetime | None

    @property
    def is_member(self) -> bool:
        return self.role is not None

    @property
    def rank(self) -> int:
        """Staff (through admin) above owners above moderators above everyone else."""
        if self.user.is_staff:
            return STAFF
        return _RANK.get(self.role, MEMBER)

    @property
    def muted(self) -> bool:
        return self.muted_until is not None and self.muted_until > timezone.now()


def access_get(*, room: Room, user: AbstractBaseUser) -> RoomAccess:
    """The user's standing in the room: membership, ban and mute, fresh from the database."""
    if not user.is_authenticated:
        return RoomAccess(room, user, None, False, None)
    now = timezone.now()
    row = (
        Room.objects.filter(pk=room.pk)
        .annotate(
            role=Subquery(
                Membership.objects.filter(room=OuterRef("pk"), user=user).values("role")[:1]
            ),
            banned=Exists(RoomBan.objects.filter(room=OuterRef("pk"), user=user)),
            muted_until=Subquery(
                RoomMute.objects.filter(room=OuterRef("pk"), user=user, until__gt=now).values(
                    "until"
                )[:1]
            ),
            archived=Subquery(Room.objects.filter(pk=OuterRef("pk")).values("is_archived")[:1]),
        )
        .values("role", "banned", "muted_until", "archived")
        .first()
    )
    if row is None:
        raise NotFound(NO_SUCH_ROOM)
    room.is_archived = row["archived"]  # an archive since the room was read applies now
    return RoomAccess(room, user, row["role"], row["banned"], row["muted_until"])


# --- the verbs: each raises NotFound or Forbidden, or returns the access it checked ----------


def require_see(access: RoomAccess) -> RoomAccess:
    """A private room is NotFound to anyone outside it: its existence is not revealed."""
    if not access.user.is_authenticated or not access.user.is_active:
        raise NotFound(NO_SUCH_ROOM)
    if access.room.is_private and not access.is_member:
        raise NotFound(NO_SUCH_ROOM)
    return access


def require_read(access: RoomAccess) -> RoomAccess:
    require_see(access)
    if access.banned:
        raise Forbidden("You are banned from this room.")
    return access


def require_post(access: RoomAccess) -> RoomAccess:
    require_read(access)
    if access.room.is_archived:
        raise Forbidden("This room is archived and read-only.")
    if access.muted:
        raise Forbidden("You are muted in this room for now.", code="muted")
    return access


def require_change(access: RoomAccess, message: Message) -> RoomAccess:
    """Edit or delete `message`: its author or a moderator, in a room open to posting; staff
    (through admin's actions) in any room, as for the other moderation verbs."""
    if access.rank >= STAFF:
        return access
    require_post(access)
    if message.author_id != access.user.pk and access.rank < MODERATOR:
        raise Forbidden("Only the author or a moderator can change this message.")
    return access


def require_write_notes(access: RoomAccess) -> RoomAccess:
    """Notes are changed by the room's members only (a visitor of a public room reads them)."""
    require_post(access)
    if not access.is_member:
        raise Forbidden("Join the room to edit its notes.")
    return access


def _require_rank(access: RoomAccess, rank: int, refusal: str) -> RoomAccess:
    if access.rank < STAFF:  # staff moderate any room, through admin
        require_see(access)
    if access.rank < rank:
        raise Forbidden(refusal)
    return access


def require_moderate(access: RoomAccess) -> RoomAccess:
    """Owners and moderators of the room; staff anywhere."""
    return _require_rank(access, MODERATOR, "Only the room's owners and moderators can do that.")


def require_own(access: RoomAccess) -> RoomAccess:
    return _require_rank(access, OWNER, "Only the room's owners can do that.")


def require_authority_over(access: RoomAccess, target: AbstractBaseUser) -> RoomAccess:
    """Moderators act on members, owners on moderators too, staff on anyone; none on themselves.

    Checked before anything about the target is revealed: a member who may not moderate
    learns nothing about which usernames exist."""
    require_moderate(access)
    require_change_members(access)
    if access.user.pk == target.pk:
        raise Forbidden("You cannot do that to yourself.")
    target_role = (
        Membership.objects.filter(room=access.room, user=target).values_list("role", flat=True)
    ).first()
    if _RANK.get(target_role, MEMBER) >= access.rank:
        raise Forbidden("You do not have authority over that member in this room.")
    return access


DM_MEMBERS_FIXED = "The people of a direct conversation are fixed; start another one instead."


def require_change_members(access: RoomAccess) -> RoomAccess:
    """A direct conversation's members are exactly the people it was opened for, for good."""
    if access.room.kind == Room.Kind.DM:
        raise Forbidden(DM_MEMBERS_FIXED)
    return access


def require_join(access: RoomAccess) -> RoomAccess:
    """Public rooms are joined freely (but not by the banned); private ones by invitation;
    direct conversations by nobody."""
    require_see(access)
    if access.room.is_private and not access.is_member:
        raise NotFound(NO_SUCH_ROOM)
    require_change_members(access)
    if access.banned:
        raise Forbidden("You are banned from this room.")
    return access


# --- by slug, for the transports ---------------------------------------------------------------


def access_by_slug(*, slug: str, user: AbstractBaseUser) -> RoomAccess:
    """The room, annotated as the serializers show it, and the user's standing in it: one query.

    A socket's connect and every REST call by slug pay for this once, so the room and the
    membership, ban and mute are read together instead of in two round trips."""
    from chat.selectors import room_queryset_for  # the annotated room the serializers show

    if not user.is_authenticated:
        room = room_queryset_for(user=user).filter(slug=slug).first()
        if room is None:
            raise NotFound(NO_SUCH_ROOM)
        return access_get(room=room, user=user)
    row = _ACCESS_BY_SLUG.run(slug=slug, user_id=user.pk)
    if row is None:
        raise NotFound(NO_SUCH_ROOM)
    room = Room.from_db(_ACCESS_BY_SLUG.db, _ROOM_FIELDS, [row[name] for name in _ROOM_FIELDS])
    room.created_by = user_model().from_db(
        _ACCESS_BY_SLUG.db, ["id", "username"], [room.created_by_id, row["created_by_username"]]
    )
    room.member_count = row["member_count"] or 0
    room.my_role, room.my_last_read = row["my_role"], row["my_last_read"]
    room.my_username = user.get_username()  # as room_queryset_for: a DM is named by the others
    return RoomAccess(room, user, row["my_role"], bool(row["banned"]), row["muted_until"])


class PreparedValues:
    """A values() queryset compiled once per process and run again with other parameters.

    Compiling a query with five subqueries costs Django's ORM several milliseconds of CPU,
    40% of a socket's connect, while the database answers it in 0.1 ms; the SQL is the same
    every time but for the slug and the user. So it is compiled once, for marker values, and
    run with the markers replaced; Django's own converters, also looked up once, still turn
    each column into its Python value."""

    SLUG, USER_ID = "\x00prepared-slug", -8_675_309  # markers no real slug or id can be

    def __init__(self, build) -> None:
        self.build = build  # (slug, user_id) -> the values() queryset
        self.db = "default"
        self._compiled: tuple | None = None

    def _compile(self):
        queryset = self.build(self.SLUG, self.USER_ID)
        self.db = queryset.db
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        query = queryset.query
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        # What results_iter() would look up again for every row: each column's converters.
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        assert not compiler.has_composite_fields(fields), "composite keys are not converted here"
        self._compiled = (compiler, sql, tuple(params), names, converters)
        return self._compiled

    def run(self, *, slug: str, user_id: int) -> dict | None:
        compiler, sql, params, names, converters = self._compiled or self._compile()
        values = {self.SLUG: slug, self.USER_ID: user_id}
        params = [values.get(p, p) if isinstance(p, (str, int)) else p for p in params]
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchmany(1)
        if not rows:
            return None
        row = next(compiler.apply_converters(rows, converters)) if converters else rows[0]
        return dict(zip(names, row, strict=True))


def _access_values(slug: str, user_id: int):
    mine = Membership.objects.filter(room=OuterRef("pk"), user_id=user_id)
    members = Membership.objects.filter(room=OuterRef("pk")).order_by().values("room")
    return Room.objects.filter(slug=slug).values(
        *_ROOM_FIELDS,
        created_by_username=F("created_by__username"),
        member_count=Subquery(members.annotate(n=Count("pk")).values("n")[:1]),
        my_role=Subquery(mine.values("role")[:1]),
        my_last_read=Subquery(mine.values("last_read_seq")[:1]),
        banned=Exists(RoomBan.objects.filter(room=OuterRef("pk"), user_id=user_id)),
        # The latest end of a mute: RoomAccess.muted compares it with the time of asking.
        muted_until=Subquery(
            RoomMute.objects.filter(room=OuterRef("pk"), user_id=user_id)
            .order_by("-until")
            .values("until")[:1]
        ),
    )


_ROOM_FIELDS = [field.attname for field in Room._meta.concrete_fields]
_ACCESS_BY_SLUG = PreparedValues(_access_values)


def room_to_see(*, slug: str, user: AbstractBaseUser) -> Room:
    """The room's metadata (detail, join, the page's title)."""
    return require_see(access_by_slug(slug=slug, user=user)).room


def room_to_read(*, slug: str, user: AbstractBaseUser) -> Room:
    """History, notes, members, sockets and streams."""
    return require_read(access_by_slug(slug=slug, user=user)).room


def room_to_post(*, slug: str, user: AbstractBaseUser) -> Room:
    return require_post(access_by_slug(slug=slug, user=user)).room


def room_to_moderate(*, slug: str, user: AbstractBaseUser) -> Room:
    return require_moderate(access_by_slug(slug=slug, user=user)).room


def readable_rooms(*, user: AbstractBaseUser):
    """Every room `user` may read now, as a queryset (search across rooms): require_read in
    one query. tests/chat/test_search.py checks that it agrees with require_read case by case."""
    if not user.is_authenticated or not user.is_active:
        return Room.objects.none()
    member = Exists(Membership.objects.filter(room=OuterRef("pk"), user=user))
    banned = Exists(RoomBan.objects.filter(room=OuterRef("pk"), user=user))
    return Room.objects.filter(Q(is_private=False) | Q(member)).exclude(banned)


def still_reads(*, room: Room, user: AbstractBaseUser) -> bool:
    """Whether an open stream may go on (re-checked when something about the user changed)."""
    try:
        require_read(access_get(room=room, user=user))
    except (NotFound, Forbidden):
        return False
    return True
