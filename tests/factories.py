import factory
from django.contrib.auth import get_user_model

from chat import services

PASSWORD = "pw-Switchboard-1"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


def make_room(*, creator=None, name="Lobby", slug="lobby", is_private=False, topic=""):
    """A room made the way users make them: through the service, creator as owner."""
    return services.room_create(
        creator=creator or UserFactory(), name=name, slug=slug, topic=topic, is_private=is_private
    )
