"""Attachments (CONTRACT.md §9): upload, type and size limits, names, thumbnails, attaching to a
message, downloads checked against room access on every request, and cleanup."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from PIL import Image, PngImagePlugin
from rest_framework.test import APIClient

from chat import services
from chat.attachments import clean_name
from chat.models import Attachment
from tests.chat.test_consumers import join, next_frame, send
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(media_root):
    """Where this test's uploads are stored (tests/conftest.py gives each test its own)."""
    from pathlib import Path

    return Path(media_root)


@pytest.fixture
def room(user, other):
    room = make_room(creator=user, name="Team", slug="team", is_private=True)
    services.member_add(room=room, actor=user, user=other)
    return room


def png(size=(64, 32), color=(200, 30, 30), *, exif_orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif_orientation is None:
        image.save(out, format="PNG")
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # Orientation
        exif[0x010F] = "SecretCam"  # Make: metadata a thumbnail must not carry
        image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(client, name: str, data: bytes, content_type="application/octet-stream", slug="team"):
    return client.post(
        f"/api/rooms/{slug}/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- upload -----------------------------------------------------------------------------------


def test_image_upload_gets_a_thumbnail_and_a_pdf_does_not(api, room, media):
    image = upload(api, "cat.png", png(), "image/png")
    assert image.status_code == 201, image.content
    data = image.json()
    assert set(data) == {"id", "name", "size", "content_type", "url", "thumbnail_url"}
    assert data["name"] == "cat.png" and data["content_type"] == "image/png"
    assert data["size"] == len(png())
    assert data["url"] == f"/api/rooms/team/attachments/{data['id']}/"
    assert data["thumbnail_url"] == data["url"] + "thumbnail/"

    pdf = upload(api, "report.pdf", PDF, "application/pdf").json()
    assert pdf["content_type"] == "application/pdf" and pdf["thumbnail_url"] is None
    # Stored under a random key, never the user's name.
    stored = {p.name for p in media.rglob("*") if p.is_file()}
    assert not any("cat" in name or "report" in name for name in stored)
    assert len(stored) == 3  # the image, its thumbnail, the pdf


def test_thumbnail_is_upright_small_and_without_metadata(api, room):
    # Orientation 6: the camera was turned; the picture is shown rotated 90 degrees.
    data = upload(api, "photo.jpg", png((800, 200), exif_orientation=6), "image/jpeg").json()
    response = api.get(data["thumbnail_url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    thumb = Image.open(io.BytesIO(body_of(response)))
    assert thumb.height > thumb.width  # turned upright
    assert max(thumb.size) <= 480
    assert not thumb.getexif() and "exif" not in thumb.info


def photo_with_location() -> bytes:
    """A phone photo as phones write it: where it was taken, the camera, and turned (6)."""
    image = Image.new("RGB", (120, 40), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"at home")
    return out.getvalue()


def test_a_photo_is_stored_without_where_it_was_taken_and_still_upright(api, room):
    sent = photo_with_location()
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825)  # the test's photo has it
    data = upload(api, "photo.jpg", sent, "image/jpeg").json()
    stored = body_of(api.get(data["url"]))
    assert data["size"] == len(stored) < len(sent)
    photo = Image.open(io.BytesIO(stored))
    assert dict(photo.getexif()) == {0x0112: 6}  # the orientation alone: no camera, no place
    assert not photo.getexif().get_ifd(0x8825) and "comment" not in photo.info
    # The picture itself is the same, byte for byte (nothing was decoded and encoded again).
    assert stored[stored.index(b"\xff\xda") :] == sent[sent.index(b"\xff\xda") :]


def test_a_png_is_stored_without_its_text_and_exif_chunks(api, room):
    image = Image.new("RGB", (40, 20), (1, 2, 3))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "shot at 12 Home Street")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, exif=exif)
    data = upload(api, "shot.png", out.getvalue(), "image/png").json()
    stored = Image.open(io.BytesIO(body_of(api.get(data["url"]))))
    assert "Comment" not in stored.info and not stored.getexif()
    assert stored.tobytes() == image.tobytes()


def test_a_webp_is_stored_without_its_exif_and_xmp(api, room):
    image = Image.new("RGB", (40, 20), (1, 2, 3))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, format="WEBP", exif=exif, xmp=b"<x:xmpmeta>12 Home Street</x:xmpmeta>",
               lossless=True)  # fmt: skip
    data = upload(api, "shot.webp", out.getvalue(), "image/webp").json()
    stored_bytes = body_of(api.get(data["url"]))
    assert b"SecretCam" not in stored_bytes and b"Home Street" not in stored_bytes
    stored = Image.open(io.BytesIO(stored_bytes))
    assert not stored.getexif() and "xmp" not in stored.info
    assert stored.convert("RGB").tobytes() == image.tobytes()


