"""Issue 12's access findings, each on the path where it was found (the transport matrix in
tests/integration/test_transport_matrix.py asserts the same answers across processes)."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from chat import policy, services
from chat.models import Membership, Message, ModerationAction, Room, RoomBan, RoomMute
from config.asgi import application
from dashboard import services as dashboard_services
from realtime.errors import Forbidden
from tests.factories import UserFactory, make_room
from tests.support.timing import within

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_room(user, other):
    room = make_room(creator=user, name="Secret", slug="secret", is_private=True)
    services.member_add(room=room, actor=user, user=other)
    return room


@pytest.fixture
def device_key(user):
    _, key = dashboard_services.device_create(owner=user, name="Thermometer")
    return key


async def open_room_socket(user, slug: str = "lobby") -> WebsocketCommunicator:
    """A browser tab's chat socket, its hello read."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    headers = [(b"origin", b"http://localhost"),
               (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]  # fmt: skip
    socket = WebsocketCommunicator(application, f"/ws/rooms/{slug}/", headers=headers)
    assert (await socket.connect(timeout=5))[0]
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    return socket


async def next_answer(socket: WebsocketCommunicator) -> dict:
    """The next frame that is not presence."""
    while (frame := await socket.receive_json_from(timeout=5))["type"] == "presence":
        pass
    return frame


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


# --- finding 1: a device key acts as its owner everywhere ------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/rooms/", None),
        ("get", "/api/rooms/secret/", None),
        ("get", "/api/rooms/secret/messages/", None),
        ("post", "/api/rooms/secret/messages/", {"body": "as the owner?"}),
        ("post", "/api/rooms/", {"name": "Made by a device"}),
        ("post", "/api/devices/", {"name": "A key that outlives mine"}),
        ("get", "/api/rooms/secret/notes/", None),
        ("get", "/api/notifications/", None),
        ("get", "/api/dashboards/", None),
    ],
)
def test_a_device_key_reaches_nothing_but_ingestion(private_room, device_key, method, path, body):
    response = getattr(key_client(device_key), method)(path, body, format="json")
    assert response.status_code == 403
    assert "device keys reach ingestion only" in response.json()["detail"]
    assert not Room.objects.filter(name="Made by a device").exists()
    assert Message.objects.count() == 0


def test_a_device_key_cannot_edit_its_owners_messages(user, private_room, device_key):
    message, _ = services.message_create(room=private_room, author=user, body="mine")
    response = key_client(device_key).patch(
        f"/api/rooms/secret/messages/{message.pk}/", {"body": "forged"}, format="json"
    )
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.body == "mine"


def test_a_device_key_still_ingests(device_key):
    response = key_client(device_key).post(
        "/api/ingest/", {"readings": [{"metric": "t", "value": 1}]}, format="json"
    )
    assert response.status_code == 202


@pytest.mark.parametrize("path", ["/ws/rooms/secret/", "/ws/rooms/secret/notes/",
                                  "/ws/notifications/", "/ws/dashboards/open/"])  # fmt: skip
async def test_a_device_key_opens_no_socket_but_its_own(user, private_room, device_key, path):
    from dashboard.models import Dashboard

    await sync_to_async(Dashboard.objects.create)(owner=user, name="Open", slug="open",
                                                  is_public=True)  # fmt: skip
    headers = [(b"authorization", f"Api-Key {device_key}".encode())]
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect(timeout=5)
    assert not connected
    device_socket = WebsocketCommunicator(application, "/ws/devices/", headers=headers)
    connected, _ = await device_socket.connect(timeout=5)
    assert connected
    await device_socket.disconnect()


async def test_a_device_key_opens_no_stream(private_room, device_key):
    client = AsyncClient()
    for path in ("/sse/rooms/secret/", "/api/rooms/secret/messages/?after_seq=0&wait=1"):
        response = await client.get(path, headers={"Authorization": f"Api-Key {device_key}"})
        assert response.status_code == 403, path


