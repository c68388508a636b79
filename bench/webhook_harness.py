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
# Several people may bench on one machine: each can name a database and a Redis db of their own.
BENCH_DB = os.environ.get("BENCH_DATABASE", "smsdesk_bench")
BENCH_REDIS_DB = os.environ.get("BENCH_REDIS_DB", "13")
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
    "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{BENCH_REDIS_DB}",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "BENCH_ENDPOINTS": "true",
    "LOG_LEVEL": "WARNING",
    # Persistent connections (the default, 60 s) without a `SELECT 1` round trip per request.
    "CONN_MAX_AGE": "60",
    "CONN_HEALTH_CHECKS": "false",
}


def prepare_environment():
    """Point this process (and its children) at the bench database, created and migrated."""
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsdesk.settings")
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", BENCH_DB],
        check=True,
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", BENCH_DB], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    subprocess.run(["redis-cli", "-n", BENCH_REDIS_DB, "flushdb"], check=True, capture_output=True)
    import django

    django.setup()


def add_server_arguments(parser):
    """The gunicorn settings, the same for our webhook and the bare view."""
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: one per core)"
    )
    parser.add_argument("--threads", type=int, default=25, help="threads per gunicorn worker")
    parser.add_argument(
        "--worker-class", default="gthread", help="gunicorn worker class (gthread, sync)"
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_round_arguments(parser):
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measure webhook and bare view alternately this many times (--seconds each) and "
        "report the median: with keep-alive, wrk's connections stay with whichever gunicorn "
        "worker accepted them, and an uneven split moves a single run by a factor of two",
    )


