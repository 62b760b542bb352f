"""Issue 12's socket failure paths on real Daphne processes and Redis (findings 14, 15, 16).

A frame the app cannot parse costs that frame, not the socket or its place in the caps; what
the server sends fits what clients take (frames over 64 KiB go out, none over 1 MiB); a reader
that stays behind is closed with 4013 and its buffered bytes and socket entries are let go.
"""

import asyncio
import json

import pytest

from tests.realtime.raw_sockets import SlowReader, until_no_entries
from tests.support.clients import (
    ChatClient,
    Rest,
    close_code,
    connect_socket,
    ingest,
    metric,
    recv_json,
)
from tests.support.scale import scaled
from tests.support.yclient import NotesEditor

pytestmark = pytest.mark.integration

KiB, MiB = 1024, 1024 * 1024
POINTS = 300  # what the snapshot keeps per panel (dashboard.selectors.SNAPSHOT_POINTS)


async def test_a_frame_nested_30000_deep_costs_one_error_frame_not_the_socket(roomy_stack):
    stack = roomy_stack
    [alice] = await stack.login(1)
    async with Rest(stack.one, alice) as rest:
        slug = (await rest.create_room())["slug"]
    client = await ChatClient.open(stack.one, alice, slug)
    user_id = client.hello["user"]["id"]
    async with client:
        for text in ("[" * 30_000 + "]" * 30_000, '{"type":"ping","x":' + "[" * 30_000):
            await client.ws.send(text)
            error = await client.next_frame()
            assert (error["type"], error["code"]) == ("error", "invalid_json"), error
        await client.send({"type": "ping"})
        assert (await recv_json(client.ws))["type"] == "pong"
    assert await until_no_entries(stack.redis.url, user_id=user_id) == {}


async def dashboard_of(rest: Rest, server, panels: int) -> tuple[str, set[str]]:
    """A dashboard of `panels` line panels over one metric with a full snapshot's worth of
    recent readings: (slug, panel ids)."""
    device = await rest.create_device("big sensor")
    response = await ingest(
        server,
        device["api_key"],
        [{"metric": "temperature", "value": 20 + n / 7} for n in range(POINTS)],
    )
    assert response.status_code == 202, response.text
    dashboard = await rest.create_dashboard(
        panels=[
            {"title": f"Panel {n}", "device": device["id"], "metric": "temperature", "kind": "line"}
            for n in range(panels)
        ]
    )
    return dashboard["slug"], {str(panel["id"]) for panel in dashboard["panels"]}


async def read_snapshot(ws) -> dict[str, list]:
    """Every panel of the snapshot, however many `snapshot` frames it came in."""
    panels: dict[str, list] = {}
    while True:
        frame = await recv_json(ws)
        assert frame["type"] == "snapshot", frame
        assert not panels.keys() & frame["panels"].keys(), "a panel came twice"
        panels.update(frame["panels"])
        if not frame.get("more"):
            return panels


async def test_a_dashboard_of_seven_full_panels_loads(roomy_stack):
    """Finding 16: the 7th panel took the snapshot over 64 KiB, which the server refused to
    send, and every viewer looped on Reconnecting."""
    stack = roomy_stack
    [owner] = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        slug, panel_ids = await dashboard_of(rest, stack.one, 7)
    ws = await connect_socket(stack.two, f"/ws/dashboards/{slug}/", owner)
    try:
        panels = await read_snapshot(ws)
        assert len(json.dumps(panels)) > 64 * KiB
        assert panels.keys() == panel_ids
        assert all(len(points) == POINTS for points in panels.values())
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv_json(ws))["type"] == "pong"
    finally:
        await ws.close()


async def test_a_snapshot_over_1_mib_comes_in_frames_a_default_client_takes(roomy_stack):
    stack = roomy_stack
    [owner] = await stack.login(1)
    async with Rest(stack.one, owner) as rest:
        slug, panel_ids = await dashboard_of(rest, stack.one, 90)
    # The websockets client's default max_size is 1 MiB: a bigger frame would close it (1009).
    ws = await connect_socket(stack.one, f"/ws/dashboards/{slug}/", owner)
    try:
        panels = await read_snapshot(ws)
        assert len(json.dumps(panels)) > MiB
        assert panels.keys() == panel_ids
        assert all(len(points) == POINTS for points in panels.values())
    finally:
        await ws.close()


