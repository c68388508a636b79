"""A 100,000-recipient campaign against the sandbox, beside the seed's bulk loop.

1. Starts the sandbox as a subprocess (status steps an hour out, so no callback traffic).
2. **Seed**: `shared/seeds/000_*`'s `/api/sms/bulk` loop, one `requests.post` per recipient,
   serially, for `--seed-count` recipients (1,000).
3. **Import**: writes a 100,000-row CSV (phone, name, day) and imports it into a campaign
   (`campaign_audience.import_csv`, the code admin and `send_campaign` use); prints the time.
4. **Campaign**: starts one real `celery -A smsdesk worker` (`--pool`, `--concurrency`
   dispatchers) on a fresh database and broker, starts the campaign with no rate limit, and
   times it from start to completed: messages per second dispatched (accepted by the sandbox
   and recorded as Messages). The worker's peak RSS is the `VmHWM` from /proc of the worker
   process plus its pool processes (summed).

    .venv/bin/python bench/bench_campaign.py [--recipients 100000] [--tls]

The last line printed is `BENCH_RESULT {json}` (bench/run_all.py collects it): the figures,
the ratio, which targets are met, CPU time per message of the worker and the sandbox (less
sensitive to a busy machine than rates), and the machine's nproc and load average.

Zero setup by default (SQLite under var/ and the filesystem broker); set DATABASE_URL and
CELERY_BROKER_URL to bench PostgreSQL and Redis. `--tls` serves the sandbox over HTTPS with a
throwaway certificate, as Exotel is HTTPS-only. `--latency 30` makes the sandbox hold every
API request 30 ms, as the round trip to Exotel would (both sides pay it).
"""

import argparse
import contextlib
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sandbox_process  # noqa: E402
import webhook_harness  # noqa: E402

