"""Writes of the real-time plumbing itself."""

import os
import socket

from django.utils import timezone

from realtime.models import ServerProcess

PROCESS_NAME = f"{socket.gethostname()}:{os.getpid()}"


def server_process_beat(*, sockets: int) -> None:
    """Record this process's open-socket count (read by the built-in server source)."""
    ServerProcess.objects.update_or_create(
        name=PROCESS_NAME, defaults={"sockets": sockets, "heartbeat_at": timezone.now()}
    )


def open_socket_count(*, max_age_seconds: int) -> int:
    """Open sockets over every live server process."""
    since = timezone.now() - timezone.timedelta(seconds=max_age_seconds)
    live = ServerProcess.objects.filter(heartbeat_at__gte=since)
    return sum(live.values_list("sockets", flat=True))
