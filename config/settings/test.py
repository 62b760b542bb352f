"""Test settings: fast hashing, dev secret; DATABASE_URL and REDIS_URL still honoured."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-insecure-test-only-switchboard-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: tests then see SQLite's real locking (WAL, IMMEDIATE),
    # as the server does, with sockets and requests on several threads at once. One per test
    # process: two test runs in one checkout shared one file, and each destroyed the other's.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"switchboard-test-{os.getpid()}.sqlite3")
    }

# Tests post webhooks to servers of their own on 127.0.0.1.
SWITCHBOARD_ALERT_ALLOW_PRIVATE = True