SANDBOX_KEY, SANDBOX_TOKEN, SANDBOX_SID = "sandbox-key", "sandbox-token", "sandbox"
TEMPLATE_BODY = "Hi {#var#}, your appointment is on {#var#}. Reply YES to confirm or NO to cancel."
TEMPLATE_ID = "1107000000000000777"
ENTITY_ID = "1101234567890123456"
SENDER = "EXOTEL"
TARGET_RATIO = 20.0
TARGET_RSS_MB = 300
TARGET_IMPORT_SECONDS = 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seed-count", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=2, help="dispatchers in the worker")
    parser.add_argument("--pool", default="threads", choices=("prefork", "threads", "solo"))
    parser.add_argument("--tls", action="store_true", help="sandbox over HTTPS")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="ms the sandbox holds every API request, standing for the round trip to Exotel",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    load_before = os.getloadavg()
    with _certificate(args.tls) as tls:
        port = sandbox_process.free_port()
        base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        sandbox = sandbox_process.start_sandbox(port, tls)
        try:
            sandbox_process.wait_ready(base_url, sandbox)
            _add_latency(base_url, args.latency)
            seed_rate, seed_cpu = _seed_loop(base_url, args.seed_count, sandbox.pid)
            sandbox_process.reset(base_url)
            _add_latency(base_url, args.latency)
            env = _environment(base_url, args.concurrency)
            import_seconds, campaign_id = _import(env, args.recipients)
            run = _campaign(
                env, campaign_id, args.recipients, args.pool, args.concurrency, sandbox.pid
            )
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    ratio = run["rate"] / seed_rate
    targets = {
        "ratio_at_least_20x": ratio >= TARGET_RATIO,
        "peak_rss_under_300_mb": run["peak_rss_mb"] < TARGET_RSS_MB,
        "csv_import_under_30_s": import_seconds < TARGET_IMPORT_SECONDS,
        "exactly_one_message_per_recipient": run["messages"] == args.recipients,
    }
    print()
    print(f"seed loop          {seed_rate:8.0f} msg/s  ({args.seed_count} recipients)")
    print(f"campaign dispatch  {run['rate']:8.0f} msg/s  ({args.recipients} recipients)")
    print(f"ratio              {ratio:8.1f}x   (target >= {TARGET_RATIO:g}x)")
    print(f"worker peak RSS    {run['peak_rss_mb']:8.0f} MB   (target < {TARGET_RSS_MB} MB)")
    print(f"CSV import         {import_seconds:8.1f} s    (target < {TARGET_IMPORT_SECONDS} s)")
    print(
        f"CPU per message    worker {run['cpu_us']['worker']:.0f} us, sandbox "
        f"{run['cpu_us']['sandbox']:.0f} us, database {run['cpu_us']['database']:.0f} us "
        f"(seed loop: client {seed_cpu['client']:.0f} us, "
        f"sandbox {seed_cpu['sandbox']:.0f} us)"
    )
    result = {
        "name": "campaign",
        "command": " ".join(["bench/bench_campaign.py", *sys.argv[1:]]),
        "transport": ("https" if args.tls else "http")
        + (f" +{args.latency:g} ms per request" if args.latency else ""),
        "worker": f"celery {args.pool} x{args.concurrency} dispatchers",
        "database": "postgresql" if "postgres" in os.environ.get("DATABASE_URL", "") else "sqlite",
        "recipients": args.recipients,
        "seed_recipients": args.seed_count,
        "seed_msgs_per_s": round(seed_rate, 1),
        "campaign_msgs_per_s": round(run["rate"], 1),
        "ratio": round(ratio, 2),
        "worker_peak_rss_mb": round(run["peak_rss_mb"], 1),
        "csv_import_s": round(import_seconds, 2),
        "campaign_s": round(run["seconds"], 2),
        "messages_recorded": run["messages"],
        "cpu_us_per_message": {
            "campaign_worker": round(run["cpu_us"]["worker"], 1),
            "campaign_sandbox": round(run["cpu_us"]["sandbox"], 1),
            "campaign_database": round(run["cpu_us"]["database"], 1),
            "seed_client": round(seed_cpu["client"], 1),
            "seed_sandbox": round(seed_cpu["sandbox"], 1),
        },
        "targets": {
            "ratio": f">= {TARGET_RATIO:g}x",
            "peak_rss_mb": f"< {TARGET_RSS_MB}",
            "csv_import_s": f"< {TARGET_IMPORT_SECONDS}",
        },
        "targets_met": targets,
        "all_targets_met": all(targets.values()),
        "rows": [
            {
                "benchmark": "campaign: dispatch rate vs the seed's loop",
                "figure": f"{ratio:.1f}x ({run['rate']:,.0f} vs {seed_rate:,.0f} msg/s)",
                "target": f">= {TARGET_RATIO:g}x",
                "met": targets["ratio_at_least_20x"],
            },
            {
                "benchmark": "campaign: worker peak RSS",
                "figure": f"{run['peak_rss_mb']:.0f} MB",
                "target": f"< {TARGET_RSS_MB} MB",
                "met": targets["peak_rss_under_300_mb"],
            },
            {
                "benchmark": f"campaign: CSV import of {args.recipients:,} rows",
                "figure": f"{import_seconds:.1f} s",
                "target": f"< {TARGET_IMPORT_SECONDS} s",
                "met": targets["csv_import_under_30_s"],
            },
            {
                "benchmark": "campaign: exactly one message per recipient",
                "figure": f"{run['messages']:,} of {args.recipients:,}",
                "target": "all",
                "met": targets["exactly_one_message_per_recipient"],
            },
        ],
        "machine": _machine(load_before),
    }
    print("BENCH_RESULT " + json.dumps(result))
    return 0


