"""The room over long polling and Server-Sent Events: same gap-free, in-order stream."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from chat import services
from config.asgi import application
from realtime.presence import Registry, get_registry
from tests.factories import make_room
from tests.support.timing import within

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(user):
    return make_room(creator=user)


@pytest.fixture
async def client(user):
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def test_long_poll_answers_at_once_when_there_is_news(layer, client, user, room):
    await sync_to_async(services.message_create)(room=room, author=user, body="already here")
    response = await within(client.get("/api/rooms/lobby/messages/?after_seq=0&wait=30"), 5)
    assert response.status_code == 200
    assert [m["body"] for m in response.json()] == ["already here"]


async def test_long_poll_waits_for_the_next_commit(layer, client, user, room):
    poll = asyncio.create_task(client.get("/api/rooms/lobby/messages/?after_seq=0&wait=10"))
    await asyncio.sleep(0.2)  # noqa: sleep-ok let the poll subscribe; it must not answer early
    assert not poll.done()
    await sync_to_async(services.message_create)(room=room, author=user, body="news")
    response = await within(poll, 5)
    assert [(m["seq"], m["body"]) for m in response.json()] == [(1, "news")]


async def test_long_poll_times_out_with_an_empty_list(layer, client, room):
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get("/api/rooms/lobby/messages/?after_seq=0&wait=0.5")
    assert response.status_code == 200 and response.json() == []
    assert loop.time() - started >= 0.45


@pytest.mark.parametrize("query", ["wait=5", "after_seq=0&wait=31", "after_seq=0&wait=x"])
async def test_long_poll_validates(layer, client, room, query):
    response = await client.get(f"/api/rooms/lobby/messages/?{query}")
    assert response.status_code == 400


async def test_long_poll_needs_access(layer, other, user):
    await sync_to_async(make_room)(creator=user, name="Secret", slug="secret", is_private=True)
    outsider = AsyncClient()
    await outsider.aforce_login(other)
    response = await outsider.get("/api/rooms/secret/messages/?after_seq=0&wait=1")
    assert response.status_code == 404
    response = await AsyncClient().get("/api/rooms/secret/messages/?after_seq=0&wait=1")
    assert response.status_code == 401


async def sse_events(response, count: int) -> list[dict]:
    """Read `count` events (event, id, data) off a streaming SSE response."""
    events, buffer = [], ""
    stream = aiter(response.streaming_content)
    while len(events) < count:
        chunk = await within(anext(stream), 5)
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields:
                events.append({**fields, "data": json.loads(fields["data"])})
    return events


async def test_sse_replays_after_last_event_id_then_streams_live(layer, client, user, room):
    create = sync_to_async(services.message_create)
    for i in range(1, 4):
        await create(room=room, author=user, body=f"m{i}")
    response = await client.get("/sse/rooms/lobby/", headers={"Last-Event-ID": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    replay = await sse_events(response, 2)
    assert [(e["event"], e["id"], e["data"]["message"]["body"]) for e in replay] == [
        ("message", "2", "m2"), ("message", "3", "m3"),
    ]  # fmt: skip
    message, _ = await create(room=room, author=user, body="live")
    await sync_to_async(services.message_edit)(
        room=room, actor=user, message_id=message.pk, body="live!"
    )
    await sync_to_async(services.message_delete)(room=room, actor=user, message_id=message.pk)
    live = await sse_events(response, 3)
    assert [e["event"] for e in live] == ["message", "message.updated", "message.deleted"]
    assert live[0]["id"] == "4" and live[1]["data"]["message"]["body"] == "live!"
    assert live[2]["data"] == {"type": "message.deleted", "id": message.pk, "seq": 4}
    await response.aclose() if hasattr(response, "aclose") else None


async def test_sse_needs_access(layer, other, user):
    await sync_to_async(make_room)(creator=user, name="Secret", slug="secret", is_private=True)
    outsider = AsyncClient()
    await outsider.aforce_login(other)
    assert (await outsider.get("/sse/rooms/secret/")).status_code == 404
    assert (await AsyncClient().get("/sse/rooms/lobby/")).status_code in {401, 404}


async def test_a_ban_ends_the_banned_users_sse_stream(layer, user, other, room):
    await sync_to_async(services.room_join)(room=room, user=other)
    reader = AsyncClient()
    await reader.aforce_login(other)
    response = await reader.get("/sse/rooms/lobby/")
    stream = aiter(response.streaming_content)
    assert (await within(anext(stream), 5)).startswith(b"retry:")
    # The stream is subscribed by the time it has answered: the next read waits on the hub.
    next_chunk = asyncio.ensure_future(anext(stream, None))
    await sync_to_async(services.member_ban)(room=room, actor=user, target=other)
    assert await within(next_chunk, 5) is None  # the stream ended
    assert (await reader.get("/sse/rooms/lobby/")).status_code == 403


async def test_a_ban_elsewhere_leaves_the_sse_stream_open(layer, user, other, room):
    elsewhere = await sync_to_async(make_room)(creator=user, name="Elsewhere", slug="elsewhere")
    await sync_to_async(services.room_join)(room=room, user=other)
    await sync_to_async(services.room_join)(room=elsewhere, user=other)
    reader = AsyncClient()
    await reader.aforce_login(other)
    response = await reader.get("/sse/rooms/lobby/")
    first = await within(anext(aiter(response.streaming_content)), 5)
    assert first.startswith(b"retry:")  # subscribed from here on
    await sync_to_async(services.member_ban)(room=elsewhere, actor=user, target=other)
    await sync_to_async(services.message_create)(room=room, author=user, body="still here")
    [event] = await sse_events(response, 1)
    assert event["data"]["message"]["body"] == "still here"


@pytest.mark.parametrize(
    "path", ["/sse/rooms/lobby/", "/api/rooms/lobby/messages/?after_seq=0&wait=20"]
)
async def test_a_client_gone_as_its_stream_starts_leaves_no_slot_behind(
    layer, client, room, monkeypatch, path
):
    """The client goes the moment its stream has taken its place in the caps: Django cancels
    the request wherever it is (a middleware, the answer on its way). The place is given back
    all the same; the soak once found one refreshed for ever, holding the user's cap."""
    registry = get_registry()
    taken = asyncio.Event()
    take = Registry.open

    async def open_and_tell(self, ref):
        allowed = await take(self, ref)
        taken.set()
        return allowed

    monkeypatch.setattr(Registry, "open", open_and_tell)

    bodies = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive():
        if (body := next(bodies, None)) is not None:
            return body
        await taken.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        pass

    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    url, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), (b"cookie", cookie)],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    await within(application(scope, receive, send), 10)
    assert taken.is_set()
    assert registry.owned == {}