def alternate(run_ours, run_bare, rounds):
    """Run `run_ours(n)` and `run_bare(n)` alternately, `rounds` times; returns (ours, bare,
    ratio, pairs): the median run of each (by req/s), the median of the rounds' ratios, and
    every round's (ours, bare) for the record."""
    pairs = []
    for n in range(rounds):
        pairs.append((_balanced(run_ours, n), _balanced(run_bare, n)))
    ratios = sorted(ours["rps"] / bare["rps"] for ours, bare in pairs)
    return (
        _median_run(p[0] for p in pairs),
        _median_run(p[1] for p in pairs),
        (ratios[len(ratios) // 2]),
        pairs,
    )


def _balanced(run, n, tries=5):
    """`run(n)`, run again (up to `tries` times) while wrk's connections landed lopsided on
    the gunicorn workers: such a run measures one core, for our webhook and the bare view
    alike, and a bare run of that kind once made a round's ratio read 0.80."""
    for _ in range(tries - 1):
        figures = run(n)
        if not is_lopsided(figures):
            return figures
        print(
            f"  (run again: connections per worker {figures['connections_per_worker']})",
            file=sys.stderr,
        )
    return run(n)


def _median_run(runs):
    runs = sorted(runs, key=lambda figures: figures["rps"])
    return runs[len(runs) // 2]


def print_rounds(pairs):
    for n, (ours, bare) in enumerate(pairs, 1):
        print(
            f"  round {n}: webhook {ours['rps']:.0f} req/s (p99 {ours['p99_ms']:.1f} ms), "
            f"bare {bare['rps']:.0f} req/s (p99 {bare['p99_ms']:.1f} ms), "
            f"ratio {ours['rps'] / bare['rps']:.2f}; connections per worker "
            f"{_split_text(ours)} and {_split_text(bare)}"
        )


def _split_text(figures):
    return "/".join(str(count) for count in figures.get("connections_per_worker") or []) or "?"


def add_load_run_arguments(parser):
    parser.add_argument(
        "--load-run",
        action="store_true",
        help="also load the webhook with --load-connections clients for --load-seconds (issue 10)",
    )
    parser.add_argument("--load-connections", type=int, default=200)
    parser.add_argument("--load-seconds", type=int, default=60)


def stored_events():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_webhookevent")
        return cursor.fetchone()[0]


def result(args, ours, bare, ratio, load=None, **extra):
    """The JSON of the BENCH_RESULT line."""
    keep = ("rps", "p50_ms", "p99_ms", "requests", "non_2xx", "socket_errors", "cpu_ms_per_request")
    figures = {
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": getattr(args, "rounds", 1),
        "server": server_description(args),
        "webhook": {k: ours[k] for k in keep},
        "bare": {k: bare[k] for k in keep},
        "webhook_rps": round(ours["rps"], 1),
        "bare_rps": round(bare["rps"], 1),
        "webhook_p50_ms": ours["p50_ms"],
        "webhook_p99_ms": ours["p99_ms"],
        "ratio": round(ratio, 3),
        "cpu_ratio": round(cpu_ratio(ours, bare), 3),
        "target": "ratio >= 0.5 and webhook p99 < 50 ms",
        "target_met": target_met(ratio, ours),
        "load_average_during": [ours["load_average_1m_after"], bare["load_average_1m_after"]],
        **extra,
    }
    if load is not None:
        figures["load_run"] = {
            "connections": args.load_connections,
            "seconds": args.load_seconds,
            **{k: load[k] for k in (*keep, "errors", "zero_errors")},
        }
    return figures


def default_workers():
    return os.cpu_count() or 1


@contextmanager
def gunicorn(workers=None, threads=25, worker_class="gthread"):
    workers = workers or default_workers()
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
        "--worker-class",
        worker_class,
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


def warm_up(run_for, rounds=12):
    """Load the server in short runs until it answers steadily: gunicorn workers import the app
    on their first request, which takes several seconds each on a busy 2-core machine, and a
    measured run that starts earlier counts that time as the endpoint's. `run_for(seconds)`
    runs one load and returns its figures."""
    steady = 0
    for _ in range(rounds):
        figures = run_for(2)
        steady = steady + 1 if figures["rps"] > 0 and figures["p99_ms"] < 1000 else 0
        if steady == 2:
            return
    print("warning: the server did not answer steadily during the warm-up", file=sys.stderr)


def run_wrk(base_url, requests_, connections=50, seconds=15, threads=2):
    """Load `base_url` with (path, form body) pairs in rotation; returns req/s, p50, p99 (ms)."""
    lua_table = "{" + ",".join(f"{{{json.dumps(p)},{json.dumps(b)}}}" for p, b in requests_) + "}"
    return run_wrk_script(WRK_SCRIPT % lua_table, base_url, connections, seconds, threads)


def run_wrk_script(script_text, base_url, connections, seconds, threads=2):
    """Run wrk with a Lua script; the figures, the load average seen during the run and the CPU
    time per answered request of the server's processes included."""
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", "10s", "--latency", "-s", script.name, base_url]
    server = server_processes(base_url)
    cpu_before = cpu_seconds(server)
    try:
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        split = connection_split(base_url, connections)
        stdout, stderr = wrk.communicate()
        if wrk.returncode:
            raise subprocess.CalledProcessError(wrk.returncode, command, stdout, stderr)
    finally:
        os.unlink(script.name)
    cpu_after = cpu_seconds(server)
    figures = parse_wrk(stdout)
    figures["connections_per_worker"] = split
    figures["load_average_1m_after"] = os.getloadavg()[0]
    answered = max(figures["requests"], 1)
    figures["cpu_ms_per_request"] = {
        name: round(1000 * seconds / answered, 3)
        for name, seconds in cpu_used(cpu_before, cpu_after).items()
    }
    return figures


def connection_split(base_url, connections, wait=3.0) -> list[int]:
    """How wrk's keep-alive connections are spread over the gunicorn workers, once they are all
    open (or after `wait` seconds): each stays with the worker that accepted it for the whole
    run, so a 38/12 split leaves one worker (one core) with most of the load."""
    port = int(base_url.rsplit(":", 1)[1])
    workers = _worker_pids(base_url)
    deadline = time.monotonic() + wait
    while True:
        inodes = _established_inodes(port)
        if len(inodes) >= connections or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    counts = []
    for pid in workers:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        counts.append(sum(1 for link in links if link[8:-1] in inodes))
    return sorted(counts, reverse=True)


def _worker_pids(base_url) -> list[str]:
    text = server_processes(base_url)["gunicorn"]
    pids = set(cpu_seconds({"gunicorn": text})["gunicorn"])
    parents = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parents[pid] = stat.read().rsplit(")", 1)[1].split()[1]
        except OSError:  # a worker gunicorn replaced meanwhile
            continue
    return [pid for pid, parent in parents.items() if parent in pids]


def _established_inodes(port) -> set[str]:
    """Inodes of the server side of established TCP connections on `port` (127.0.0.1)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


def is_lopsided(figures) -> bool:
    """One worker holds more than 60% of the connections (e.g. 31 of 50)."""
    split = figures.get("connections_per_worker") or []
    return len(split) > 1 and sum(split) > 0 and split[0] > 0.6 * sum(split)


def server_processes(base_url):
    """Which processes serve the benchmark, by a text of their command line: this gunicorn (its
    port) and the PostgreSQL backends connected to the bench database (their title names it)."""
    port = base_url.rsplit(":", 1)[1]
    return {"gunicorn": f"127.0.0.1:{port}", "postgres": f"postgres {BENCH_DB} "}


def cpu_seconds(processes):
    """{name: {pid: user + system CPU seconds so far}} of the processes whose command line holds
    each text. It is a busy machine's least distorted figure: the ratio of two runs' CPU per
    request does not depend on how much CPU other people's jobs took meanwhile."""
    found = {name: {} for name in processes}
    hertz = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        for name, text in processes.items():
            if text in command:
                found[name][pid] = (int(fields[11]) + int(fields[12])) / hertz
    return found


def cpu_used(before, after) -> dict:
    """CPU seconds each group used between two `cpu_seconds` readings. A process that started
    meanwhile counts whole; one that ended meanwhile (a database connection closed after
    CONN_MAX_AGE) took its last figures with it, so this errs low, never below zero."""
    return {
        name: sum(seconds - before[name].get(pid, 0.0) for pid, seconds in after[name].items())
        for name in after
    }


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    total = re.search(r"(\d+) requests in", output)
    socket_errors = sum(int(n) for n in re.findall(r"\w+ (\d+)", errors.group(1))) if errors else 0

    def to_ms(text):
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return _ms(value, unit)

    return {
        "rps": rps,
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors,
        "socket_error_detail": errors.group(1) if errors else "",
    }


def report(name, ours, bare, extra=(), ratio=None):
    """Print the table; returns the ratio (ours / bare unless given, e.g. the median of
    rounds). `extra` adds (label, figures) rows."""
    header = f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}"
    print(header + f"{'CPU ms/req: web':>18}{'db':>7}")
    for label, figures in ((name, ours), ("bare Django view", bare), *extra):
        cpu = figures["cpu_ms_per_request"]
        print(
            f"{label:<34}{figures['rps']:>9.0f}{figures['p50_ms']:>9.1f}"
            f"{figures['p99_ms']:>9.1f}{figures['non_2xx']:>9}{figures['socket_errors']:>9}"
            f"{cpu['gunicorn']:>18.3f}{cpu['postgres']:>7.3f}"
        )
    ratio = ours["rps"] / bare["rps"] if ratio is None else ratio
    print(f"throughput ratio (ours / bare): {ratio:.2f}")
    print(f"CPU ratio (bare's CPU per request / ours, web + db): {cpu_ratio(ours, bare):.2f}")
    print(f"machine: {machine()}")
    return ratio


def cpu_ratio(ours, bare):
    """What the throughput ratio would be if CPU were the only limit: the share of a request's
    CPU time the bare view needs, less sensitive to other jobs on the machine than req/s."""
    return sum(bare["cpu_ms_per_request"].values()) / max(
        sum(ours["cpu_ms_per_request"].values()), 1e-9
    )


def machine():
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": os.cpu_count(),
        "load_average": load,
        "python": sys.version.split()[0],
        "platform": sys.platform,
    }


def server_description(args):
    workers = args.workers or default_workers()
    return f"gunicorn {args.worker_class} x{workers} workers x{args.threads} threads"


def target_met(ratio, ours):
    """Issues 4 and 5: at least half the bare view's throughput, p99 under 50 ms."""
    return ratio >= 0.5 and ours["p99_ms"] < 50.0


def print_result(name, result):
    """The LAST line of every bench script: `BENCH_RESULT {json}` (bench/run_all.py reads it)."""
    print("BENCH_RESULT " + json.dumps({"name": name, **result, "machine": machine()}))


def load_run_figures(figures):
    """Issue 10: a 200-client load run must end with zero errors (non-2xx or socket errors)."""
    errors = figures["non_2xx"] + figures["socket_errors"]
    return {**figures, "errors": errors, "zero_errors": errors == 0}