def test_a_gif_keeps_its_frames_and_loop_but_not_its_comment_or_xmp(api, room):
    frames = [Image.new("RGB", (10, 10), (80 * i, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=100, comment=b"shot at 12 Home Street")  # fmt: skip
    sent = out.getvalue()
    # An XMP packet as an application extension, as editors write it, after the colour table.
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes([11]) + b"Home Street" + b"\x00"
    at = 13 + (3 << ((sent[10] & 0x07) + 1))
    sent = sent[:at] + xmp + sent[at:]
    data = upload(api, "loop.gif", sent, "image/gif").json()
    stored_bytes = body_of(api.get(data["url"]))
    assert b"Home Street" not in stored_bytes
    stored = Image.open(io.BytesIO(stored_bytes))
    assert (stored.n_frames, stored.info.get("loop"), "comment" in stored.info) == (3, 0, False)


def test_an_animation_drawn_again_keeps_every_frame_and_loses_its_comment():
    """The fallback for a file the GIF parser cannot follow (here, a block it does not know
    before the trailer) re-encodes every frame, not just the first."""
    from chat.attachments import without_metadata

    frames = [Image.new("RGB", (10, 10), (80 * i, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=100, comment=b"shot at 12 Home Street")  # fmt: skip
    odd = out.getvalue()[:-1] + b"\x99\x3b"  # an unknown block label, then the trailer
    stored = without_metadata(odd, "GIF")
    assert b"Home Street" not in stored
    image = Image.open(io.BytesIO(stored))
    assert (image.n_frames, image.info.get("loop")) == (3, 0)


@pytest.mark.parametrize("image_format", ["JPEG", "GIF"])
def test_the_fallback_drawing_carries_no_comment(image_format):
    """Pillow writes the comment it read back out unless told otherwise: the re-encoding
    for a file the parsers cannot follow must not."""
    from chat.attachments import _reencoded

    out = io.BytesIO()
    Image.new("RGB", (10, 10), (9, 9, 9)).save(out, format=image_format, comment=b"12 Home St")
    stored = _reencoded(out.getvalue(), image_format)
    assert b"Home St" not in stored and "comment" not in Image.open(io.BytesIO(stored)).info


def secret_jpeg(**exif_tags) -> bytes:
    image = Image.new("RGB", (60, 20), (200, 120, 10))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    for tag, value in exif_tags.items():
        exif[int(tag.removeprefix("tag_"))] = value
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@pytest.mark.parametrize(
    "case",
    [
        # A phone's second picture (its EXIF too) or a motion clip after the picture.
        "appended",
        # An orientation no camera writes: it was a 500, then kept nothing but the pixels.
        "odd_orientation",
        # A stray byte between two segments, which decoders skip.
        "stray_byte",
    ],
)
def test_whatever_a_jpeg_carries_its_metadata_in_none_of_it_is_stored(api, room, case):
    sent = {
        "appended": secret_jpeg() + secret_jpeg(),
        "odd_orientation": secret_jpeg(tag_274=6).replace(  # as a LONG of 70,000
            b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00",
            b"\x01\x12\x00\x04\x00\x00\x00\x01\x00\x01\x11\x70",
        ),
        "stray_byte": (lambda d: d[:20] + b"\x00" + d[20:])(secret_jpeg()),
    }[case]
    response = upload(api, "photo.jpg", sent, "image/jpeg")
    assert response.status_code == 201, response.content
    stored = body_of(api.get(response.json()["url"]))
    assert b"SecretCam" not in stored
    photo = Image.open(io.BytesIO(stored))
    assert photo.size == (60, 20) and not photo.getexif()


def test_a_png_loses_what_was_appended_after_its_end(api, room):
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    data = upload(api, "a.png", out.getvalue() + b"SecretCam was here", "image/png").json()
    assert body_of(api.get(data["url"])) == out.getvalue()


def test_an_image_with_no_metadata_is_stored_as_sent(api, room):
    plain = io.BytesIO()
    Image.new("RGB", (30, 30), (9, 9, 9)).save(plain, format="JPEG")
    data = upload(api, "plain.jpg", plain.getvalue(), "image/jpeg").json()
    assert body_of(api.get(data["url"])) == plain.getvalue()


def test_over_the_limit_is_413_with_a_reason(api, room, settings):
    settings.SWITCHBOARD_MAX_UPLOAD_BYTES = 1000
    response = upload(api, "big.txt", b"a" * 50_000, "text/plain")
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    # Within the declared envelope but over the limit: counted while streaming in.
    response = upload(api, "big.txt", b"a" * 1001, "text/plain")
    assert response.status_code == 413
    assert Attachment.objects.count() == 0


def test_a_type_outside_the_allow_list_is_refused_with_the_reason(api, room):
    response = upload(api, "tool.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(100), "image/png")
    assert response.status_code == 415
    assert "Allowed" in response.json()["detail"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    # An SVG is text as far as its content goes: stored as text/plain, never as an image.
    data = upload(api, "x.svg", svg, "image/svg+xml").json()
    assert data["content_type"] == "text/plain" and data["thumbnail_url"] is None


def test_a_file_claiming_to_be_png_that_is_not_is_not_an_image(api, room):
    fake = b"\x89PNG\r\n\x1a\n" + b"definitely not image data" * 10
    response = upload(api, "fake.png", fake, "image/png")
    assert response.status_code == 415  # not an image, and binary: not text either
    text = upload(api, "fake.png", b"just words", "image/png").json()
    assert text["content_type"] == "text/plain" and text["thumbnail_url"] is None


def test_a_decompression_bomb_is_refused(api, room, settings):
    settings.SWITCHBOARD_MAX_IMAGE_PIXELS = 100 * 100
    response = upload(api, "bomb.png", png((200, 200)), "image/png")
    assert response.status_code == 400
    assert response.json()["code"] == "image_too_large"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("résumé final.pdf", "résumé_final.pdf"),
        ("..", "file"),
        (".htaccess", "htaccess"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("名前.txt", "名前.txt"),
    ],
)
def test_names_are_sanitised(raw, expected):
    assert clean_name(raw) == expected


def test_very_long_names_are_capped_keeping_the_extension():
    name = clean_name("x" * 500 + ".pdf")
    assert len(name) == 120 and name.endswith(".pdf")


def test_the_sanitised_name_is_what_the_api_answers(api, room):
    data = upload(api, "../../etc/passwd", b"root:x:0:0", "text/plain").json()
    assert data["name"] == "passwd"


def test_who_may_upload_follows_the_post_policy(room, user, other):
    outsider = UserFactory(username="mallory")
    assert upload(client_for(outsider), "a.txt", b"hi").status_code == 404
    services.member_mute(room=room, actor=user, target=other, minutes=5)
    muted = upload(client_for(other), "a.txt", b"hi")
    assert muted.status_code == 403 and muted.json()["code"] == "muted"
    services.room_update(room=room, actor=user, is_archived=True)
    assert upload(client_for(user), "a.txt", b"hi").status_code == 403


def test_uploads_are_rate_limited_per_user(api, room, settings):
    settings.SWITCHBOARD_UPLOAD_RATE = "2/minute"
    assert upload(api, "a.txt", b"1").status_code == 201
    assert upload(api, "b.txt", b"2").status_code == 201
    refused = upload(api, "c.txt", b"3")
    assert refused.status_code == 429 and refused["Retry-After"]


def test_missing_file_field_is_a_clear_400(api, room):
    response = api.post("/api/rooms/team/attachments/", {"other": "x"}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "no_file"


# --- attaching to a message -------------------------------------------------------------------


def _send(client, body="", attachments=(), slug="team"):
    return client.post(
        f"/api/rooms/{slug}/messages/",
        {"body": body, "client_id": str(uuid.uuid4()), "attachments": list(attachments)},
        format="json",
    )


def test_a_message_carries_its_attachments_in_every_read(api, room):
    ids = [upload(api, f"f{i}.txt", b"x").json()["id"] for i in range(2)]
    sent = _send(api, "here", ids)
    assert sent.status_code == 201, sent.content
    assert [a["id"] for a in sent.json()["attachments"]] == ids
    history = api.get("/api/rooms/team/messages/").json()
    assert [a["name"] for a in history[-1]["attachments"]] == ["f0.txt", "f1.txt"]
    # A message with files may have no text; one with neither is still refused.
    image = upload(api, "p.png", png(), "image/png").json()
    only_file = _send(api, "", [image["id"]]).json()
    assert only_file["body"] == "" and only_file["attachments"][0]["thumbnail_url"]
    assert _send(api, "").json()["body"] == ["The message body is empty."]


def test_attachments_at_most_ten_own_same_room_unused(api, room, user, other):
    ids = [upload(api, f"f{i}.txt", b"x").json()["id"] for i in range(11)]
    assert _send(api, "too many", ids).status_code == 400
    # Someone else's upload.
    theirs = upload(client_for(other), "theirs.txt", b"x").json()["id"]
    refused = _send(api, "not mine", [theirs])
    assert refused.status_code == 400 and "attachments" in refused.json()["detail"]
    # An upload to another room.
    make_room(creator=user, name="Elsewhere", slug="elsewhere")
    elsewhere = upload(api, "e.txt", b"x", slug="elsewhere").json()["id"]
    assert _send(api, "wrong room", [elsewhere]).status_code == 400
    # Used once, not twice.
    assert _send(api, "first", [ids[0]]).status_code == 201
    assert _send(api, "again", [ids[0]]).status_code == 400
    # A refused send stores nothing and uses up nothing: its seq is not spent.
    last_seq = room.__class__.objects.get(pk=room.pk).last_seq
    assert _send(api, "mix", [ids[1], theirs]).status_code == 400
    assert room.__class__.objects.get(pk=room.pk).last_seq == last_seq
    assert Attachment.objects.get(pk=ids[1]).message_id is None


@pytest.mark.django_db(transaction=True)
async def test_message_send_frame_carries_attachments(layer, user, other, room):
    from asgiref.sync import sync_to_async

    uploaded = await sync_to_async(lambda: upload(client_for(user), "a.txt", b"hi"))()
    attachment_id = uploaded.json()["id"]
    mine, _ = await join(user, "team")
    theirs, _ = await join(other, "team")
    try:
        await send(mine, {"type": "message.send", "body": "see file", "client_id": "c1",
                          "attachments": [attachment_id]})  # fmt: skip
        frame = await next_frame(theirs)
        assert frame["type"] == "message"
        assert frame["message"]["attachments"][0]["id"] == attachment_id
        await send(mine, {"type": "message.send", "body": "again", "client_id": "c2",
                          "attachments": [attachment_id]})  # fmt: skip
        error = await next_frame(mine)
        while error["type"] != "error":
            error = await next_frame(mine)
        assert error["code"] == "invalid_frame" and error["ref"] == "c2"
        assert "attachments" in error["detail"]
    finally:
        await mine.disconnect()
        await theirs.disconnect()


# --- downloads --------------------------------------------------------------------------------


def test_download_headers_for_files_and_images(api, room):
    pdf = upload(api, "report.pdf", PDF, "application/pdf").json()
    image = upload(api, "cat.png", png(), "image/png").json()
    _send(api, "both", [pdf["id"], image["id"]])
    response = api.get(pdf["url"])
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="report.pdf"' in response["Content-Disposition"]
    assert "private" in response["Cache-Control"]
    assert body_of(response) == PDF
    response = api.get(image["url"])
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_removed_member_gets_404_at_once(api, room, user, other):
    data = upload(api, "secret.txt", b"the plan", "text/plain").json()
    _send(api, "plan", [data["id"]])
    theirs = client_for(other)
    assert theirs.get(data["url"]).status_code == 200
    services.member_kick(room=room, actor=user, target=other)
    assert theirs.get(data["url"]).status_code == 404
    assert theirs.get(data["url"] + "thumbnail/").status_code == 404


def test_a_banned_user_and_an_outsider_get_404(room, user, other):
    public = make_room(creator=user, name="Open", slug="open")
    data = upload(client_for(user), "a.txt", b"x", slug="open").json()
    _send(client_for(user), "file", [data["id"]], slug="open")
    assert client_for(other).get(data["url"]).status_code == 200  # public: anyone reads
    services.member_ban(room=public, actor=user, target=other)
    assert client_for(other).get(data["url"]).status_code == 404
    private = upload(client_for(user), "p.txt", b"x").json()
    _send(client_for(user), "file", [private["id"]])
    assert client_for(UserFactory(username="mallory")).get(private["url"]).status_code == 404
    assert APIClient().get(private["url"]).status_code == 401


def test_an_unsent_upload_is_only_for_its_uploader(api, room, other):
    data = upload(api, "draft.txt", b"x").json()
    assert api.get(data["url"]).status_code == 200
    assert client_for(other).get(data["url"]).status_code == 404


def test_a_deleted_message_takes_its_files_with_it(
    api, room, user, media, django_capture_on_commit_callbacks
):
    data = upload(api, "cat.png", png(), "image/png").json()
    message = _send(api, "cat", [data["id"]]).json()
    assert len([p for p in media.rglob("*") if p.is_file()]) == 2
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/api/rooms/team/messages/{message['id']}/")
    assert api.get(data["url"]).status_code == 404
    assert not [p for p in media.rglob("*") if p.is_file()]
    history = api.get("/api/rooms/team/messages/").json()
    assert history[-1]["deleted"] and history[-1]["attachments"] == []


# --- cleanup ----------------------------------------------------------------------------------


def test_cleanup_removes_old_unused_uploads_and_their_files_only(
    api, room, media, django_capture_on_commit_callbacks
):
    old_unused = upload(api, "old.png", png(), "image/png").json()["id"]
    old_used = upload(api, "used.txt", b"x").json()["id"]
    fresh = upload(api, "fresh.txt", b"x").json()["id"]
    _send(api, "keep", [old_used])
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Attachment.objects.filter(pk__in=[old_unused, old_used]).update(created_at=two_hours_ago)
    files_before = {p for p in media.rglob("*") if p.is_file()}
    assert len(files_before) == 4
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("attachments_cleanup", stdout=out)
    assert "1" in out.getvalue()
    assert set(Attachment.objects.values_list("pk", flat=True)) == {old_used, fresh}
    assert len({p for p in media.rglob("*") if p.is_file()}) == 2  # used.txt and fresh.txt


# --- admin ------------------------------------------------------------------------------------


def test_admin_lists_attachments_and_removes_them_through_the_services(
    api, room, user, other, media, django_capture_on_commit_callbacks
):
    from chat.models import ModerationAction

    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    admin = client_for(staff)
    sent = upload(client_for(other), "theirs.png", png(), "image/png").json()
    message = _send(client_for(other), "look", [sent["id"]]).json()
    unsent = upload(api, "draft.txt", b"x").json()
    page = admin.get("/admin/chat/attachment/")
    assert page.status_code == 200 and b"theirs.png" in page.content
    assert admin.get(f"/admin/chat/attachment/{sent['id']}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(
            "/admin/chat/attachment/",
            {"action": "remove", "_selected_action": [sent["id"], unsent["id"]]},
        )
    assert answer.status_code == 302
    assert not Attachment.objects.exists()
    assert not [p for p in media.rglob("*") if p.is_file()]
    history = api.get("/api/rooms/team/messages/").json()
    assert [m["deleted"] for m in history if m["id"] == message["id"]] == [True]
    audit = ModerationAction.objects.get()
    assert (audit.actor, audit.target, audit.kind) == (staff, other, "delete_message")