def _machine(load_before):
    return {
        "nproc": os.cpu_count(),
        "load_average_before": " ".join(f"{x:.2f}" for x in load_before),
        "load_average_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_seconds(pid) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- The seed's loop ---------------------------------------------------------------------


def _seed_loop(base_url, count, sandbox_pid) -> tuple[float, dict]:
    """The seed's bulk endpoint: for each recipient, send_sms() = one requests.post. (The seed
    posts to /Sms/send and then reads JSON, which only works on /Sms/send.json; we use that.)"""
    url = f"{base_url}/v1/Accounts/{SANDBOX_SID}/Sms/send.json"
    body = "Hi Guest, your appointment is on 20 Feb. Reply YES to confirm or NO to cancel."
    client_cpu, sandbox_cpu = time.process_time(), _cpu_seconds(sandbox_pid)
    started = time.perf_counter()
    results = []
    for i in range(count):
        data = {
            "From": SENDER,
            "To": f"+9197{i:08d}",
            "Body": body,
            "DltEntityId": ENTITY_ID,
            "DltTemplateId": TEMPLATE_ID,
            "StatusCallback": "http://127.0.0.1:9/webhook/sms-status",
        }
        try:
            response = requests.post(url, auth=(SANDBOX_KEY, SANDBOX_TOKEN), data=data)
            response.raise_for_status()
            sms = response.json().get("SMSMessage", {})
            results.append({"to": data["To"], "success": True, "sid": sms.get("Sid")})
        except Exception as exc:
            results.append({"to": data["To"], "success": False, "error": str(exc)})
    elapsed = time.perf_counter() - started
    cpu = {
        "client": (time.process_time() - client_cpu) / count * 1e6,
        "sandbox": (_cpu_seconds(sandbox_pid) - sandbox_cpu) / count * 1e6,
    }
    sent = sum(r["success"] for r in results)
    print(f"seed loop: {sent}/{count} sent in {elapsed:.2f} s", flush=True)
    return count / elapsed, cpu


# --- The app side ------------------------------------------------------------------------


def _environment(base_url, concurrency) -> dict:
    """A fresh database and broker for the app (the bench's own, under var/)."""
    VAR.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "EXOTEL_BASE_URL": base_url,
        "EXOTEL_API_KEY": SANDBOX_KEY,
        "EXOTEL_API_TOKEN": SANDBOX_TOKEN,
        "EXOTEL_ACCOUNT_SID": SANDBOX_SID,
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",  # callbacks would go nowhere (none are due)
        "CAMPAIGN_DISPATCHERS": str(concurrency),
        "CAMPAIGN_DISPATCH_SLICE_SECONDS": "60",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "smsdesk.settings",
    }
    if not os.environ.get("DATABASE_URL"):
        database = VAR / "bench-campaign.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{database}"
    if not os.environ.get("CELERY_BROKER_URL"):
        folder = VAR / "bench-campaign-broker"
        shutil.rmtree(folder, ignore_errors=True)
        env["CELERY_BROKER_FOLDER"] = str(folder)
    manage = [sys.executable, "manage.py"]
    if os.environ.get("DATABASE_URL"):
        subprocess.run([*manage, "flush", "--noinput"], env=env, cwd=ROOT, check=False)
    subprocess.run(
        [*manage, "migrate", "--noinput", "--skip-checks", "-v", "0"], env=env, cwd=ROOT, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    return env


def _import(env, count) -> tuple[float, int]:
    from conversations.models import DltTemplate
    from conversations.services import campaign_audience, campaigns

    path = VAR / "bench-campaign.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name", "day"])
        for i in range(count):
            writer.writerow([f"98{i:08d}", f"Guest {i}", f"{i % 28 + 1} Feb"])
    template = DltTemplate.objects.create(
        name="Bench reminder",
        template_id=TEMPLATE_ID,
        entity_id=ENTITY_ID,
        sender_id=SENDER,
        body=TEMPLATE_BODY,
    )
    campaign = campaigns.create_campaign(
        "Bench", template=template, variables=["{name}", "{day}"], rate=None
    )
    started = time.perf_counter()
    with open(path, "rb") as handle:
        report = campaign_audience.import_csv(campaign, handle)
    elapsed = time.perf_counter() - started
    print(f"import: {report.summary()} in {elapsed:.1f} s", flush=True)
    return elapsed, campaign.pk


