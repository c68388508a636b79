"""Shared machinery for the webhook benchmarks: a PostgreSQL database, gunicorn, and wrk.

Each benchmark seeds its data, then loads one of our webhooks and the bare view (a Django view
that does nothing, on the same server) with the same client and concurrency, so the ratio says
what our code costs on top of Django itself.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "smsdesk_bench"
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "BENCH_ENDPOINTS": "true",
    "LOG_LEVEL": "WARNING",
}


def prepare_environment():
    """Point this process (and its children) at the bench database, created and migrated."""
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsdesk.settings")
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", BENCH_DB], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", BENCH_DB], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
    import django

    django.setup()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(workers=None, threads=1):
    workers = workers or (os.cpu_count() or 1) * 2 + 1
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "smsdesk.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK_SCRIPT = """
local requests = {}
local counter = 0
local data = %s
for i, item in ipairs(data) do
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  requests[i] = wrk.format("POST", item[1], headers, item[2])
end
request = function()
  counter = counter + 1
  return requests[(counter %% #requests) + 1]
end
"""


def run_wrk(base_url, requests_, connections=50, seconds=15, threads=2):
    """Load `base_url` with (path, form body) pairs in rotation; returns req/s, p50, p99 (ms)."""
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    lua_table = "{" + ",".join(f"{{{json.dumps(p)},{json.dumps(b)}}}" for p, b in requests_) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % lua_table)
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            script.name,
            base_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(script.name)
    return parse_wrk(result.stdout)


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)

    def to_ms(text):
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return _ms(value, unit)

    return {
        "rps": rps,
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def report(name, ours, bare):
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for label, figures in ((name, ours), ("bare Django view", bare)):
        print(
            f"{label:<28}{figures['rps']:>10.0f}{figures['p50_ms']:>10.1f}"
            f"{figures['p99_ms']:>10.1f}{figures['non_2xx']:>10}"
        )
    print(f"throughput ratio (ours / bare): {ours['rps'] / bare['rps']:.2f}")
    print(f"machine: {os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}")
