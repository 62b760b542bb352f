"""Property: any text frame gets a valid reply or an error frame, never a crash or bad data."""

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.models import Message
from tests.chat.test_consumers import join
from tests.factories import make_room

pytestmark = [pytest.mark.django_db(transaction=True)]

ERROR_CODES = {"invalid_json", "invalid_frame", "unknown_type", "empty_body", "body_too_long"}
FRAME_TYPES = ["message.send", "resume", "ping", "typing", "read", "message.edit", "nope"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(FRAME_TYPES) | st.text(max_size=20) | json_values},
    optional={
        "body": st.text(max_size=4100) | json_values,
        "client_id": st.text(max_size=70) | json_values,
        "after_seq": st.integers(-5, 10**12) | json_values,
        "id": json_values,
        "seq": json_values,
    },
).map(json.dumps)
texts = frames | json_values.map(json.dumps) | st.text(min_size=1, max_size=200)


@pytest.fixture
def room(user):
    return make_room(creator=user)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(texts, min_size=1, max_size=5))
def test_any_frame_gets_a_reply_or_an_error_and_the_socket_lives(layer, user, room, batch):
    async def scenario():
        socket, _ = await join(user)
        for text in batch:
            await socket.send_to(text_data=text)
            # A ping after each frame: everything before the pong is that frame's answer.
            await socket.send_to(text_data='{"type":"ping"}')
            while (reply := await socket.receive_json_from(timeout=5))["type"] != "pong":
                assert reply["type"] in {"message", "resumed", "reload", "error", "presence"}, reply
                if reply["type"] == "error":
                    assert reply["code"] in ERROR_CODES | {"rate_limited"}, reply
                    assert isinstance(reply["detail"], str) and reply["detail"]
        await socket.disconnect()

    async_to_sync(scenario)()

    @sync_to_async
    def stored():
        return list(Message.objects.values_list("body", "client_id"))

    for body, client_id in async_to_sync(stored)():
        assert body.strip() and len(body) <= 4000, repr(body)
        assert client_id is None or (isinstance(client_id, str) and 1 <= len(client_id) <= 64)
