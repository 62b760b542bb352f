"""A server asked to stop (SIGTERM, as a deploy or `make run`'s Ctrl+C does) exits even when
its server tasks do not stop: it waits SERVER_TASKS_STOP_SECONDS in all for them and for the
sync work they started, says which ones it gave up on, and goes. A task stuck in its cleanup
used to keep the process alive; one stuck in sync work made it wait twice as long, past what
tests/integration/test_demo.py gives `make run` to stop."""

import signal
import subprocess
import time

import pytest

from realtime.serve import SERVER_TASKS_STOP_SECONDS
from tests.support import procs
from tests.support.stubborn_server import STARTED, STARTED_SYNC

pytestmark = pytest.mark.integration


def test_a_server_task_that_will_not_stop_does_not_keep_the_server_running():
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(
            database_url=database, DJANGO_SETTINGS_MODULE="tests.support.stubborn_server"
        )
        server = procs.DaphneProcess(env, keep_output=True).start()
        try:
            deadline = time.monotonic() + 30
            while not all(
                any(m in line for line in server.output) for m in (STARTED, STARTED_SYNC)
            ):
                assert time.monotonic() < deadline, "".join(server.output)[-3000:]
                time.sleep(0.05)  # noqa: sleep-ok polling the server's log, to a deadline
            server.proc.send_signal(signal.SIGTERM)
            # The bound plus what the reactor's own shutdown takes on a busy machine; well under
            # the bound twice over (one wait for the tasks, another for the sync work).
            try:
                server.proc.wait(SERVER_TASKS_STOP_SECONDS + 3)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"the server was still running {SERVER_TASKS_STOP_SECONDS + 3} s after SIGTERM"
                )
        finally:
            server.kill()
    log = "".join(server.output)
    assert "server tasks still stopping; exiting without them" in log, log[-3000:]
    assert "run_stubborn" in log, log[-3000:]
    assert "the sync work they started" in log, log[-3000:]
