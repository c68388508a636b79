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

Zero setup by default (SQLite under var/ and the filesystem broker); set DATABASE_URL and
CELERY_BROKER_URL to bench PostgreSQL and Redis. `--tls` serves the sandbox over HTTPS with a
throwaway certificate, as Exotel is HTTPS-only. `--latency 30` makes the sandbox hold every
API request 30 ms, as the round trip to Exotel would (both sides pay it).
"""

import argparse
import contextlib
import csv
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

SANDBOX_KEY, SANDBOX_TOKEN, SANDBOX_SID = "sandbox-key", "sandbox-token", "sandbox"
TEMPLATE_BODY = "Hi {#var#}, your appointment is on {#var#}. Reply YES to confirm or NO to cancel."
TEMPLATE_ID = "1107000000000000777"
ENTITY_ID = "1101234567890123456"
SENDER = "EXOTEL"


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
    with _certificate(args.tls) as tls:
        port = sandbox_process.free_port()
        base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        sandbox = sandbox_process.start_sandbox(port, tls)
        try:
            sandbox_process.wait_ready(base_url, sandbox)
            _add_latency(base_url, args.latency)
            seed_rate = _seed_loop(base_url, args.seed_count)
            sandbox_process.reset(base_url)
            _add_latency(base_url, args.latency)
            env = _environment(base_url, args.concurrency)
            import_seconds, campaign_id = _import(env, args.recipients)
            rate, rss_mb = _campaign(env, campaign_id, args.recipients, args.pool, args.concurrency)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    ratio = rate / seed_rate
    print()
    print(f"seed loop          {seed_rate:8.0f} msg/s  ({args.seed_count} recipients)")
    print(f"campaign dispatch  {rate:8.0f} msg/s  ({args.recipients} recipients)")
    print(f"ratio              {ratio:8.1f}x   (target >= 20x)")
    print(f"worker peak RSS    {rss_mb:8.0f} MB   (target < 300 MB)")
    print(f"CSV import         {import_seconds:8.1f} s    (target < 30 s)")
    return 0


# --- The seed's loop ---------------------------------------------------------------------


def _seed_loop(base_url, count) -> float:
    """The seed's bulk endpoint: for each recipient, send_sms() = one requests.post. (The seed
    posts to /Sms/send and then reads JSON, which only works on /Sms/send.json; we use that.)"""
    url = f"{base_url}/v1/Accounts/{SANDBOX_SID}/Sms/send.json"
    body = "Hi Guest, your appointment is on 20 Feb. Reply YES to confirm or NO to cancel."
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
    sent = sum(r["success"] for r in results)
    print(f"seed loop: {sent}/{count} sent in {elapsed:.2f} s", flush=True)
    return count / elapsed


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


def _campaign(env, campaign_id, count, pool, concurrency) -> tuple[float, float]:
    from django.db import connection

    from conversations.models import Campaign, CampaignStatus, Message
    from conversations.services import campaigns

    command = [sys.executable, "-m", "celery", "-A", "smsdesk", "worker", "--pool", pool]
    command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat", "--loglevel", "WARNING"]
    worker = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        time.sleep(4)  # the worker is up and consuming
        campaign = Campaign.objects.get(pk=campaign_id)
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
        peak = max(peak, sum(_peak_rss_mb(pid) for pid in _tree(worker.pid)))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    sent = Message.objects.filter(campaign_id=campaign_id, sid__isnull=False).count()
    connection.close()
    print(f"campaign: {sent}/{count} accepted in {elapsed:.1f} s", flush=True)
    return count / elapsed, peak


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