def _campaign(env, campaign_id, count, pool, concurrency, sandbox_pid) -> dict:
    from django.db import connection

    from conversations.models import Campaign, CampaignStatus, Message
    from conversations.services import campaigns

    command = [sys.executable, "-m", "celery", "-A", "smsdesk", "worker", "--pool", pool]
    command += ["-Q", "celery,campaigns"]  # the dispatchers' own queue (settings.CAMPAIGN_QUEUE)
    command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat", "--loglevel", "WARNING"]
    worker = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        time.sleep(4)  # the worker is up and consuming
        campaign = Campaign.objects.get(pk=campaign_id)
        worker_cpu = sum(_cpu_seconds(pid) for pid in _tree(worker.pid))
        sandbox_cpu = _cpu_seconds(sandbox_pid)
        database_cpu = _database_cpu_seconds()
        started = time.perf_counter()
        campaigns.start_campaign(campaign)
        peak = 0.0
        while True:
            peak = max(peak, sum(_rss_mb(pid) for pid in _tree(worker.pid)))
            status = Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)
            if status == CampaignStatus.COMPLETED:
                break
            if worker.poll() is not None:
                raise SystemExit("the worker exited")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        cpu = {
            "worker": (sum(_cpu_seconds(pid) for pid in _tree(worker.pid)) - worker_cpu)
            / count
            * 1e6,
            "sandbox": (_cpu_seconds(sandbox_pid) - sandbox_cpu) / count * 1e6,
            "database": (_database_cpu_seconds() - database_cpu) / count * 1e6,
        }
        peak = max(peak, sum(_peak_rss_mb(pid) for pid in _tree(worker.pid)))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    messages = Message.objects.filter(campaign_id=campaign_id).count()
    sent = Message.objects.filter(campaign_id=campaign_id, sid__isnull=False).count()
    connection.close()
    print(f"campaign: {sent}/{count} accepted in {elapsed:.1f} s", flush=True)
    return {
        "rate": count / elapsed,
        "seconds": elapsed,
        "peak_rss_mb": peak,
        "messages": messages,
        "cpu_us": cpu,
    }


def _database_cpu_seconds() -> float:
    """CPU time so far of the PostgreSQL backends serving the bench database (0 on SQLite,
    whose work the worker's own CPU time already counts)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    name = connection.settings_dict["NAME"]
    backends = webhook_harness.cpu_seconds({"db": f"postgres {name} "})["db"]
    return sum(backends.values())


def _tree(pid) -> list[int]:
    """The worker and its pool processes (prefork): RSS is summed over all of them."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children)]


def _rss_mb(pid) -> float:
    return _status_field(pid, "VmRSS")


def _peak_rss_mb(pid) -> float:
    return _status_field(pid, "VmHWM")


def _status_field(pid, name) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- The sandbox -------------------------------------------------------------------------


@contextlib.contextmanager
def _certificate(enabled):
    """A throwaway certificate for 127.0.0.1, trusted through REQUESTS_CA_BUNDLE (so the
    seed's call stays unchanged and the worker inherits it)."""
    if not enabled:
        yield None
        return
    with sandbox_process.self_signed_certificate() as tls:
        yield tls


def _add_latency(base_url, milliseconds) -> None:
    """Every API request waits this long in the sandbox (its fault injection), as each would
    wait for the network and Exotel: the seed pays it per message, a bulk request per 100."""
    if milliseconds:
        fault = {"delay": milliseconds / 1000, "count": 10_000_000}
        requests.post(f"{base_url}/sandbox/faults", json=fault, timeout=10).raise_for_status()


if __name__ == "__main__":
    sys.exit(main())