# --- finding 3: a banned user still reads history and notes ----------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/rooms/lobby/messages/",
        "/api/rooms/lobby/messages/?after_seq=0&wait=1",
        "/api/rooms/lobby/notes/",
        "/api/rooms/lobby/notes/versions/",
        "/api/rooms/lobby/members/",
        "/sse/rooms/lobby/",
    ],
)
async def test_a_banned_user_reads_nothing(user, other, path):
    room = await sync_to_async(make_room)(creator=user)
    await sync_to_async(services.room_join)(room=room, user=other)
    await sync_to_async(services.message_create)(room=room, author=user, body="not for bob")
    await sync_to_async(services.member_ban)(room=room, actor=user, target=other)
    client = AsyncClient()
    await client.aforce_login(other)
    response = await client.get(path)
    assert response.status_code == 403
    assert "banned" in json.loads(response.content)["detail"]


# --- finding 4: a muted user, or anyone in an archived room, still edits and deletes ---------


@pytest.fixture
def lobby_with_message(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    message, _ = services.message_create(room=room, author=other, body="before")
    return room, message


def _authed(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("state", ["muted", "archived"])
def test_muted_and_archived_cannot_edit_or_delete(user, other, lobby_with_message, state):
    room, message = lobby_with_message
    if state == "muted":
        services.member_mute(room=room, actor=user, target=other, minutes=10)
    else:
        services.room_update(room=room, actor=user, is_archived=True)
    client = _authed(other)
    path = f"/api/rooms/lobby/messages/{message.pk}/"
    edited = client.patch(path, {"body": "after"}, format="json")
    deleted = client.delete(path)
    assert (edited.status_code, deleted.status_code) == (403, 403)
    assert edited.json()["code"] == ("muted" if state == "muted" else "forbidden")
    message.refresh_from_db()
    assert (message.body, message.deleted) == ("before", False)


async def test_a_muted_user_cannot_edit_over_the_socket(user, other, lobby_with_message):
    room, message = lobby_with_message
    await sync_to_async(services.member_mute)(room=room, actor=user, target=other, minutes=10)
    socket = await open_room_socket(other)
    await socket.send_json_to({"type": "message.edit", "id": message.pk, "body": "after"})
    frame = await next_answer(socket)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "muted", message.pk)
    await socket.disconnect()


# --- finding 5: streams outlive their credentials --------------------------------------------


async def _events_until_end(response) -> list[str]:
    chunks = []
    async with asyncio.timeout(10):
        async for chunk in response.streaming_content:
            chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    return chunks


async def test_a_room_stream_ends_when_its_token_expires(layer, user):
    await sync_to_async(make_room)(creator=user)
    token = AccessToken.for_user(user)
    # Long enough to be valid when the stream opens on a loaded machine (1 s was not always).
    token.set_exp(lifetime=timedelta(seconds=3))
    bearer = {"Authorization": f"Bearer {token}"}
    response = await AsyncClient().get("/sse/rooms/lobby/", headers=bearer)
    assert response.status_code == 200
    await _events_until_end(response)  # ends by itself at the expiry, not at 15 s
    again = await AsyncClient().get("/sse/rooms/lobby/", headers=bearer)
    assert again.status_code == 401


async def test_a_dashboard_stream_ends_at_logout(layer, user):
    from dashboard.models import Dashboard

    await sync_to_async(Dashboard.objects.create)(owner=user, name="D", slug="d")
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get("/sse/dashboards/d/")
    assert response.status_code == 200
    stream = aiter(response.streaming_content)
    assert b"snapshot" in await within(anext(stream), 5)
    logout = asyncio.create_task(client.post("/accounts/logout/"))
    async with asyncio.timeout(5):
        async for _ in stream:
            pass  # the stream ends once the logout's close reaches it
    await logout


# --- finding 7: ban and mute reveal whether a username exists ---------------------------------


@pytest.mark.parametrize("action", ["ban", "mute", "kick", "unban", "members"])
def test_moderation_refuses_before_looking_the_target_up(user, other, action):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    client = _authed(other)
    answers = {
        client.post(f"/api/rooms/lobby/{action}/", {"username": name, "minutes": 5},
                    format="json").status_code
        for name in ("alice", "no-such-user-at-all")
    }  # fmt: skip
    assert answers == {403}
    assert not RoomBan.objects.exists() and not RoomMute.objects.exists()


# --- finding 9: admin edits around the services -----------------------------------------------


@pytest.fixture
def staff_client(db):
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_admin_cannot_edit_memberships_bans_or_mutes_by_form(staff_client, user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    membership = Membership.objects.get(room=room, user=other)
    ban_target = UserFactory()
    services.room_join(room=room, user=ban_target)
    ban = services.member_ban(room=room, actor=user, target=ban_target)
    mute = services.member_mute(room=room, actor=user, target=other, minutes=5)
    for model, obj in (("membership", membership), ("roomban", ban), ("roommute", mute)):
        change = reverse(f"admin:chat_{model}_change", args=[obj.pk])
        response = staff_client.post(change, {"role": "owner", "until": "2099-01-01"})
        assert response.status_code == 403, model
        assert staff_client.get(reverse(f"admin:chat_{model}_add")).status_code == 403
        delete = reverse(f"admin:chat_{model}_delete", args=[obj.pk])
        assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    membership.refresh_from_db()
    assert membership.role == "member"
    assert RoomBan.objects.filter(pk=ban.pk).exists() and RoomMute.objects.filter(pk=mute.pk)


def test_admin_archive_goes_through_the_service_and_is_audited(staff_client, user):
    room = make_room(creator=user)
    change = reverse("admin:chat_room_change", args=[room.pk])
    assert 'name="is_archived"' not in staff_client.get(change).content.decode()
    owner = Membership.objects.get(room=room)
    inline = {"memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
              "memberships-0-id": str(owner.pk), "memberships-0-room": str(room.pk)}  # fmt: skip
    saved = staff_client.post(
        change, {"name": "Renamed", "topic": "t", "is_archived": "on", **inline}
    )
    assert saved.status_code == 302
    room.refresh_from_db()
    assert (room.name, room.is_archived) == ("Renamed", False)  # archive is not a form field
    response = staff_client.post(
        reverse("admin:chat_room_changelist"),
        {"action": "archive", "_selected_action": [room.pk]},
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert room.is_archived
    assert ModerationAction.objects.filter(room=room, kind="archive", actor__username="staff")


def test_admin_unban_is_audited(staff_client, user, other):
    room = make_room(creator=user)
    ban = services.member_ban(room=room, actor=user, target=other)
    staff_client.post(
        reverse("admin:chat_roomban_changelist"),
        {"action": "unban", "_selected_action": [ban.pk]},
    )
    assert not RoomBan.objects.exists()
    assert ModerationAction.objects.filter(kind="unban", actor__username="staff").exists()


# --- finding 10: one send budget, streams within the caps -------------------------------------


async def test_rest_sends_and_socket_sends_share_one_budget(layer, user, settings):
    settings.SWITCHBOARD_CHAT_SEND_RATE = "2/minute"
    await sync_to_async(make_room)(creator=user)
    client = APIClient()
    await sync_to_async(client.force_authenticate)(user)
    post = sync_to_async(lambda: client.post("/api/rooms/lobby/messages/", {"body": "rest"},
                                             format="json"))  # fmt: skip
    assert (await post()).status_code == 201
    socket = await open_room_socket(user)
    await socket.send_json_to({"type": "message.send", "body": "socket", "client_id": "c1"})
    assert (await next_answer(socket))["type"] == "message"
    refused = await post()
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    await socket.disconnect()


async def test_streams_and_long_polls_count_against_the_socket_cap(layer, user, settings):
    settings.SWITCHBOARD_MAX_SOCKETS_PER_USER = 2
    await sync_to_async(make_room)(creator=user)
    client = AsyncClient()
    await client.aforce_login(user)
    first = await client.get("/sse/rooms/lobby/")
    poll = asyncio.create_task(client.get("/api/rooms/lobby/messages/?after_seq=0&wait=3"))
    await asyncio.sleep(0.3)  # noqa: sleep-ok let the poll take its slot; nothing to await
    third = await client.get("/sse/rooms/lobby/")
    assert (first.status_code, third.status_code) == (200, 429)
    assert json.loads(third.content)["code"] == "too_many_connections"
    assert (await poll).status_code == 200
    await first.streaming_content.aclose()
    again = await client.get("/api/rooms/lobby/messages/?after_seq=0&wait=0.1")
    assert again.status_code == 200  # both slots were given back


def test_policy_reads_the_rules_fresh(user, other):
    """A mute or archive committed after the room was read applies at once."""
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    stale = Room.objects.get(pk=room.pk)
    services.member_mute(room=room, actor=user, target=other, minutes=1)
    with pytest.raises(Forbidden) as refused:
        policy.require_post(policy.access_get(room=stale, user=other))
    assert refused.value.code == "muted"
