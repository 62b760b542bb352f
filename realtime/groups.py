"""Channel-layer group names: one helper per kind, ASCII, well under the 100-character limit."""


def room_group(room_id: int) -> str:
    """A room's stream: messages, edits, presence, typing."""
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    """Control events for all of one user's sockets (session ended, access revoked)."""
    return f"user.{user_id}"


def notification_group(user_id: int) -> str:
    """Notifications for one user, on /ws/notifications/."""
    return f"notify.{user_id}"


def readings_group(device_id: int) -> str:
    """New readings of one device, for the dashboards that chart it."""
    return f"readings.{device_id}"


def notes_group(room_id: int) -> str:
    """Yjs updates and awareness of a room's notes."""
    return f"notes.{room_id}"


def game_group(game_id: int) -> str:
    """A game's ticks, status changes and result."""
    return f"game.{game_id}"


def game_ticks_group() -> str:
    """Every game's ticks, batched: one layer event per 50 ms per running process, not one
    per game (games.hosting.TickPublisher)."""
    return "games.ticks"
