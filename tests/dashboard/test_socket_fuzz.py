"""Property: whatever a client sends on the device or dashboard socket (random JSON, broken
JSON, frames nested thousands deep, numbers too big for a float or too long for an int, binary
frames) gets an answer or an error frame. The socket stays open and usable, nothing invalid is
stored, and once it closes it holds no place in the socket caps."""

import json
import math
import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import services
from dashboard.models import Reading
from realtime.store import zstore
from tests.dashboard.test_sockets import dashboard_socket, device_socket

pytestmark = [pytest.mark.django_db(transaction=True)]

ERROR_CODES = {"invalid_json", "invalid_frame", "unknown_type", "rate_limited"}
MAX_FRAME = 64 * 1024

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["temperature", "humidity", "t", "BAD NAME", "", "x" * 65]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
readings = st.lists(
    st.fixed_dictionaries(
        {"metric": json_values, "value": json_values},
        optional={"ts": json_values | st.sampled_from(["2020-01-01T00:00:00Z", "9999-01-01"])},
    )
    | json_values,
    max_size=5,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["readings", "ping", "nope"]) | json_values},
    optional={"readings": readings | json_values},
).map(json.dumps)


@st.composite
def nested(draw) -> str:
    """A frame nested up to 30,000 deep, inside a frame the socket would otherwise take."""
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    depth = draw(st.integers(1, (MAX_FRAME - 64) // len(opening + closing)))  # one frame
    inner = opening * depth + "1" + closing * depth
    if draw(st.booleans()):
        inner = inner[: draw(st.integers(1, len(inner)))]  # and maybe cut short
    template = draw(
        st.sampled_from(["{}", '{{"type":"readings","readings":{}}}', '{{"type":"ping","x":{}}}'])
    )
    return template.format(inner)


huge_numbers = st.sampled_from(["1e400", "-1e400", "1" * 5000, "0." + "0" * 5000 + "1"]).map(
    lambda n: f'{{"type":"readings","readings":[{{"metric":"temperature","value":{n}}}]}}'
)
texts = frames | nested() | huge_numbers | st.text(min_size=1, max_size=200)
payloads = st.one_of(
    texts.map(lambda t: ("text", t)), st.binary(min_size=1, max_size=64).map(lambda b: ("bytes", b))
)


@pytest.fixture
def device_key(user):
    return services.device_create(owner=user, name="Fuzzed")


@pytest.fixture
def dashboard(user, device_key):
    device, _ = device_key
    return services.dashboard_create(owner=user, name="Fuzz", slug="fuzz", panels=[
        {"title": "Temperature", "device": device, "metric": "temperature", "kind": "line"},
    ])  # fmt: skip


async def exchange(socket, batch: list[tuple[str, object]], replies: set[str]) -> None:
    """Send each frame, then a ping: everything before the pong is that frame's answer."""
    for kind, payload in batch:
        if kind == "text":
            assert len(payload.encode()) <= MAX_FRAME  # what Daphne lets through
            await socket.send_to(text_data=payload)
        else:
            await socket.send_to(bytes_data=payload)
        await socket.send_to(text_data='{"type":"ping"}')
        while (reply := await socket.receive_json_from(timeout=5))["type"] != "pong":
            assert reply["type"] in replies | {"error"}, reply
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES, reply
                assert isinstance(reply["detail"], str) and reply["detail"]


async def no_socket_entries() -> None:
    assert {key: members for key, members in zstore().sets.items() if members} == {}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(payloads, min_size=1, max_size=4))
def test_the_device_socket_answers_anything_and_stores_only_valid_readings(
    layer, device_key, batch
):
    _, key = device_key

    async def scenario():
        socket, connected = await device_socket(key)
        assert connected
        await exchange(socket, batch, {"ack"})
        await socket.disconnect()
        await no_socket_entries()

    async_to_sync(scenario)()

    @sync_to_async
    def stored():
        return list(Reading.objects.values_list("metric", "value"))

    for metric, value in async_to_sync(stored)():
        assert re.fullmatch(r"[a-z0-9_.:-]{1,64}", metric), metric
        assert math.isfinite(value), value


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(payloads, min_size=1, max_size=4))
def test_the_dashboard_socket_answers_anything_and_stays_open(layer, user, dashboard, batch):
    async def scenario():
        socket, connected = await dashboard_socket(user, slug="fuzz")
        assert connected
        assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
        await exchange(socket, batch, set())
        await socket.disconnect()
        await no_socket_entries()

    async_to_sync(scenario)()
