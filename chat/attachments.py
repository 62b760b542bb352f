"""Attachments (CONTRACT.md §9): uploads, their type and thumbnail, downloads and cleanup.

An upload is checked against the room's "post" policy, counted by the one rate limiter, typed
from its content (never from the name or the client's Content-Type), stored under a random key
through Django's storage API, and, if it is an image, given a thumbnail that Pillow makes
(EXIF orientation applied, metadata stripped, decompression bombs refused). A JPEG or PNG is
stored without its metadata (where it was taken, the camera, comments), pixels untouched. It
joins a message
in the message's transaction (`attachments_attach`, called by services.message_create), and it
goes when its message is deleted or, unused, after a grace period (`attachments_cleanup`).
"""

import io
import logging
import mimetypes
import os
import unicodedata
import uuid
import warnings
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from PIL import Image, ImageOps, UnidentifiedImageError

from chat import policy
from chat.models import Attachment, Message, Room
from realtime.errors import DomainError, Invalid, NotFound
from realtime.quotas import require_rate_sync

logger = logging.getLogger(__name__)

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_NAME_CHARS = 120
SNIFF_BYTES = 8192


class UnsupportedType(DomainError):
    code = "unsupported_type"
    status = 415


# --- names and types ---------------------------------------------------------------------------


def clean_name(raw: str) -> str:
    """A display name safe anywhere: no path parts, no control characters, at most 120 chars."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # "../../etc/passwd" -> "passwd"
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    try:
        name = get_valid_filename(name)
    except Exception:  # Django refuses names that are empty or only dots
        name = ""
    name = name.lstrip(".") or "file"
    if len(name) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: MAX_NAME_CHARS - len(ext)] + ext
    return name


def _open_image(data: io.BytesIO) -> Image.Image | None:
    """The upload as a verified Pillow image, or None if it is not one of IMAGE_TYPES."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both are refusals.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(data)
            if image.format not in IMAGE_TYPES:
                return None
            if image.width * image.height > settings.SWITCHBOARD_MAX_IMAGE_PIXELS:
                raise Invalid("The image has too many pixels.", code="image_too_large")
            image.verify()  # checks the structure; the image must be opened again to be used
            data.seek(0)
            image = Image.open(data)
            # Only the thumbnail is drawn from the pixels: a JPEG decodes at a reduced scale,
            # so a 40 MP photo does not take 160 MB to shrink.
            size = settings.SWITCHBOARD_THUMBNAIL_SIZE
            image.draft("RGB", (size * 2, size * 2))
            image.load()
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("The image has too many pixels.", code="image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None


def _sniff(head: bytes, name: str) -> str | None:
    """The type of a non-image upload from its first bytes (PDF, ZIP, UTF-8 text)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a character cut at the end of the sample is fine
            return None
    guessed = mimetypes.guess_type(name)[0] or ""
    return guessed if guessed in {"text/csv", "text/markdown"} else "text/plain"


def detect_type(upload: UploadedFile, name: str) -> tuple[str, Image.Image | None]:
    """(content type, image or None), from the content; refused if not an allowed type."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    image = None
    if head[:4] in (b"\x89PNG", b"GIF8", b"RIFF") or head[:3] == b"\xff\xd8\xff":
        upload.seek(0)
        image = _open_image(io.BytesIO(upload.read()))
    content_type = IMAGE_TYPES[image.format] if image is not None else _sniff(head, name)
    if content_type is None or content_type not in settings.SWITCHBOARD_UPLOAD_TYPES:
        allowed = ", ".join(settings.SWITCHBOARD_UPLOAD_TYPES)
        raise UnsupportedType(f"This type of file cannot be shared here. Allowed: {allowed}.")
    return content_type, image


def make_thumbnail(image: Image.Image) -> bytes:
    """A WebP at most SWITCHBOARD_THUMBNAIL_SIZE on its longer side, upright, with no metadata."""
    image = ImageOps.exif_transpose(image)  # a copy, turned as the camera was held
    image.thumbnail((settings.SWITCHBOARD_THUMBNAIL_SIZE,) * 2)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    pixels = image.convert(mode)
    out = io.BytesIO()
    # Saved from the pixels alone: no EXIF (location, camera), no ICC or text chunks carried on.
    pixels.save(out, format="WEBP", quality=80)
    return out.getvalue()


# JPEG segments that describe the picture rather than draw it: APP1 (EXIF, XMP), APP13 (IPTC)
# and comments (APP2 is kept when it is an ICC colour profile). PNG chunks of the same kind.
JPEG_METADATA = {0xE1, 0xED, 0xFE}
PNG_METADATA = {b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"tIME"}
WEBP_METADATA = {b"EXIF", b"XMP "}
WEBP_METADATA_FLAGS = 0x08 | 0x04  # VP8X's "has EXIF" and "has XMP" bits
GIF_KEPT_APPLICATIONS = {b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"}  # looping, colours
ORIENTATION = 0x0112


def without_metadata(data: bytes, image_format: str) -> bytes:
    """An image file without its metadata (a phone photo's EXIF says where it was taken), the
    picture's own bytes unchanged: JPEG, PNG and WebP lose their EXIF and XMP (and JPEG and PNG
    their comments and text), GIF its comments and XMP but not its looping. A JPEG keeps its
    orientation, so it is still shown upright. Whatever follows the picture (a phone's second
    image or motion clip) is dropped. A file whose structure the parser does not follow is
    drawn again from its pixels instead: never stored with what it carried."""
    strip = {"JPEG": _jpeg_without_metadata, "PNG": _png_without_metadata,
             "WEBP": _webp_without_metadata, "GIF": _gif_without_metadata}  # fmt: skip
    try:
        return strip[image_format](data)
    except Exception:
        logger.info("re-encoding a %s upload to strip its metadata", image_format, exc_info=True)
        return _reencoded(data, image_format)


def _jpeg_without_metadata(data: bytes) -> bytes:
    orientation = Image.open(io.BytesIO(data)).getexif().get(ORIENTATION)
    kept, pos = [], 2  # after SOI
    while True:
        while pos < len(data) and data[pos] != 0xFF:
            pos += 1  # a stray byte between segments, which decoders skip too
        while data[pos + 1 : pos + 2] == b"\xff":
            pos += 1  # fill bytes before a marker
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # the picture (start of scan) or, oddly, its end
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > len(data):
            raise ValueError("a JPEG segment runs past the end of the file")
        segment = data[pos:end]
        if marker not in JPEG_METADATA and not (marker == 0xE2 and segment[4:8] == b"MPF\x00"):
            kept.append(segment)
        pos = end
    if isinstance(orientation, int) and 2 <= orientation <= 8:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        payload = exif.tobytes()
        at = 1 if kept and kept[0][1] == 0xE0 else 0  # after JFIF's APP0, which comes first
        kept.insert(at, b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload)
    return data[:2] + b"".join(kept) + data[pos : _jpeg_end(data, pos)]


def _jpeg_end(data: bytes, pos: int) -> int:
    """Where the picture that starts at `pos` ends (after its EOI marker). In the scans' data a
    0xFF is followed by 0x00 or a restart marker; anything else is a segment between scans
    (tables, the next scan's header), skipped by its length, or the end."""
    while True:
        pos = data.index(b"\xff", pos)
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0x00 or marker == 0xFF or 0xD0 <= marker <= 0xD7:
            pos += 1
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


def _png_without_metadata(data: bytes) -> bytes:
    kept, pos = [data[:8]], 8  # after the signature
    while True:
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")  # length, type, data, CRC
        if len(kind) < 4 or end > len(data):
            raise ValueError("a PNG chunk runs past the end of the file")
        if kind not in PNG_METADATA:
            kept.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(kept)  # and nothing that was appended after it
        pos = end


def _webp_without_metadata(data: bytes) -> bytes:
    """RIFF chunks (a four-letter kind, a little-endian length, the data padded to even): the
    EXIF and XMP chunks dropped, their flags cleared in VP8X, the RIFF length made right."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a RIFF WebP file")
    kept, pos, end_of_riff = [], 12, 8 + int.from_bytes(data[4:8], "little")
    if end_of_riff > len(data):
        raise ValueError("the RIFF length runs past the end of the file")
    while pos < end_of_riff:
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)
        if len(kind) < 4 or end > end_of_riff:
            raise ValueError("a WebP chunk runs past the end of the file")
        chunk = data[pos:end]
        if kind == b"VP8X":
            chunk = chunk[:8] + bytes([chunk[8] & ~WEBP_METADATA_FLAGS & 0xFF]) + chunk[9:]
        if kind not in WEBP_METADATA:
            kept.append(chunk)
        pos = end
    body = b"WEBP" + b"".join(kept)  # and nothing appended after the RIFF
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _gif_without_metadata(data: bytes) -> bytes:
    """GIF blocks: comment extensions, and application extensions other than looping and the
    colour profile (XMP, for one), dropped; the frames and their timing kept; whatever follows
    the trailer dropped, and a missing trailer added."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("not a GIF file")
    flags = data[10]
    pos = 13 + ((3 << ((flags & 0x07) + 1)) if flags & 0x80 else 0)  # header, screen, colours
    kept = [data[:pos]]
    while True:
        if pos == len(data):  # no trailer, as some writers leave it: the decoders do without
            return b"".join(kept) + b"\x3b"
        start, label = pos, data[pos]
        if label == 0x3B:  # the trailer
            return b"".join(kept) + b"\x3b"
        if label == 0x2C:  # an image: its descriptor, local colours, LZW size, data blocks
            local = data[pos + 9]
            pos += 10 + ((3 << ((local & 0x07) + 1)) if local & 0x80 else 0) + 1
            pos = _gif_sub_blocks_end(data, pos)
            kept.append(data[start:pos])
        elif label == 0x21:  # an extension: its label, then data blocks
            kind = data[pos + 1]
            pos = _gif_sub_blocks_end(data, pos + 2)
            application = data[start + 3 : start + 14] if kind == 0xFF else None
            if kind != 0xFE and (application is None or application in GIF_KEPT_APPLICATIONS):
                kept.append(data[start:pos])
        else:
            raise ValueError(f"an unknown GIF block {label:#x}")


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    """Where the data sub-blocks that start at `pos` end (after their empty block)."""
    while (size := data[pos]) != 0:
        pos += 1 + size
    return pos + 1


def _reencoded(data: bytes, image_format: str) -> bytes:
    """The picture drawn again by Pillow: upright, with its colour profile and transparency,
    every frame of an animation with its timing and looping, and nothing else it carried."""
    image = Image.open(io.BytesIO(data))
    kept = ("icc_profile", "transparency", "duration", "loop", "background")
    options = {key: image.info[key] for key in kept if key in image.info}
    if getattr(image, "is_animated", False):
        options["save_all"] = True  # (an animation's orientation tag means nothing to browsers)
    else:
        image = ImageOps.exif_transpose(image)
    if image_format in ("JPEG", "GIF"):
        options["comment"] = b""  # else Pillow writes the one it read back out
    if image_format == "JPEG":
        options["quality"] = 95
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


# --- the services ------------------------------------------------------------------------------


def attachment_create(
    *, room: Room, uploader: AbstractBaseUser, upload: UploadedFile
) -> Attachment:
    """Store an upload to `room` for `uploader` to attach to a message they send there."""
    policy.require_post(policy.access_get(room=room, user=uploader))
    require_rate_sync(settings.SWITCHBOARD_UPLOAD_RATE, "upload", str(uploader.pk),
                      detail="Too many uploads.")  # fmt: skip
    if upload.size > settings.SWITCHBOARD_MAX_UPLOAD_BYTES:
        from realtime.parsers import too_large

        raise too_large(settings.SWITCHBOARD_MAX_UPLOAD_BYTES)
    if upload.size == 0:
        raise Invalid("The file is empty.", code="empty_file")
    name = clean_name(upload.name or "")
    content_type, image = detect_type(upload, name)
    thumbnail = make_thumbnail(image) if image is not None else None
    key = f"attachments/{room.pk}/{uuid.uuid4().hex}"
    storage = Attachment.file.field.storage
    upload.seek(0)
    if image is not None:
        upload = ContentFile(without_metadata(upload.read(), image.format))
    stored = storage.save(key, upload)
    thumb_stored = storage.save(f"{key}-thumb.webp", ContentFile(thumbnail)) if thumbnail else ""
    try:
        return Attachment.objects.create(
            room=room, uploader=uploader, name=name, size=upload.size,
            content_type=content_type, file=stored, thumbnail=thumb_stored,
        )  # fmt: skip
    except Exception:
        _delete_files([stored, thumb_stored])
        raise


def attachments_attach(*, message: Message, ids: list[int]) -> list[Attachment]:
    """Join uploads to a new message, inside its transaction: each must be the author's, to the
    same room, and unused. One UPDATE decides, so two sends racing for one upload cannot both
    take it; a refusal raises Invalid and the caller's transaction (the message) rolls back."""
    if not ids:
        return []
    wanted = set(ids)
    if len(wanted) > settings.SWITCHBOARD_MAX_ATTACHMENTS_PER_MESSAGE:
        limit = settings.SWITCHBOARD_MAX_ATTACHMENTS_PER_MESSAGE
        raise Invalid(f"attachments: at most {limit} per message.")
    taken = Attachment.objects.filter(
        pk__in=wanted, room_id=message.room_id, uploader_id=message.author_id, message=None
    ).update(message=message)
    if taken != len(wanted):
        raise Invalid(
            "attachments: each must be an upload of yours to this room, not used by another "
            "message."
        )
    return list(Attachment.objects.filter(message=message))


def attachments_remove_for(*, message: Message) -> None:
    """A deleted message's files go with it (their rows now, their stored files after commit)."""
    _remove(Attachment.objects.filter(message=message))


def attachment_remove(*, attachment: Attachment, actor: AbstractBaseUser) -> None:
    """Remove one attachment (admin): a used one by deleting its message, audited, so the room
    is told; an unused one directly."""
    from chat import services

    if attachment.message_id is not None:
        services.message_delete(room=attachment.room, actor=actor, message_id=attachment.message_id)
    else:
        _remove(Attachment.objects.filter(pk=attachment.pk))


def attachments_cleanup(*, older_than: timedelta | None = None) -> int:
    """Remove uploads no message used within the grace period; returns how many went."""
    if older_than is None:
        older_than = timedelta(seconds=settings.SWITCHBOARD_ATTACHMENT_GRACE_SECONDS)
    stale = Attachment.objects.filter(message=None, created_at__lt=timezone.now() - older_than)
    return _remove(stale)


async def run_cleanup() -> None:
    """A task of the server process (SWITCHBOARD_SERVER_TASKS): `attachments_cleanup` every
    SWITCHBOARD_ATTACHMENT_CLEANUP_INTERVAL seconds. Several processes may run it: removing is
    idempotent. Deployments that serve with plain Daphne run the management command from cron."""
    import asyncio
    import random

    from asgiref.sync import sync_to_async

    interval = settings.SWITCHBOARD_ATTACHMENT_CLEANUP_INTERVAL
    if interval <= 0:
        return
    while True:
        # Jittered, so the processes of one deployment do not all sweep at once.
        await asyncio.sleep(interval * random.uniform(0.5, 1.0))  # the period, with jitter
        try:
            removed = await sync_to_async(attachments_cleanup)()
            if removed:
                logger.info("unused uploads removed", extra={"count": removed})
        except Exception:  # a database outage skips one sweep; the next one retries
            logger.exception("attachment cleanup failed")


def _remove(queryset) -> int:
    with transaction.atomic():
        rows = list(queryset.select_for_update().values_list("pk", "file", "thumbnail"))
        Attachment.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        names = [name for _, file, thumb in rows for name in (file, thumb) if name]
        # The files go once the rows are gone for good: a rollback keeps both.
        transaction.on_commit(lambda: _delete_files(names))
    return len(rows)


def _delete_files(names: list[str]) -> None:
    storage = Attachment.file.field.storage
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:  # a storage outage leaves an orphan file, never a half-done request
            logger.exception("attachment file not deleted", extra={"name": name})


# --- reads -------------------------------------------------------------------------------------


def attachment_for_download(*, slug: str, user: AbstractBaseUser, attachment_id: int) -> Attachment:
    """An attachment its caller may fetch now: the room readable (chat.policy, on every request)
    and the attachment on a live message, or the caller's own upload not yet sent. Anything
    else is NotFound, even a ban (403 elsewhere): a file's existence is not revealed."""
    try:
        room = policy.room_to_read(slug=slug, user=user)
    except DomainError:
        raise NotFound("No such file.") from None
    attachment = (
        Attachment.objects.select_related("message").filter(pk=attachment_id, room=room).first()
    )
    if attachment is None:
        raise NotFound("No such file.")
    if attachment.message is None and attachment.uploader_id != user.pk:
        raise NotFound("No such file.")
    if attachment.message is not None and attachment.message.deleted:
        raise NotFound("No such file.")
    return attachment


def attachment_data(attachment: Attachment, *, slug: str) -> dict[str, Any]:
    """The contract's attachment object."""
    url = f"/api/rooms/{slug}/attachments/{attachment.pk}/"
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": url,
        "thumbnail_url": url + "thumbnail/" if attachment.thumbnail else None,
    }