async def test_notes_over_64_kib_load_on_a_new_socket(roomy_stack):
    """Finding 16: a notes document over 64 KiB stopped loading for everyone."""
    stack = roomy_stack
    [alice] = await stack.login(1)
    async with Rest(stack.one, alice) as rest:
        slug = (await rest.create_room())["slug"]
    chunk = "notes " * (5 * KiB)  # 30 KiB per edit: each frame stays under the inbound limit
    async with await NotesEditor.open(stack.one, alice, slug) as writer:
        await writer.flushed()  # the server's greeting, answered while the document is empty
        for _ in range(8):
            await writer.edit(lambda text: text.insert(len(text), chunk))
        await writer.flushed()
        written = writer.text
    assert len(written) > 200 * KiB
    for server in stack.servers:
        async with await NotesEditor.open(server, alice, slug) as reader:
            assert await reader.until(lambda text: text == written) == written


@pytest.mark.scale
async def test_a_reader_that_stays_behind_is_closed_4013_and_let_go(roomy_stack):
    """Finding 14: a client that asks for `resume` again and again and never reads made the
    server buffer without bound, and kept its socket's place in the caps."""
    stack = roomy_stack
    server = stack.one
    [reader, writer] = await stack.login(2)
    async with Rest(stack.two, writer) as rest:
        slug = (await rest.create_room())["slug"]
        for n in range(100):
            await rest.post_message(slug, f"{n:03d} " + "x" * 3900)
    probe = await ChatClient.open(server, reader, slug)
    user_id = probe.hello["user"]["id"]
    await probe.close()
    assert await until_no_entries(stack.redis.url, user_id=user_id) == {}

    closed_before = await metric(server, "switchboard_sockets_too_slow_total")
    rss_before = server.rss_bytes()
    slow = await SlowReader.open(server, f"/ws/rooms/{slug}/", reader)
    try:
        # Replays of 400 KB each the client will not read: 12 MB (40 MB at full scale), well
        # beyond the 4 MiB the server may buffer for it.
        for _ in range(scaled(quick=30, full=100)):
            await slow.send_text(json.dumps({"type": "resume", "after_seq": 0}))
        # Once the server has given up on it, the client reads what reached it: a close
        # frame with 4013 at the end (the server waits a few seconds before it hangs up).
        async with asyncio.timeout(60):
            while True:
                if await metric(server, "switchboard_sockets_too_slow_total") > closed_before:
                    break
                await asyncio.sleep(0.1)  # noqa: sleep-ok polling a metric until a deadline
        rss_closed = server.rss_bytes()
        frames, code = await slow.read_to_end()
    finally:
        slow.abort()
    assert code == 4013, f"after {frames} frames the server closed with {code}"
    assert rss_closed - rss_before < 24 * MiB, (rss_closed - rss_before) / MiB
    assert await until_no_entries(stack.redis.url, user_id=user_id) == {}
    # The place it held is free: the user opens a socket and resumes.
    async with await ChatClient.open(server, reader, slug) as back:
        await back.send({"type": "resume", "after_seq": 98})
        frames = await back.frames_until(lambda f: f["type"] == "resumed", within=30)
    assert [f["message"]["seq"] for f in frames if f["type"] == "message"] == [99, 100]


async def test_a_socket_that_ignores_rate_limited_is_closed_4008_by_daphne(sqlite_stack):
    """The app's own close codes reach the client through Daphne, which takes a plain int only
    (a CloseCode member made it fail, and the client saw 1011)."""
    stack = sqlite_stack  # the shipped frame rate: 50 frames in 5 s
    [alice] = await stack.login(1)
    async with Rest(stack.one, alice) as rest:
        slug = (await rest.create_room())["slug"]
    client = await ChatClient.open(stack.one, alice, slug)
    user_id = client.hello["user"]["id"]
    for _ in range(80):
        await client.send({"type": "ping"})
    assert await close_code(client.ws) == 4008
    assert await until_no_entries(stack.redis.url, user_id=user_id) == {}
