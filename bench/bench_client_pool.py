"""Pooled ExotelClient versus the seed's one-``requests.post``-per-message style.

Starts the sandbox as a subprocess (status steps pushed an hour out and no StatusCallback, so
no callback traffic competes with the sends), sends ``--count`` messages each way, one at a
time from one thread, and prints messages per second and the ratio. It does this twice: over
plain HTTP, and over HTTPS with a throwaway self-signed certificate, because Exotel is
HTTPS-only and a TLS handshake per message is what the seed's style really costs.

    .venv/bin/python bench/bench_client_pool.py [--count 10000] [--no-tls]
"""

import argparse
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exotel_client import ExotelClient  # noqa: E402
from exotel_client.sandbox import (  # noqa: E402
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
)

BODY = "Your order 12345 has shipped and will reach you in 2-3 days."
SENDER = "SNDBOX"
WARM_UP = 200
READY_TIMEOUT = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per style")
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS comparison")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    _compare("http", args.count, tls=None)
    if args.no_tls:
        return 0
    if shutil.which("openssl") is None:
        print("https: skipped (no openssl to make a certificate)")
        return 0
    with _self_signed_certificate() as tls:
        _compare("https", args.count, tls=tls)
    return 0


def _compare(label: str, count: int, tls: tuple[str, str] | None) -> None:
    """Seed style then pooled client against one fresh sandbox; prints both and the ratio."""
    port = _free_port()
    base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    sandbox = _start_sandbox(port, tls)
    try:
        _wait_ready(base_url, sandbox)
        seed = _measure(f"{label}: seed requests.post", _seed_sender(base_url), count)
        _reset(base_url)
        with _client(base_url) as client:
            pooled = _measure(f"{label}: pooled ExotelClient", _pooled_sender(client), count)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print(f"{label}: ratio pooled/seed = {pooled / seed:.2f}x (target >= 2x)", flush=True)


def _seed_sender(base_url: str) -> Callable[[str], None]:
    """Exactly the seed's call: a fresh requests.post (new session, new TCP connection)."""
    url = f"{base_url}/v1/Accounts/{SANDBOX_ACCOUNT_SID}/Sms/send.json"

    def send(to: str) -> None:
        data = {"From": SENDER, "To": to, "Body": BODY}
        response = requests.post(url, auth=(SANDBOX_API_KEY, SANDBOX_API_TOKEN), data=data)
        response.raise_for_status()
        response.json()

    return send


def _client(base_url: str) -> ExotelClient:
    return ExotelClient(SANDBOX_API_KEY, SANDBOX_API_TOKEN, SANDBOX_ACCOUNT_SID, base_url=base_url)


def _pooled_sender(client: ExotelClient) -> Callable[[str], None]:
    def send(to: str) -> None:
        client.send_sms(to, BODY, sender=SENDER)

    return send


def _measure(label: str, send: Callable[[str], None], count: int) -> float:
    """Warm up, then time ``count`` sequential sends; returns messages per second."""
    for i in range(WARM_UP):
        send(_number(i))
    started = time.perf_counter()
    for i in range(count):
        send(_number(i))
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    print(f"{label:32s} {count} messages in {elapsed:6.2f} s = {rate:6.0f} msg/s", flush=True)
    return rate


def _number(i: int) -> str:
    return f"+9198{i % 100_000_000:08d}"


def _start_sandbox(port: int, tls: tuple[str, str] | None) -> subprocess.Popen:
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
def _self_signed_certificate() -> Iterator[tuple[str, str]]:
    """A certificate for 127.0.0.1, trusted by both styles through REQUESTS_CA_BUNDLE.

    The environment variable (rather than ``verify=``) keeps the seed's call unchanged.
    """
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


def _wait_ready(base_url: str, process: subprocess.Popen) -> None:
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


def _reset(base_url: str) -> None:
    requests.post(f"{base_url}/sandbox/reset", timeout=10).raise_for_status()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
