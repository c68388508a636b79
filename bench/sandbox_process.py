"""The sandbox as a separate process, for benchmarks that send to it over real sockets."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exotel_client.sandbox import (  # noqa: E402
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
)

READY_TIMEOUT = 20.0


def start_sandbox(port: int, tls: tuple[str, str] | None) -> subprocess.Popen:
    """Status steps pushed an hour out, so no callback traffic competes with the sends."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EXOTEL_API_KEY": SANDBOX_API_KEY,
        "EXOTEL_API_TOKEN": SANDBOX_API_TOKEN,
        "EXOTEL_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
    }
    command = [sys.executable, "-m", "exotel_client.sandbox", "--port", str(port)]
    command += ["--callback-delay", "3600"]
    if tls:
        command += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def self_signed_certificate() -> Iterator[tuple[str, str]]:
    """A certificate for 127.0.0.1, trusted through REQUESTS_CA_BUNDLE.

    The environment variable (rather than ``verify=``) keeps the seed's call unchanged, and
    child processes (a worker) inherit it.
    """
    if shutil.which("openssl") is None:
        raise SystemExit("HTTPS runs need openssl")
    with tempfile.TemporaryDirectory() as folder:
        cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
        command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        command += ["-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1"]
        subprocess.run(command, check=True, capture_output=True)
        saved = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = cert
        try:
            yield cert, key
        finally:
            os.environ.pop("REQUESTS_CA_BUNDLE")
            if saved is not None:
                os.environ["REQUESTS_CA_BUNDLE"] = saved


def wait_ready(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"sandbox exited with {process.returncode}")
        try:
            requests.get(f"{base_url}/sandbox/health", timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise SystemExit(f"sandbox not ready after {READY_TIMEOUT:g} s")


def reset(base_url: str) -> None:
    requests.post(f"{base_url}/sandbox/reset", timeout=10).raise_for_status()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
