"""A server asked to stop (SIGTERM, as a deploy or `make run`'s Ctrl+C does) exits even when
its server tasks do not stop: it waits SERVER_TASKS_STOP_SECONDS in all for them and for the
sync work they started, says which ones it gave up on, and goes. A task stuck in its cleanup
used to keep the process alive; one stuck in sync work made it wait twice as long, past what
tests/integration/test_demo.py gives `make run` to stop."""

import signal
import socket
import subprocess
import time

import pytest

from realtime.serve import EXIT_MARGIN_SECONDS, FORCED_EXIT_STATUS, SERVER_TASKS_STOP_SECONDS
from tests.support import procs
from tests.support.blocking_server import BLOCKING
from tests.support.lingering_server import STARTED as LINGERING
from tests.support.sigterm_server import TICK_DONE, TICK_STARTED
from tests.support.stubborn_server import STARTED, STARTED_SYNC
from tests.support.stuck_app import STUCK, STUCK_PATH, StuckDaphne

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
    assert server.proc.returncode == FORCED_EXIT_STATUS
    assert "server tasks still stopping; exiting without them" in log, log[-3000:]
    assert "run_stubborn" in log, log[-3000:]
    assert "the sync work they started" in log, log[-3000:]


def _wait_for_log(server: procs.DaphneProcess, *lines: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not all(any(m in line for line in server.output) for m in lines):
        assert time.monotonic() < deadline, "".join(server.output)[-3000:]
        time.sleep(0.05)  # noqa: sleep-ok polling the server's log, to a deadline


def _exits_within(server: procs.DaphneProcess, seconds: float) -> None:
    try:
        server.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server was still running {seconds} s after SIGTERM")


def test_a_sigterm_during_an_announcement_still_waits_for_the_sync_work():
    """The reactor runs its shutdown in the context of whatever the loop ran when SIGTERM came.
    Inside an async_to_sync coroutine (a simulator announcing readings) that context points
    asgiref at that call's finished executor, and the wait for the sync work failed at once:
    the loop stopped, the tick's next announcement waited for it for ever, and so did the
    process's exit (its threads are joined), with nothing logged."""
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(
            database_url=database, DJANGO_SETTINGS_MODULE="tests.support.sigterm_server"
        )
        server = procs.DaphneProcess(env, keep_output=True).start()
        try:
            _wait_for_log(server, TICK_STARTED)
            _exits_within(server, SERVER_TASKS_STOP_SECONDS + 3)
        finally:
            server.kill()
    log = "".join(server.output)
    assert server.proc.returncode == 0
    assert TICK_DONE in log, log[-3000:]
    assert "server tasks still stopping" not in log, log[-3000:]


def test_an_application_instance_that_will_not_stop_does_not_keep_the_server_running():
    """Daphne cancels every application instance once at shutdown and waited for all of them
    without a bound; one whose cleanup never ends kept the reactor from stopping. It gets what
    an instance gets once its client left, --application-close-timeout."""
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database)
        server = StuckDaphne(env, *CLOSE_TIMEOUT, keep_output=True).start()
        client = socket.create_connection(("127.0.0.1", server.port))
        try:
            client.sendall(f"GET {STUCK_PATH} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            _wait_for_log(server, STUCK)
            server.proc.send_signal(signal.SIGTERM)
            _exits_within(server, SERVER_TASKS_STOP_SECONDS + 3)
        finally:
            client.close()
            server.kill()
    log = "".join(server.output)
    assert server.proc.returncode == FORCED_EXIT_STATUS
    assert "application instances still stopping; exiting without them" in log, log[-3000:]
    assert "stuck_app.py" in log, log[-3000:]  # where it was stuck


# The application close timeout for the tests below (Daphne's default is 10 s), and the exit
# deadline that follows from it.
CLOSE_TIMEOUT = ("--application-close-timeout", "2")
EXIT_DEADLINE = max(2, SERVER_TASKS_STOP_SECONDS) + EXIT_MARGIN_SECONDS


def _stopped_by_the_exit_deadline(settings_module: str, started: str) -> str:
    """Start a server, SIGTERM it once `started` is logged; its log, once it has exited by
    the deadline with every thread's stack and a failure status."""
    with procs.sqlite_database(migrated=True) as database:
        env = procs.app_env(database_url=database, DJANGO_SETTINGS_MODULE=settings_module)
        server = procs.DaphneProcess(env, *CLOSE_TIMEOUT, keep_output=True).start()
        try:
            _wait_for_log(server, started)
            server.proc.send_signal(signal.SIGTERM)
            _exits_within(server, EXIT_DEADLINE + 3)
        finally:
            server.kill()
    log = "".join(server.output)
    assert server.proc.returncode == 1, log[-3000:]
    assert "Timeout (0:00:0" in log, log[-3000:]  # faulthandler's dump
    return log


def test_a_thread_that_never_ends_does_not_keep_the_server_running():
    """The interpreter joins every thread at exit; one that never ends (a library's worker, a
    stuck request's thread) kept the process alive after SIGTERM."""
    log = _stopped_by_the_exit_deadline("tests.support.lingering_server", LINGERING)
    assert "_linger" in log, log[-3000:]  # the stuck thread's stack


def test_a_blocked_event_loop_does_not_keep_the_server_running():
    """A task that blocks the loop keeps the reactor from ever running its shutdown: the
    deadline is armed by the signal itself, and kept by a thread that needs neither."""
    log = _stopped_by_the_exit_deadline("tests.support.blocking_server", BLOCKING)
    assert "run_blocking_the_loop" in log, log[-3000:]
