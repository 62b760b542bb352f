"""ASGI entry point: Django for HTTP (each request gives back its stream slots however it ends),
the socket auth stack for WebSockets (a bounded number of handshakes at a time), both behind the
trusted proxy rule (realtime.proxy), which decides the client's address and scheme."""

from config.env import select_settings_module

select_settings_module()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# Django is set up before anything imports models.
django_asgi_app = get_asgi_application()

from chat.routing import websocket_urlpatterns as chat_ws  # noqa: E402
from dashboard.routing import websocket_urlpatterns as dashboard_ws  # noqa: E402
from games.routing import websocket_urlpatterns as games_ws  # noqa: E402
from realtime.admission import admitting_handshakes  # noqa: E402
from realtime.auth import SocketAuthStack  # noqa: E402
from realtime.proxy import TrustedProxyMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns as realtime_ws  # noqa: E402
from realtime.sse import releasing_stream_slots  # noqa: E402

application = TrustedProxyMiddleware(
    ProtocolTypeRouter(
        {
            "http": releasing_stream_slots(django_asgi_app),
            "websocket": admitting_handshakes(
                SocketAuthStack(URLRouter([*chat_ws, *dashboard_ws, *games_ws, *realtime_ws]))
            ),
        }
    )
)
