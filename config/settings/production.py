"""Production: refuses to start without a secret key; HTTPS everywhere behind a proxy."""

import os

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is not 1.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name at least one host.")

# TLS terminates at Daphne's TLS endpoint or at a proxy. No SECURE_PROXY_SSL_HEADER: Django
# would believe X-Forwarded-Proto from anyone. realtime.proxy sets the request's scheme from it
# only when the request comes from SWITCHBOARD_TRUSTED_PROXIES.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or None
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
