"""Real server processes for tests and benchmarks: redis-server, PostgreSQL, Mosquitto, Daphne.

Each starts on a free loopback port, is awaited by reading the line its program prints when it
is ready (never by sleeping), and is stopped when its context exits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PASSWORD = "pw-Switchboard-1"  # every test user's


def terminate(proc: subprocess.Popen | None) -> None:
    """Stop a child politely (SIGTERM), and for good (SIGKILL) if it has not gone in 10 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_line(
    proc: subprocess.Popen, needle: str, timeout: float, what: str, keep: list[str] | None = None
) -> None:
    """Read the process's output until `needle` appears; fail with what it printed otherwise.

    The output is drained afterwards; with `keep`, every line is appended to it as well."""
    seen: list[str] = []
    found = False
    settled = threading.Event()  # the line appeared, or the output ended (the process died)

    def pump() -> None:
        nonlocal found
        for line in proc.stdout:
            seen.append(line)
            if keep is not None:
                keep.append(line)
            if needle in line:
                found = True
                break
        settled.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    settled.wait(timeout)
    if not found:
        proc.kill()
        raise RuntimeError(f"{what} did not start:\n{''.join(seen)[-4000:]}")
    # Keep draining so a chatty child never blocks on a full pipe.
    sink = (lambda line: None) if keep is None else keep.append
    threading.Thread(target=lambda: [sink(line) for line in proc.stdout], daemon=True).start()


class RedisServer:
    """A private redis-server on a free port; `kill()` and `start()` for fault tests. With
    `replica_of`, a replica of the redis-server on that port."""

    def __init__(self, *, replica_of: int | None = None) -> None:
        self.port = free_port()
        self.replica_of = replica_of
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else []),
            ],  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, "Ready to accept connections", 20, "redis-server")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> RedisServer:
        """Kill (SIGKILL) and start again on the same port: a Redis that forgot everything."""
        self.kill()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


