"""The system's account (chat.services.system_user), created before anyone can sign up under
its name: the author of game invitations and results in rooms."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations

SYSTEM_USERNAME = "switchboard"


def create_system_user(apps, schema_editor):
    user_model = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    user_model.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "password": make_password(None)}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("games", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_system_user, migrations.RunPython.noop)]
