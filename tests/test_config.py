"""Configuration from the environment (CONTRACT.md §7), checked in fresh interpreters."""

import json
import os
import subprocess
import sys

import pytest
from django.test import Client

from tests.support.procs import ROOT

pytestmark = pytest.mark.django_db


def settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REDIS_", "DATABASE_", "SWITCHBOARD_"))
    }
    code = (
        "from config.env import select_settings_module; select_settings_module()\n"
        "import django, json; django.setup()\n"
        "from django.conf import settings\n"
        f"print(json.dumps({expr}, default=repr))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_debug_defaults_sqlite_and_in_memory_layer():
    done = settings_in_subprocess(
        {"DJANGO_DEBUG": "1"},
        "[settings.DEBUG, settings.DATABASES['default']['ENGINE'], "
        "settings.CHANNEL_LAYERS['default']['BACKEND'], settings.ALLOWED_HOSTS]",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        True, "django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer",
        ["localhost", "127.0.0.1"],
    ]  # fmt: skip


def test_each_test_process_has_a_test_database_of_its_own(settings):
    """Two test runs in one checkout (or a run and a developer's single test) shared one file,
    and each one's setup or teardown destroyed the other's database."""
    done = settings_in_subprocess(
        {"DJANGO_SETTINGS_MODULE": "config.settings.test"},
        "settings.DATABASES['default']['TEST']['NAME']",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) != settings.DATABASES["default"]["TEST"]["NAME"]


def test_production_refuses_to_start_without_secret_key():
    done = settings_in_subprocess({}, "settings.DEBUG")
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in done.stderr


def test_environment_selects_postgres_and_redis():
    done = settings_in_subprocess(
        {
            "DJANGO_SECRET_KEY": "x" * 60,
            "DATABASE_URL": "postgres://u:p@db.internal:5432/switchboard",
            "REDIS_URL": "redis://cache.internal:6379/1",
            "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        },
        "[settings.DEBUG, settings.DATABASES['default']['ENGINE'], "
        "settings.DATABASES['default']['HOST'], settings.CHANNEL_LAYERS['default'], "
        "settings.ALLOWED_HOSTS]",
    )
    assert done.returncode == 0, done.stderr
    debug, engine, host, layer, hosts = json.loads(done.stdout)
    assert (debug, engine, host) == (False, "django.db.backends.postgresql", "db.internal")
    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    [host_config] = layer["CONFIG"]["hosts"]
    assert host_config["address"] == "redis://cache.internal:6379/1"
    assert "Retry" in host_config["retry"]  # one quick retry, not redis-py's 14 s of them
    assert hosts == ["chat.example.com"]


def test_healthz_reports_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "ok", "channel_layer": "ok"}


def test_healthz_names_a_failing_database(monkeypatch):
    def broken():
        raise RuntimeError("database is down")

    monkeypatch.setattr("realtime.views._check_db", broken)
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["db"], body["channel_layer"]) == ("error", "error", "ok")


def test_production_believes_no_forwarded_header_unless_told_which_proxies():
    production = {"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": "chat.example.com"}
    expr = "[settings.SECURE_PROXY_SSL_HEADER, settings.SWITCHBOARD_TRUSTED_PROXIES]"
    done = settings_in_subprocess(production, expr)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [None, []]
    told = settings_in_subprocess(
        {**production, "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}, expr
    )
    assert json.loads(told.stdout) == [None, ["127.0.0.1", "10.0.0.0/8"]]


def test_the_server_command_refuses_daphnes_proxy_headers():
    """Daphne's --proxy-headers would rewrite the client from a header the client writes."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "realtime.serve", "--proxy-headers", "config.asgi:application"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "SWITCHBOARD_TRUSTED_PROXIES" in done.stderr
