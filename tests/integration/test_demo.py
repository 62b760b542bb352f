"""`make run`'s demo moves: started exactly as the Makefile starts it (its `serve-demo` recipe,
the in-memory layer, no Redis), the demo dashboard's socket gets live readings from the server
sampler and the device simulator without a reload. Run as processes of their own, as people
with Redis do, the commands still reach every server."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from realtime.serve import SERVER_TASKS_STOP_SECONDS
from tests.support import procs
from tests.support.clients import Account, Rest, connect_socket, login, recv_json

pytestmark = pytest.mark.integration

DEMO_PASSWORD = "switchboard-demo"  # chat/management/commands/seed_demo.py


@pytest.fixture
def demo(tmp_path) -> Iterator[procs.Loopback]:
    with procs.sqlite_database() as database:
        env = procs.app_env(database_url=database)
        del env["DJANGO_SETTINGS_MODULE"]  # `make run` sets none: DJANGO_DEBUG=1 picks local
        server = procs.Loopback()
        server.port = procs.free_port()
        # The demo's MQTT broker on a port and in a directory of its own: never those of a
        # `make run` going on in this worktree.
        mqtt = [f"MQTT_PORT={procs.free_port()}", f"MQTT_DIR={tmp_path / 'mqtt'}"]
        output: list[str] = []
        # A session of its own, so the whole tree the recipe starts can be stopped at once.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve-demo", f"PORT={server.port}", *mqtt],
            cwd=procs.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            procs._wait_for_line(make, "Listening on TCP address", 120, "make serve-demo", output)
            server.output = output
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGTERM)
            try:
                make.wait(SERVER_TASKS_STOP_SECONDS + 5)
            except subprocess.TimeoutExpired:
                left = subprocess.run(
                    ["ps", "-o", "pid,stat,args", "-g", str(make.pid)],
                    capture_output=True, text=True,
                ).stdout  # fmt: skip
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()
                # A simulator tick left in a thread once kept the server from ever exiting.
                pytest.fail(
                    f"the demo did not stop on SIGTERM within {SERVER_TASKS_STOP_SECONDS + 5} s; "
                    f"still running:\n{left}\n"
                    f"its last lines:\n{''.join(output[-40:])}"
                )


async def panel_titles(server: procs.Loopback, account: Account) -> dict[int, str]:
    """The demo dashboard's panel titles by id, from the REST API."""
    async with httpx.AsyncClient(
        base_url=server.http, cookies={"sessionid": account.sessionid}, trust_env=False
    ) as http:
        dashboard = (await http.get("/api/dashboards/ops/")).json()
    return {panel["id"]: panel["title"] for panel in dashboard["panels"]}


async def test_make_run_demo_dashboard_moves_without_a_reload(demo):
    account = await login(demo.http, "bob", DEMO_PASSWORD)
    titles = await panel_titles(demo, account)
    socket = await connect_socket(demo, "/ws/dashboards/ops/", account)
    assert (await recv_json(socket))["type"] == "snapshot"
    live: set[str] = set()
    wanted = {"Server CPU", "Greenhouse temperature"}  # the sampler's and the simulator's
    while not wanted <= live:
        frame = await recv_json(socket, within=15)
        if frame["type"] == "readings":
            assert frame["points"], frame
            live.add(titles[frame["panel"]])
    await socket.close()
    # The Markets and Fleet dashboards move too: their simulators run inside the server.
    for slug in ("markets", "fleet"):
        socket = await connect_socket(demo, f"/ws/dashboards/{slug}/", account)
        assert (await recv_json(socket))["type"] == "snapshot"
        frame = await recv_json(socket, within=15)
        while frame["type"] != "readings":
            frame = await recv_json(socket, within=15)
        assert frame["points"], frame
        await socket.close()


def test_make_run_demo_bridges_its_own_mqtt_broker(demo):
    """The demo's Mosquitto takes the server's admin client: the bridge syncs the devices and
    subscribes to readings. (Run as root under a directory only root may enter, the broker
    once refused every client, and nothing but the log said so.)"""
    bridged = "mqtt bridge: subscribed to"
    deadline = time.monotonic() + 30
    while not any(bridged in line for line in demo.output) and time.monotonic() < deadline:
        time.sleep(0.1)  # noqa: sleep-ok polling the server's log, to a deadline
    log = "".join(demo.output)
    assert "mqtt bridge: broker in sync" in log, log[-4000:]
    assert "not authorised" not in log, log[-4000:]


async def test_simulate_devices_as_its_own_process_reaches_the_servers_over_redis(sqlite_stack):
    stack = sqlite_stack
    [owner] = await stack.login(1)
    simulate = ("simulate_devices", "--owner", owner.username, "--interval", "0.2")
    await asyncio.to_thread(procs.manage, stack.env, *simulate, "--count", "1")  # its devices
    async with Rest(stack.one, owner) as rest:
        devices = {device["name"]: device["id"] for device in await rest.get("/api/devices/")}
        dashboard = await rest.create_dashboard(panels=[{
            "title": "Greenhouse", "device": devices["Greenhouse"], "metric": "temperature",
            "kind": "line"}])  # fmt: skip
    socket = await connect_socket(stack.two, f"/ws/dashboards/{dashboard['slug']}/", owner)
    assert (await recv_json(socket))["type"] == "snapshot"
    await asyncio.to_thread(procs.manage, stack.env, *simulate, "--count", "3")
    frame = await recv_json(socket, within=10)
    assert frame["type"] == "readings" and frame["panel"] == dashboard["panels"][0]["id"]
    await socket.close()
