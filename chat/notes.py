"""Room notes: a Yjs document per room, stored as a snapshot plus the updates since.

Writes go through `note_update_append` (and the version helpers): an update is applied to a copy
of the document first, so one that does not apply, or that would take the notes over
SWITCHBOARD_MAX_NOTE_BYTES, is refused and never stored; one that passes is stored before it is
broadcast, exactly like chat messages. A stored part that fails to load anyway (written before
these checks, or by hand) is quarantined (`NoteQuarantine`) and the notes load from the rest.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from pycrdt import Doc, Text, merge_updates

from chat import policy
from chat.models import NoteQuarantine, NoteUpdate, NoteVersion, Room, RoomNote
from realtime.broadcast import control_event, control_on_commit
from realtime.errors import Forbidden, Invalid, NotFound
from realtime.groups import notes_group

logger = logging.getLogger(__name__)

COMPACT_AFTER = 200  # updates; then they are folded into the snapshot


class BrokenUpdate(Exception):
    """A Yjs update that does not apply to the document it was given."""


def update_apply(doc: Doc, update: bytes) -> None:
    """Apply `update` to `doc`, or raise BrokenUpdate.

    yrs reports most malformed updates as ValueError, but some panic (pyo3's PanicException, a
    BaseException) half-way through integrating: a doc that raised must be thrown away.
    """
    if _claimed_clients(update) > len(update):
        # yrs reserves room for the clients an update claims before reading them: a few bytes
        # claiming 2**28 of them cost half a GiB and most of a second.
        raise BrokenUpdate("the update claims more clients than it has bytes")
    with yrs_failures():
        doc.apply_update(update)


@contextmanager
def yrs_failures() -> Iterator[None]:
    """Turn whatever yrs raises inside the block, its panics included, into BrokenUpdate."""
    try:
        yield
    except BrokenUpdate:
        raise
    except Exception as error:
        raise BrokenUpdate(str(error)[:200]) from error
    except BaseException as error:
        if not is_panic(error):
            raise
        raise BrokenUpdate(f"panic: {str(error)[:180]}") from error


def _claimed_clients(update: bytes) -> int:
    """The leading varuint of a Yjs v1 update: how many clients' structs follow."""
    value = shift = 0
    for byte in update[:10]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return value


def is_panic(error: BaseException) -> bool:
    """A panic inside yrs, which pyo3 raises as pyo3_runtime.PanicException (not importable)."""
    return type(error).__name__ == "PanicException"


def doc_from_state(state: bytes) -> tuple[Doc, Text]:
    """A Doc holding `state` (which must apply: see `note_state`) and its `notes` text."""
    doc = Doc()
    text = doc.get("notes", type=Text)
    if state:
        update_apply(doc, state)
    return doc, text


def _merge(parts: list[bytes]) -> bytes:
    if not parts:
        return b""
    return merge_updates(*parts) if len(parts) > 1 else parts[0]


def _stored_parts(room: Room) -> list[bytes]:
    note = RoomNote.objects.filter(room=room).only("snapshot").first()
    parts = [bytes(note.snapshot)] if note and note.snapshot else []
    parts += [bytes(d) for d in NoteUpdate.objects.filter(room=room).values_list("data", flat=True)]
    return parts


def note_state(*, room: Room) -> bytes:
    """The whole document as one Yjs update, proven to load: the snapshot merged with every
    stored update, once any part that does not load has been quarantined."""
    return _note_load(room)[0]


def note_doc(*, room: Room) -> tuple[Doc, Text]:
    """The document loaded (what does not load is quarantined first) and its `notes` text."""
    _, doc = _note_load(room)
    return doc, doc.get("notes", type=Text)


def _note_load(room: Room) -> tuple[bytes, Doc]:
    try:
        state = _merge(_stored_parts(room))
        doc, _ = doc_from_state(state)
    except (BrokenUpdate, ValueError):  # merge_updates says ValueError
        state = note_quarantine(room=room)
        doc, _ = doc_from_state(state)
    return state, doc


