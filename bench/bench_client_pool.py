"""Pooled ExotelClient versus the seed's one-``requests.post``-per-message style.

Starts the sandbox as a subprocess (status steps pushed an hour out and no StatusCallback, so
no callback traffic competes with the sends), sends ``--count`` messages each way, one at a
time from one thread, and prints messages per second and the ratio. It does this twice: over
plain HTTP, and over HTTPS with a throwaway self-signed certificate, because Exotel is
HTTPS-only and a TLS handshake per message is what the seed's style really costs.

    .venv/bin/python bench/bench_client_pool.py [--count 10000] [--no-tls]
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exotel_client import ExotelClient  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sandbox_process  # noqa: E402

from exotel_client.sandbox import (  # noqa: E402
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
)

BODY = "Your order 12345 has shipped and will reach you in 2-3 days."
SENDER = "SNDBOX"
WARM_UP = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per style")
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS comparison")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    ratios = {"http": _compare("http", args.count, tls=None)}
    if args.no_tls:
        pass
    elif shutil.which("openssl") is None:
        print("https: skipped (no openssl to make a certificate)")
    else:
        with sandbox_process.self_signed_certificate() as tls:
            ratios["https"] = _compare("https", args.count, tls=tls)
    _print_result(ratios, args.count)
    return 0


def _print_result(ratios: dict[str, float], count: int) -> None:
    """The last line, for bench/run_all.py: one row per transport (Exotel is HTTPS-only)."""
    rows = [
        {
            "benchmark": f"client pool vs seed ({transport}, {count} sends)",
            "figure": f"{ratio:.2f}x",
            "target": ">= 2x",
            "met": ratio >= 2,
        }
        for transport, ratio in ratios.items()
    ]
    result = {
        "name": "client_pool",
        "rows": rows,
        "nproc": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def _compare(label: str, count: int, tls: tuple[str, str] | None) -> float:
    """Seed style then pooled client against one fresh sandbox; prints and returns the ratio."""
    port = sandbox_process.free_port()
    base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    sandbox = sandbox_process.start_sandbox(port, tls)
    try:
        sandbox_process.wait_ready(base_url, sandbox)
        seed = _measure(f"{label}: seed requests.post", _seed_sender(base_url), count)
        sandbox_process.reset(base_url)
        with _client(base_url) as client:
            pooled = _measure(f"{label}: pooled ExotelClient", _pooled_sender(client), count)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print(f"{label}: ratio pooled/seed = {pooled / seed:.2f}x (target >= 2x)", flush=True)
    return pooled / seed


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


if __name__ == "__main__":
    sys.exit(main())
