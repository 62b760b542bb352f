"""Channel-layer group names: one helper per kind, ASCII, well under the 100-character limit."""


def room_group(room_id: int) -> str:
    return f"room.{room_id}"