class MosquittoServer:
    """A private Mosquitto (Debian's) on a free port, configured as `make run` configures its
    own (`manage.py mqtt_dev_broker`): dynamic security with one admin client (the app's broker
    administrator and bridge), no anonymous clients, persistence on, so `restart()` (a clean
    stop, then a start on the same port) keeps sessions and queued QoS 1 messages."""

    ready = " running"  # "mosquitto version 2.0.11 running"

    def __init__(self) -> None:
        if not shutil.which("mosquitto") and not os.path.exists("/usr/sbin/mosquitto"):
            raise RuntimeError("Mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-mqtt-"))
        self.proc: subprocess.Popen | None = None
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
        args = ["mqtt_dev_broker", "--dir", str(self.dir), "--port", str(self.port)]
        manage(env, *args)
        self.admin_user = "switchboard"
        self.admin_password = (self.dir / "admin-password").read_text().strip()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoServer:
        self.proc = subprocess.Popen(
            [
                shutil.which("mosquitto") or "/usr/sbin/mosquitto",
                "-c",
                str(self.dir / "mosquitto.conf"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, self.ready, 20, "mosquitto")
        return self

    def stop(self) -> None:
        """A clean stop (SIGTERM): Mosquitto writes its persistence file on the way out."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> MosquittoServer:
        self.stop()
        return self.start()

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ManageProcess:
    """`manage.py <command>` as a long-running process (e.g. mqtt_bridge), awaited by a line."""

    def __init__(self, env: dict[str, str], *args: str, ready: str) -> None:
        self.env, self.args, self.ready = env, args, ready
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self) -> ManageProcess:
        self.proc = subprocess.Popen(
            [PYTHON, "manage.py", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, self.ready, 60, f"manage.py {self.args[0]}", self.output)
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def __enter__(self) -> ManageProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SentinelServer:
    """A Redis Sentinel (redis-server --sentinel) watching the primary on `primary_port` as
    `master`; alone, so a quorum of one lets it fail over within seconds of the primary's death."""

    def __init__(self, primary_port: int, master: str = "mymaster") -> None:
        self.port = free_port()
        self.primary_port = primary_port
        self.master = master
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="switchboard-sentinel-")

    def start(self) -> SentinelServer:
        config = Path(self._dir.name) / "sentinel.conf"  # Sentinel rewrites its own config
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode no\ndir {self._dir.name}\n"
            f"sentinel monitor {self.master} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {self.master} 1000\n"
            f"sentinel failover-timeout {self.master} 10000\n"
        )
        self.proc = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, f"+monitor master {self.master}", 20, "redis sentinel")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> SentinelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's binaries) on a free port, trust auth."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.proc: subprocess.Popen | None = None
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = Path(bins[-1])

    def _as_postgres(self, args: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root; CI runs as root.
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def url(self, database: str = "switchboard") -> str:
        return f"postgres://switchboard@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            self._as_postgres(
                [str(self.bin / "initdb"), "-D", str(data), "-U", "switchboard", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            self._as_postgres(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=100",
                ]  # fmt: skip
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, "ready to accept connections", 60, "postgres")
        subprocess.run(
            self._as_postgres(
                [
                    str(self.bin / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "switchboard",
                    "switchboard",
                ]  # fmt: skip
            ),
            check=True,
            capture_output=True,
        )
        return self

    def _signal_postmaster(self, signum: int) -> None:
        # Under runuser (root), self.proc is runuser, which does not forward SIGINT and whose
        # death leaves postgres running: signal the postmaster itself, named by postmaster.pid.
        try:
            pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            self.proc.send_signal(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._signal_postmaster(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self._signal_postmaster(signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def app_env(*, database_url: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a Switchboard process runs with in tests (test settings, given services)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        # Uploads (attachments) of the processes sharing this environment: never the worktree's.
        "SWITCHBOARD_MEDIA_ROOT": _temporary_directory("switchboard-media-"),
        **extra,
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _temporary_directory(prefix: str) -> str:
    """A directory removed when this process exits (the servers using it have stopped by then)."""
    directory = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command against the same database the servers use."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def create_users(
    env: dict[str, str], *usernames: str, password: str = PASSWORD, sessions: Path | None = None
) -> None:
    """Create users in one manage.py call. With `sessions`, also a logged-in session for each,
    as the login page makes it (user id, backend, password hash), its key written to that JSON
    file by username: browser tests start logged in without two page loads per person."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "U = get_user_model()\n"
        "users = {}\n"
        f"for name in {list(usernames)!r}:\n"
        "    users[name] = U.objects.filter(username=name).first()\n"
        "    if users[name] is None:\n"
        f"        users[name] = U.objects.create_user(name, password={password!r})\n"
    )
    if sessions is not None:
        code += (
            "import importlib, json\n"
            "from django.conf import settings\n"
            "from django.contrib import auth\n"
            "Store = importlib.import_module(settings.SESSION_ENGINE).SessionStore\n"
            "keys = {}\n"
            "for name, user in users.items():\n"
            "    session = Store()\n"
            "    session[auth.SESSION_KEY] = str(user.pk)\n"
            "    session[auth.BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
            "    session[auth.HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "    session.create()\n"
            "    keys[name] = session.session_key\n"
            f"open({str(sessions)!r}, 'w').write(json.dumps(keys))\n"
        )
    manage(env, "shell", "-c", code)


class Loopback:
    """Something that listens on 127.0.0.1:`port`."""

    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class DaphneProcess(Loopback):
    """`python -m realtime.serve` (Daphne) on a free port with the given environment."""

    ready = "Listening on TCP address"  # the line that says it serves

    def __init__(self, env: dict[str, str], *options: str, keep_output: bool = False) -> None:
        self.env = env
        self.options = options  # more Daphne options, e.g. "--ping-interval", "1"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        # With keep_output, every line the process prints (its logs), across restarts.
        self.output: list[str] | None = [] if keep_output else None

    def command(self) -> list[str]:
        return [
            PYTHON, "-m", "realtime.serve", "-v", "1", "-b", "127.0.0.1", "-p", str(self.port),
            *self.options, "config.asgi:application",
        ]  # fmt: skip

    def start(self) -> DaphneProcess:
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(self.proc, self.ready, 60, self.command()[2], self.output)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def rss_bytes(self) -> int:
        """Resident memory of the server process (VmRSS in /proc/<pid>/status)."""
        return vm_rss_bytes(self.pid)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        terminate(self.proc)

    def __enter__(self) -> DaphneProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def vm_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextlib.contextmanager
def sqlite_database(
    *, migrated: bool = False, users: tuple[str, ...] = (), password: str = PASSWORD
) -> Iterator[str]:
    """A fresh SQLite file; yields its DATABASE_URL. A `migrated` one (with `users`, if any)
    is a copy of a database made once per process: a second or two saved on every server
    a test suite starts."""
    with tempfile.TemporaryDirectory(prefix="switchboard-db-") as tmp:
        path = Path(tmp) / "db.sqlite3"
        if migrated or users:
            _copy_sqlite(_template(tuple(users), password) if users else _migrated(), path)
        yield f"sqlite:///{path}"


# A directory of template databases that the processes of one test run share (pytest-xdist's
# workers inherit it from the controller, tests/conftest.py): the first to need a template
# builds it, the others wait for it and copy it. Without it, each process builds its own.
TEMPLATES_ENV = "SWITCHBOARD_TEST_TEMPLATES"


@functools.cache
def _migrated() -> Path:
    return _built("migrated", lambda path: manage(_env_of(path), "migrate", "-v0"))


@functools.cache
def _template(users: tuple[str, ...], password: str) -> Path:
    migrated = _migrated()  # first: building takes the lock, and this would take it again

    def build(path: Path) -> None:
        _copy_sqlite(migrated, path)
        create_users(_env_of(path), *users, password=password, sessions=_sessions_of(path))

    key = hashlib.sha256(repr((users, password)).encode()).hexdigest()[:16]
    return _built(f"users-{key}", build)


def _sessions_of(template: Path) -> Path:
    return template.with_suffix(".sessions.json")


def template_sessions(users: tuple[str, ...], password: str = PASSWORD) -> dict[str, str]:
    """The key of a logged-in session of each of `users`, in every database that
    `sqlite_database(users=users, password=password)` gives: {username: session key}."""
    return json.loads(_sessions_of(_template(tuple(users), password)).read_text())


def _env_of(path: Path) -> dict[str, str]:
    return app_env(database_url=f"sqlite:///{path}")


def _built(name: str, build) -> Path:
    """The template `name`, built by `build(path)` unless a process of this run has built it."""
    directory = _templates_dir()
    path, done = directory / f"{name}.sqlite3", directory / f"{name}.done"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            # Built where it stays (a WAL file beside it keeps its name): `done` says it is whole.
            path.unlink(missing_ok=True)
            build(path)
            done.touch()
    return path


@functools.cache
def _templates_dir() -> Path:
    shared = os.environ.get(TEMPLATES_ENV)
    if shared:
        return Path(shared)
    directory = Path(tempfile.mkdtemp(prefix="switchboard-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def _copy_sqlite(source: Path, target: Path) -> None:
    with (
        contextlib.closing(sqlite3.connect(source)) as reader,
        contextlib.closing(sqlite3.connect(target)) as writer,
    ):
        reader.backup(writer)
