"""Development: DEBUG on, a dev-only secret key, SQLite and the in-memory layer unless set."""

import os

from .base import *  # noqa: F403

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-insecure-dev-only-switchboard-key"
# Alert e-mails are printed, and webhooks may point at this machine.
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
SWITCHBOARD_ALERT_ALLOW_PRIVATE = True