class HeldStreams:
    """Holds each stream or long poll after it has read the room and before it subscribes (at
    its slot in the caps) until `go_on` is set."""

    def __init__(self, monkeypatch) -> None:
        from chat import views

        self.reached, self.go_on = asyncio.Event(), asyncio.Event()
        take = views.StreamSlot.take

        async def held_take(slot):
            self.reached.set()
            await self.go_on.wait()
            return await take(slot)

        monkeypatch.setattr(views.StreamSlot, "take", held_take)


async def banned_while_starting(path, user, other, room, monkeypatch):
    """`other`'s GET of `path` (a member of `room`), banned after the room was read and before
    the request subscribed; its response."""
    await sync_to_async(services.room_join)(room=room, user=other)
    reader = AsyncClient()
    await reader.aforce_login(other)
    held = HeldStreams(monkeypatch)
    request = asyncio.ensure_future(reader.get(path))
    await within(held.reached.wait(), 5)
    await sync_to_async(services.member_ban)(room=room, actor=user, target=other)
    held.go_on.set()
    return await within(request, 5)


async def test_a_ban_while_a_long_poll_starts_refuses_it(layer, user, other, room, monkeypatch):
    """It read the room, then subscribed: a ban in between was heard by nobody, and the poll
    answered the room's messages to someone banned from it."""
    await sync_to_async(services.message_create)(room=room, author=user, body="secret now")
    path = "/api/rooms/lobby/messages/?after_seq=0&wait=5"
    response = await banned_while_starting(path, user, other, room, monkeypatch)
    assert response.status_code == 403


async def test_a_ban_while_an_sse_stream_starts_ends_it(layer, user, other, room, monkeypatch):
    """The same for Server-Sent Events: the stream stayed open in the room for good."""
    response = await banned_while_starting("/sse/rooms/lobby/", user, other, room, monkeypatch)
    assert await within(anext(aiter(response.streaming_content), None), 5) is None  # ended