@transaction.atomic
def note_quarantine(*, room: Room) -> bytes:
    """Set aside every stored part of the notes that does not load, log each with an error, and
    return the state of the rest. Parts are tried in the order they were stored."""
    note, _ = RoomNote.objects.select_for_update().get_or_create(room=room)
    good: list[bytes] = []
    doc = Doc()

    def set_aside(data: bytes, source: str, error: BrokenUpdate, **origin) -> None:
        nonlocal doc
        NoteQuarantine.objects.create(
            room=room, source=source, data=data, error=str(error)[:300], **origin
        )
        logger.error(
            "notes of room %s: quarantined a stored %s of %d bytes that does not load (%s)",
            room.pk, source, len(data), error,
        )  # fmt: skip
        doc, _ = doc_from_state(_merge(good))  # a panic may have left it half-changed

    if note.snapshot:
        snapshot = bytes(note.snapshot)
        try:
            update_apply(doc, snapshot)
            good.append(snapshot)
        except BrokenUpdate as error:
            set_aside(snapshot, NoteQuarantine.Source.SNAPSHOT, error)
            note.snapshot = b""
            note.save(update_fields=["snapshot"])
    for row in NoteUpdate.objects.filter(room=room).order_by("id"):
        data = bytes(row.data)
        try:
            update_apply(doc, data)
            good.append(data)
        except BrokenUpdate as error:
            set_aside(
                data, NoteQuarantine.Source.UPDATE, error,
                author_id=row.author_id, stored_at=row.created_at,
            )  # fmt: skip
            row.delete()
    try:
        state = _merge(good)
        doc_from_state(state)
    except (BrokenUpdate, ValueError):
        # Each part loads in turn but their merge does not: keep what the document holds.
        logger.error("notes of room %s: the loadable parts do not merge; compacting", room.pk)
        state = doc.get_update()
        note.snapshot = state
        note.save(update_fields=["snapshot"])
        NoteUpdate.objects.filter(room=room).delete()
    return state


def note_text(*, room: Room) -> dict:
    """{"text", "updated_at", "updated_by"} for the REST API and clients without Yjs."""
    _, text = note_doc(room=room)
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

    False, and nothing stored, when the author may not write (chat.policy: a visitor, banned,
    muted, or the room archived). Raises Invalid, nothing stored, for an update that does not
    apply to the notes (`invalid_update`) or that would take them over
    SWITCHBOARD_MAX_NOTE_BYTES (`note_too_large`; one that shrinks them is always taken).
    """
    room = Room.objects.get(pk=room.pk)
    if not note_may_write(room=room, user=author):
        return False
    # One writer per room at a time: the size check below sees every update committed before.
    RoomNote.objects.select_for_update().get_or_create(room=room)
    state, doc = _note_load(room)
    size_before = len(doc.get_update())
    try:
        update_apply(doc, update)
        with yrs_failures():  # the copy must read and encode as well
            str(doc.get("notes", type=Text))
            size_after = len(doc.get_update())
    except BrokenUpdate as error:
        raise Invalid(
            f"This update does not apply to the notes ({error}).", code="invalid_update"
        ) from error
    limit = settings.SWITCHBOARD_MAX_NOTE_BYTES
    if size_after > limit and size_after > size_before:
        raise Invalid(
            f"The notes would exceed their size limit of {limit} bytes.", code="note_too_large"
        )
    NoteUpdate.objects.create(room=room, data=update, author=author)
    RoomNote.objects.filter(room=room).update(updated_at=timezone.now(), updated_by=author)
    control_on_commit(
        control_event(notes_group(room.pk), "hub.notes", kind="update", data=update, origin=origin)
    )
    # Stored bytes stay bounded: deleted text and updates still waiting for what they depend on
    # are kept by merging, and dropped by compaction (the document as it reads).
    if (
        NoteUpdate.objects.filter(room=room).count() > COMPACT_AFTER
        or len(state) + len(update) > 2 * limit
    ):
        note_compact(room=room)
    return True


def note_compact(*, room: Room) -> None:
    """Replace the snapshot and the stored updates by the document as it reads (its text is
    unchanged; deleted content and updates still missing what they build on are dropped, and
    the author's client sends the latter again when it next syncs)."""
    with transaction.atomic():
        note, _ = RoomNote.objects.select_for_update().get_or_create(room=room)
        doc, _ = note_doc(room=room)
        note.snapshot = doc.get_update()
        note.save(update_fields=["snapshot"])
        NoteUpdate.objects.filter(room=room).delete()


def note_version_create(*, room: Room, actor: AbstractBaseUser, name: str) -> NoteVersion:
    policy.require_own(policy.access_get(room=room, user=actor))
    state, doc = _note_load(room)
    return NoteVersion.objects.create(
        room=room, name=name, state=state, text=str(doc.get("notes", type=Text)), created_by=actor
    )


def note_version_restore(*, room: Room, actor: AbstractBaseUser, version_id: int) -> NoteVersion:
    """Make the notes read as the version did: an ordinary update, so every editor converges."""
    access = policy.require_own(policy.access_get(room=room, user=actor))
    policy.require_write_notes(access)  # not in an archived room, nor while muted
    version = NoteVersion.objects.filter(room=room, pk=version_id).first()
    if version is None:
        raise NotFound("No such version.")
    doc, text = note_doc(room=room)
    before = doc.get_state()
    with doc.transaction():
        del text[:]
        text += version.text
    note_update_append(room=room, author=actor, update=doc.get_update(before), origin="restore")
    version.restored_at = timezone.now()
    version.save(update_fields=["restored_at"])
    return version
