"""The chat socket's server frames (CONTRACT.md §4), built in one place."""

from typing import Any

from chat.models import Message
from chat.serializers import MessageSerializer


def message_frame(message: Message) -> dict[str, Any]:
    return {"type": "message", "message": MessageSerializer(message).data}


def message_updated_frame(message: Message) -> dict[str, Any]:
    return {"type": "message.updated", "message": MessageSerializer(message).data}


def message_deleted_frame(message: Message) -> dict[str, Any]:
    return {"type": "message.deleted", "id": message.pk, "seq": message.seq}


def message_change_frame(message: Message) -> dict[str, Any]:
    """How a client learns of an edit or delete it missed."""
    return message_deleted_frame(message) if message.deleted else message_updated_frame(message)
