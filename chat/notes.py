"""Room notes: a Yjs document per room, stored as a snapshot plus the updates since.

Writes go through `note_update_append` (and the version helpers), which store an update before
it is broadcast, exactly like chat messages.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from pycrdt import Doc, Text, merge_updates

from chat import policy
from chat.models import NoteUpdate, NoteVersion, Room, RoomNote
from realtime.broadcast import control_event, control_on_commit
from realtime.errors import Forbidden, NotFound
from realtime.groups import notes_group

COMPACT_AFTER = 200  # updates; then they are merged into the snapshot


def note_state(*, room: Room) -> bytes:
    """The whole document as one Yjs update (snapshot merged with every stored update)."""
    note = RoomNote.objects.filter(room=room).first()
    parts = [bytes(note.snapshot)] if note and note.snapshot else []
    parts += [bytes(d) for d in NoteUpdate.objects.filter(room=room).values_list("data", flat=True)]
    if not parts:
        return b""
    return merge_updates(*parts) if len(parts) > 1 else parts[0]


def doc_from_state(state: bytes) -> tuple[Doc, Text]:
    doc = Doc()
    text = doc.get("notes", type=Text)
    if state:
        doc.apply_update(state)
    return doc, text


def note_text(*, room: Room) -> dict:
    """{"text", "updated_at", "updated_by"} for the REST API and clients without Yjs."""
    _, text = doc_from_state(note_state(room=room))
    note = RoomNote.objects.select_related("updated_by").filter(room=room).first()
    return {
        "text": str(text),
        "updated_at": note.updated_at if note else None,
        "updated_by": (
            {"id": note.updated_by.pk, "username": note.updated_by.get_username()}
            if note and note.updated_by
            else None
        ),
    }


def note_may_write(*, room: Room, user: AbstractBaseUser) -> bool:
    """Members change the notes; visitors, the banned and muted, and archived rooms only read."""
    try:
        policy.require_write_notes(policy.access_get(room=room, user=user))
    except (Forbidden, NotFound):
        return False
    return True


@transaction.atomic
def note_update_append(*, room: Room, author: AbstractBaseUser, update: bytes, origin: str) -> bool:
    """Store one update, then send it to every notes socket of the room (not `origin`).

    False, and nothing stored, when the author may not write (muted, or the room archived).
    """
    room = Room.objects.get(pk=room.pk)
    if not note_may_write(room=room, user=author):
        return False
    NoteUpdate.objects.create(room=room, data=update, author=author)
    RoomNote.objects.update_or_create(
        room=room, defaults={"updated_at": timezone.now(), "updated_by": author}
    )
    control_on_commit(
        control_event(notes_group(room.pk), "hub.notes", kind="update", data=update, origin=origin)
    )
    if NoteUpdate.objects.filter(room=room).count() > COMPACT_AFTER:
        note_compact(room=room)
    return True


def note_compact(*, room: Room) -> None:
    """Fold the stored updates into the snapshot (the document is unchanged)."""
    with transaction.atomic():
        note, _ = RoomNote.objects.select_for_update().get_or_create(room=room)
        upto = NoteUpdate.objects.filter(room=room).aggregate(m=Max("id"))["m"]
        if upto is None:
            return
        updates = NoteUpdate.objects.filter(room=room, id__lte=upto)
        parts = ([bytes(note.snapshot)] if note.snapshot else []) + [
            bytes(d) for d in updates.values_list("data", flat=True)
        ]
        note.snapshot = merge_updates(*parts)
        note.save(update_fields=["snapshot"])
        updates.delete()


def note_version_create(*, room: Room, actor: AbstractBaseUser, name: str) -> NoteVersion:
    policy.require_own(policy.access_get(room=room, user=actor))
    state = note_state(room=room)
    _, text = doc_from_state(state)
    return NoteVersion.objects.create(
        room=room, name=name, state=state, text=str(text), created_by=actor
    )


def note_version_restore(*, room: Room, actor: AbstractBaseUser, version_id: int) -> NoteVersion:
    """Make the notes read as the version did: an ordinary update, so every editor converges."""
    policy.require_own(policy.access_get(room=room, user=actor))
    version = NoteVersion.objects.filter(room=room, pk=version_id).first()
    if version is None:
        raise NotFound("No such version.")
    doc, text = doc_from_state(note_state(room=room))
    before = doc.get_state()
    with doc.transaction():
        del text[:]
        text += version.text
    note_update_append(room=room, author=actor, update=doc.get_update(before), origin="restore")
    version.restored_at = timezone.now()
    version.save(update_fields=["restored_at"])
    return version
