"""The tutorial's asgi.py: origin check, session auth, URL routing, ChatConsumer."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.tutorial.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from bench.tutorial.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
