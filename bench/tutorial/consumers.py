"""The tutorial's ChatConsumer, sending the frame Switchboard sends for a message.

The payload is the contract's `message` frame rather than the tutorial's `{"message": text}`,
so that both systems put frames of the same size on the wire and encode the same structure.
"""

import itertools
import json
from datetime import UTC, datetime

from channels.generic.websocket import AsyncWebsocketConsumer

_ids = itertools.count(1)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        frame = json.loads(text_data)
        user = self.scope["user"]
        n = next(_ids)
        message = {
            "id": n,
            "seq": n,
            "room": self.room_name,
            "author": {"id": user.pk, "username": user.get_username()},
            "body": frame["body"],
            "client_id": frame.get("client_id"),
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "edited_at": None,
            "deleted": False,
        }
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"type": "message", "message": event["message"]}))
