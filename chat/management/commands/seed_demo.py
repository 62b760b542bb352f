"""Demo users, rooms and a little history, so a fresh `make run` has something to show."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.conversations import dm_open, reaction_add
from chat.models import Membership, Room
from chat.services import member_add, message_create, room_create, room_join

DEMO_PASSWORD = "switchboard-demo"
USERS = ["alice", "bob", "carol"]
ROOMS = [
    ("lobby", "Lobby", "Say hello. Everyone starts here.", False),
    ("engineering", "Engineering", "Deploys, incidents and code review.", False),
    ("random", "Random", "Links, jokes, lunch plans.", False),
    ("leads", "Team leads", "Private planning room.", True),
]
HISTORY = [
    ("alice", "Welcome to Switchboard 👋 Messages here are live for everyone in the room."),
    ("bob", "Hi Alice! Open this room in two browsers and watch messages arrive."),
    ("carol", "Reconnects resume from the last message you saw, so nothing gets lost."),
]
# A reply to the first message, in Markdown, and reactions on it (CONTRACT.md §9).
REPLY = ("carol", "Messages are **Markdown**: `code`, _emphasis_ and [links](https://example.com).")
REACTIONS = [("bob", "👋"), ("carol", "👋"), ("carol", "🎉")]


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol; admin as superuser) and rooms. Safe to re-run."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        users = {}
        for name in USERS:
            user, created = user_model.objects.get_or_create(username=name)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            users[name] = user
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)

        for slug, name, topic, private in ROOMS:
            room = Room.objects.filter(slug=slug).first()
            if room is None:
                room = room_create(
                    creator=users["alice"], name=name, slug=slug, topic=topic, is_private=private
                )
            for member in USERS[1:]:
                if private:
                    if member == "bob":
                        member_add(room=room, actor=users["alice"], user=users[member])
                else:
                    room_join(room=room, user=users[member])
        lobby = Room.objects.get(slug="lobby")
        if lobby.last_seq == 0:
            first = None
            for author, body in HISTORY:
                message, _ = message_create(room=lobby, author=users[author], body=body)
                first = first or message
            author, body = REPLY
            message_create(room=lobby, author=users[author], body=body, reply_to=first.pk)
            for author, emoji in REACTIONS:
                reaction_add(room=lobby, user=users[author], message_id=first.pk, emoji=emoji)
            Membership.objects.filter(room=lobby).update(last_read_seq=0)
        dm, created = dm_open(creator=users["bob"], usernames=["alice"])
        if created:
            message_create(room=dm, author=users["bob"], body="Psst: direct messages work too.")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo ready: log in as alice, bob or carol (or admin) "
                f"with password {DEMO_PASSWORD!r}."
            )
        )
