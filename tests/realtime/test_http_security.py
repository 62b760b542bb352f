"""HTTP-side protections: write throttling, login lockout, deploy settings (the input bounds and
the schema's login are in test_http_edges)."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from tests.factories import UserFactory, make_room
from tests.support.procs import ROOT

pytestmark = pytest.mark.django_db


def test_rest_writes_are_throttled_per_user_with_retry_after(api, user, other, settings):
    settings.SWITCHBOARD_REST_WRITE_RATE = "3/min"
    make_room(creator=user)
    for i in range(3):
        response = api.post("/api/rooms/lobby/messages/", {"body": f"m{i}"}, format="json")
        assert response.status_code == 201
    limited = api.post("/api/rooms/lobby/messages/", {"body": "over"}, format="json")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert api.get("/api/rooms/lobby/messages/").status_code == 200  # reads are not limited
    bob = Client()
    bob.force_login(other)
    response = bob.post(
        "/api/rooms/lobby/messages/", {"body": "bob"}, content_type="application/json"
    )
    assert response.status_code == 201


def login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_failed_logins_lock_the_username(user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(Client(), "alice", "wrong").status_code == 200
    assert login(Client(), "alice", "wrong").status_code == 429  # the limit-th failure locks
    locked = login(Client(), "alice", "pw-Switchboard-1", address="10.9.9.9")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()


def test_failed_logins_lock_the_address(user, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), f"guess{i}", "wrong", address="10.6.6.6")
    assert login(Client(), "alice", "pw-Switchboard-1", address="10.6.6.6").status_code == 429
    assert login(Client(), "alice", "pw-Switchboard-1", address="10.7.7.7").status_code == 302


def test_staff_can_see_and_clear_lockouts_in_admin(user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "alice", "wrong")
    admin = Client()
    admin.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "alice" in page.content.decode()
    from axes.models import AccessAttempt

    ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert login(Client(), "alice", "pw-Switchboard-1").status_code == 302


def test_check_deploy_passes_with_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_"))}
    env.update(
        DJANGO_SECRET_KEY="k3y-" + "q8Zr2vLx9Tn4Wm7Pb1Yc6Hd0Fs5Gj3Ka" * 2,
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://chat.example.com",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
