"""The chat socket's server frames (CONTRACT.md §4), built in one place."""

from typing import Any

from chat.models import Message
from chat.serializers import MessageSerializer


def message_frame(message: Message) -> dict[str, Any]:
    return {"type": "message", "message": MessageSerializer(message).data}
