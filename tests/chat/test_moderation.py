"""Ban, unban, kick, mute, roles, room settings: through the API, admin and the open sockets."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client import REGISTRY

from chat import services
from chat.consumers import RoomConsumer
from chat.models import Membership, Message, ModerationAction, RoomBan
from realtime.presence import get_registry
from tests.chat.test_consumers import closed_with, join, next_frame, open_socket, send
from tests.factories import UserFactory, make_room
from tests.support.timing import HeldConnects, within


@pytest.fixture
def room(user, other):
    room = make_room(creator=user)
    services.room_join(room=room, user=other)
    return room


@pytest.mark.django_db
class TestApi:
    def post(self, api, action, payload):
        return api.post(f"/api/rooms/lobby/{action}/", payload, format="json")

    def test_owner_bans_with_reason_and_it_is_recorded(self, api, user, other, room):
        assert self.post(api, "ban", {"username": "bob", "reason": "spam"}).status_code == 204
        assert RoomBan.objects.filter(room=room, user=other).exists()
        assert not Membership.objects.filter(room=room, user=other).exists()
        action = ModerationAction.objects.get()
        assert (action.actor, action.target, action.kind, action.reason) == (
            user, other, "ban", "spam",
        )  # fmt: skip
        bob = Client()
        bob.force_login(other)
        assert bob.post("/api/rooms/lobby/join/").status_code == 403
        assert self.post(api, "unban", {"username": "bob"}).status_code == 204
        assert bob.post("/api/rooms/lobby/join/").status_code == 200

    def test_plain_members_cannot_moderate(self, room, user, other):
        bob = Client()
        bob.force_login(other)
        for action in ("ban", "kick", "unban", "unmute"):
            response = bob.post(
                f"/api/rooms/lobby/{action}/",
                {"username": "alice"},
                content_type="application/json",
            )
            assert response.status_code == 403, action
        response = bob.post(
            "/api/rooms/lobby/mute/", {"username": "alice", "minutes": 5},
            content_type="application/json",
        )  # fmt: skip
        assert response.status_code == 403

    def test_moderators_cannot_act_on_owners_or_each_other(self, api, user, other, room):
        carol = UserFactory(username="carol")
        services.room_join(room=room, user=carol)
        assert self.post(api, "role", {"username": "bob", "role": "moderator"}).status_code == 204
        assert self.post(api, "role", {"username": "carol", "role": "moderator"}).status_code == 204
        bob = Client()
        bob.force_login(other)
        for target in ("alice", "carol"):
            response = bob.post(
                "/api/rooms/lobby/kick/", {"username": target}, content_type="application/json"
            )
            assert response.status_code == 403

    def test_kick_removes_membership_but_public_room_can_be_rejoined(self, api, other, room):
        assert self.post(api, "kick", {"username": "bob"}).status_code == 204
        assert not Membership.objects.filter(room=room, user=other).exists()
        bob = Client()
        bob.force_login(other)
        assert bob.post("/api/rooms/lobby/join/").status_code == 200

    def test_mute_refuses_sends_until_it_expires(self, api, other, room):
        assert self.post(api, "mute", {"username": "bob", "minutes": 10}).status_code == 204
        bob = Client()
        bob.force_login(other)
        response = bob.post(
            "/api/rooms/lobby/messages/", {"body": "hi"}, content_type="application/json"
        )
        assert response.status_code == 403 and response.json()["code"] == "muted"
        assert self.post(api, "unmute", {"username": "bob"}).status_code == 204
        response = bob.post(
            "/api/rooms/lobby/messages/", {"body": "hi"}, content_type="application/json"
        )
        assert response.status_code == 201

    @pytest.mark.parametrize(
        ("action", "payload"),
        [("ban", {}), ("mute", {"username": "bob"}), ("mute", {"username": "bob", "minutes": 0}),
         ("role", {"username": "bob", "role": "king"}), ("ban", {"username": "nobody"})],
    )  # fmt: skip
    def test_bad_moderation_requests_say_why(self, api, room, action, payload):
        response = self.post(api, action, payload)
        assert response.status_code in {400, 404}
        assert response.json()

    def test_owner_renames_sets_topic_and_archives(self, api, other, room):
        response = api.patch(
            "/api/rooms/lobby/", {"name": "Hall", "topic": "New topic"}, format="json"
        )
        assert response.status_code == 200
        assert (response.json()["name"], response.json()["topic"]) == ("Hall", "New topic")
        assert (
            api.patch("/api/rooms/lobby/", {"is_archived": True}, format="json").status_code == 200
        )
        response = api.post("/api/rooms/lobby/messages/", {"body": "late"}, format="json")
        assert response.status_code == 403 and "archived" in response.json()["detail"]
        assert ModerationAction.objects.filter(kind="archive").exists()
        bob = Client()
        bob.force_login(other)
        forbidden = bob.patch(
            "/api/rooms/lobby/", {"name": "Mine now"}, content_type="application/json"
        )
        assert forbidden.status_code == 403

    def test_last_owner_cannot_step_down(self, api, room):
        assert self.post(api, "role", {"username": "alice", "role": "member"}).status_code == 403


@pytest.mark.django_db(transaction=True)
class TestSockets:
    async def test_ban_closes_the_banned_users_sockets_with_4003(self, layer, user, other, room):
        bob_here, _ = await join(other)
        elsewhere_room = await sync_to_async(make_room)(creator=other, name="Other", slug="other")
        bob_elsewhere, _ = await join(other, elsewhere_room.slug)
        await sync_to_async(services.member_ban)(room=room, actor=user, target=other, reason="x")
        assert await closed_with(bob_here) == 4003
        await send(bob_elsewhere, {"type": "ping"})
        assert await next_frame(bob_elsewhere) == {"type": "pong"}  # other rooms unaffected
        _, connected = await open_socket(other)
        assert not connected
        await bob_elsewhere.disconnect()

    async def test_a_ban_while_the_socket_connects_ends_it_too(
        self, layer, user, other, room, monkeypatch
    ):
        """A socket read its access, then joined its user's group only once accepted: a ban
        (or a logout) whose close was sent in between never reached it, and it stayed open."""
        bob_here, _ = await join(other)
        held = HeldConnects(monkeypatch, RoomConsumer)
        connecting = asyncio.create_task(open_socket(other))
        await within(held.reached.wait(), 5)  # its access is read: not banned yet
        await sync_to_async(services.member_ban)(room=room, actor=user, target=other, reason="x")
        assert await closed_with(bob_here) == 4003  # the ban's close has been delivered
        held.go_on.set()
        socket, connected = await within(connecting, 5)
        assert not connected or await closed_with(socket) == 4003
        # And nothing of it stays: no place in the caps or presence, not counted as open.
        await socket.disconnect(timeout=5)  # once its connect has ended
        await bob_here.disconnect()
        assert not [ref for ref, _ in get_registry().owned.values() if ref.user_id == other.pk]
        assert REGISTRY.get_sample_value("switchboard_open_sockets", {"kind": "room"}) == 0

    async def test_kick_closes_sockets_and_public_room_can_be_reopened(
        self, layer, user, other, room
    ):
        bob, _ = await join(other)
        await sync_to_async(services.member_kick)(room=room, actor=user, target=other)
        assert await closed_with(bob) == 4003
        again, _ = await join(other)
        await again.disconnect()

    async def test_muted_user_gets_muted_error_and_nothing_is_stored(
        self, layer, user, other, room
    ):
        bob, _ = await join(other)
        await sync_to_async(services.member_mute)(room=room, actor=user, target=other, minutes=5)
        await send(bob, {"type": "message.send", "body": "let me speak", "client_id": "m1"})
        error = await next_frame(bob)
        assert (error["type"], error["code"], error["ref"]) == ("error", "muted", "m1")
        assert await sync_to_async(Message.objects.count)() == 0
        await bob.disconnect()

    async def test_staff_admin_action_bans_through_the_same_service(self, layer, user, other, room):
        bob, _ = await join(other)
        staff = await sync_to_async(UserFactory)(username="root", is_staff=True, is_superuser=True)

        @sync_to_async
        def ban_in_admin():
            client = Client()
            client.force_login(staff)
            membership = Membership.objects.get(room=room, user=other)
            return client.post(
                "/admin/chat/membership/",
                {"action": "ban", "_selected_action": [membership.pk]},
            )

        assert (await ban_in_admin()).status_code == 302
        assert await closed_with(bob) == 4003
        action = await sync_to_async(ModerationAction.objects.select_related("actor").get)()
        assert (action.kind, action.actor.username) == ("ban", "root")
