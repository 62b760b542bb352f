"""The soak's chat client (tests/support/transports.py) judges the server: it must flag a real
repeat of the stream and accept the one the contract allows, the original `message` sent back
to a `message.send` that was sent again with its client_id."""

import asyncio

from tests.support.clients import Account
from tests.support.transports import ResumingChat


class Socket:
    def __init__(self):
        self.sent = []

    async def send(self, text):
        self.sent.append(text)


def message(seq, client_id, author=1):
    return {
        "type": "message",
        "message": {
            "id": 100 + seq, "seq": seq, "room": "r", "author": {"id": author, "username": "u"},
            "body": f"m{seq}", "client_id": client_id, "created_at": "2026-12-06T19:00:00+00:00",
            "edited_at": None, "deleted": False,
        },
    }  # fmt: skip


async def live_chat():
    chat = ResumingChat([], Account("u", "", ""), "r")
    chat.user_id, chat.ws, chat.live = 1, Socket(), True
    return chat


def test_the_original_sent_back_to_a_retry_is_not_a_repeat():
    async def scenario():
        chat = await live_chat()
        client_id = await chat.send("hello")  # sent on a connection that then dropped
        chat._in_flight.clear()
        await chat._transmit(client_id)  # and again after the resume
        await chat._on_frame(message(1, client_id))  # the first send's broadcast
        await chat._on_frame(message(1, client_id))  # the answer to the second send
        return chat

    chat = asyncio.run(scenario())
    assert chat.view.problems == []
    assert chat.view.applied == 1 and chat.echoes == {chat.view.messages[1]["client_id"]: 1}


def test_a_message_repeated_beyond_the_sends_is_a_problem():
    async def scenario():
        chat = await live_chat()
        client_id = await chat.send("hello")
        await chat._on_frame(message(1, client_id))
        await chat._on_frame(message(1, client_id))  # one send, two copies
        await chat._on_frame(message(2, "someone-else", author=2))
        await chat._on_frame(message(2, "someone-else", author=2))
        return chat

    chat = asyncio.run(scenario())
    assert chat.view.problems == [
        "u (socket): seq 1 again after 1",
        "u (socket): seq 2 again after 2",
    ]
