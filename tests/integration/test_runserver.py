"""`python manage.py runserver` is Daphne's: it serves pages and WebSockets, as Django
developers expect."""

import subprocess

import pytest

from tests.support import procs
from tests.support.clients import ChatClient, Rest, login

pytestmark = pytest.mark.integration


class Runserver(procs.Loopback):
    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.port = env, procs.free_port()


@pytest.fixture
def runserver():
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database, DJANGO_SETTINGS_MODULE="config.settings.local")
        procs.create_users(env, "dev0")
        server = Runserver(env)
        proc = subprocess.Popen(
            [procs.PYTHON, "manage.py", "runserver", f"127.0.0.1:{server.port}", "--noreload"],
            cwd=procs.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            procs._wait_for_line(proc, "Listening on TCP address", 60, "runserver")
            yield server
        finally:
            proc.terminate()
            proc.wait(10)


async def test_runserver_serves_pages_and_sockets(runserver):
    account = await login(runserver.http, "dev0")
    async with Rest(runserver, account) as rest:
        room = await rest.create_room(name="Dev")
        client = await ChatClient.open(runserver, account, room["slug"])
        await client.send_message("hello from runserver")
        [message] = await client.messages(1)
        assert message["body"] == "hello from runserver"
        await client.close()
