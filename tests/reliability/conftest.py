"""Processes the reliability tests start and stop themselves: a throwaway Redis, a throwaway
PostgreSQL cluster, and the app under gunicorn. None of them touches the machine's shared
Redis or PostgreSQL; each runs on a free port and is stopped at teardown."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from ..conftest import ROOT, _test_database_url

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process=None, timeout=30.0, what="a server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port} within {timeout}s")


def stop_process(process, timeout=15):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def requires_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises every writer")


def requires_redis_broker():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs Redis as the broker (set CELERY_BROKER_URL=redis://...)")


# --- A throwaway Redis ----------------------------------------------------------------------


class ThrowawayRedis:
    """`redis-server` on a free port, in memory only; stop() and start() keep the port."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, what="redis-server")
        return self

    def stop(self):
        stop_process(self.process)
        self.process = None


@pytest.fixture
def throwaway_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = ThrowawayRedis(tmp_path).start()
    yield server
    server.stop()


# --- A throwaway PostgreSQL cluster ---------------------------------------------------------


def _postgres_bin(name):
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


class ThrowawayPostgres:
    """A cluster of its own (initdb + pg_ctl) on a free port in a temporary folder.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start a PostgreSQL cluster")
            self.as_user = [runuser, "-u", "postgres", "--"]

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command, check=True):
        return subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, check=check, timeout=120
        )

    def init(self):
        initdb = _postgres_bin("initdb")
        if initdb is None:
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        result = self._run(
            initdb,
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"initdb failed: {result.stderr.strip()[-300:]}")
        return self

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run(
            _postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.folder / "server.log"),
            "start",
        )
        return self

    def stop(self, mode="fast"):
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )


@pytest.fixture
def throwaway_postgres():
    if _postgres_bin("pg_ctl") is None:
        pytest.skip("PostgreSQL server binaries (pg_ctl) are not installed")
    # Straight under /tmp: pytest's own temporary folders are closed to the postgres user.
    folder = tempfile.mkdtemp(prefix="smsdesk-pg-")
    cluster = ThrowawayPostgres(folder).init().start()
    yield cluster
    cluster.stop(mode="immediate")
    shutil.rmtree(folder, ignore_errors=True)


# --- The app under gunicorn -----------------------------------------------------------------


class AppServer:
    """`gunicorn smsdesk.wsgi` on a free port with the given environment."""

    def __init__(self, log_path, *, workers=2, threads=8, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers, self.threads = workers, threads
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONN_MAX_AGE": "0",
            **{key: str(value) for key, value in env.items()},
        }
        self.process = None

    def start(self):
        command = [GUNICORN, "smsdesk.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.workers), "--threads", str(self.threads)]
        command += ["--log-level", "warning", "--timeout", "60"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, what="gunicorn")
        return self

    def stop(self):
        stop_process(self.process)

    def log(self):
        with contextlib.suppress(OSError):
            return Path(self.log_path).read_text(errors="replace")
        return ""


@pytest.fixture
def app_server(transactional_db, tmp_path):
    """Start the app under gunicorn: `app_server(**env)`; stopped at teardown."""
    started = []

    def start(**env):
        server = AppServer(tmp_path / f"gunicorn-{len(started)}.log", **env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def http():
    session = requests.Session()
    yield session
    session.close()
