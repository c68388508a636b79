"""Inbound-SMS webhook throughput and latency on gunicorn + PostgreSQL vs a bare view.

    .venv/bin/python bench/bench_inbound_webhook.py [--seconds 15] [--connections 50]

Every request is a new inbound SMS (a fresh SmsSid from wrk's Lua script, senders spread over
`--customers` numbers whose conversations exist, as replies come from numbers we texted), so
each one inserts a message, moves a conversation's counters, stores the raw event and enqueues
its task on Redis, as in production. A second run replays SmsSids
already stored, to show the cost of Exotel's retries (acknowledged, nothing changed). The bare
view (`/bench/bare`, a Django view that returns 200) gets the same bodies on the same server.

Targets (issue 5): at least 0.5 of the bare view's throughput, p99 under 50 ms.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_harness as harness

# Each wrk thread numbers its own requests, so SmsSids never repeat across threads. With
# `replay` set, sids cycle through the first `replay` of each thread (all stored already).
WRK_SCRIPT = """
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end
local counter = 0
local path = "%(path)s"
local customers = %(customers)d
local replay = %(replay)d
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
request = function()
  counter = counter + 1
  local n = counter
  if replay > 0 then n = (counter %% replay) + 1 end
  local body = string.format(
    "SmsSid=%(run)s-%%d-%%d&From=%%%%2B91980%%07d&To=%%%%2B911140000000&Body=Is+my+order+shipped%%%%3F"
    .. "&DateCreated=2025-01-15T10%%%%3A30%%%%3A00%%%%2B05%%%%3A30&AccountSid=%(account)s",
    tid, n, n %% customers)
  return wrk.format("POST", path, headers, body)
end
"""


def run_wrk(base_url, path, *, run, customers, replay, connections, seconds, threads=2):
    from django.conf import settings

    script = WRK_SCRIPT % {
        "path": path,
        "customers": customers,
        "replay": replay,
        "run": run,
        "account": settings.EXOTEL_ACCOUNT_SID,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--latency", "-s", handle.name, base_url]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(handle.name)
    return harness.parse_wrk(result.stdout)


def seed_customers(count):
    """Replies come from numbers we have texted: their conversations exist already."""
    from conversations.models import Conversation

    Conversation.objects.bulk_create(
        Conversation(phone_number=f"+91980{n:07d}") for n in range(count)
    )


def counts():
    """(messages, events) once the requests still in flight when wrk stops have finished."""
    from django.db import connection

    previous = None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM conversations_message),"
                " (SELECT count(*) FROM conversations_webhookevent)"
            )
            current = cursor.fetchone()
        if current == previous:
            return current
        previous = current
        time.sleep(1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    args = parser.parse_args()

    harness.prepare_environment()
    seed_customers(args.customers)
    load = {"customers": args.customers, "connections": args.connections}
    with harness.gunicorn(args.workers, args.threads) as base_url:
        run_wrk(base_url, "/bench/bare", run="warm", replay=0, seconds=3, **load)
        run_wrk(base_url, "/webhook/sms-incoming", run="warm", replay=0, seconds=3, **load)
        before = counts()
        ours = run_wrk(
            base_url, "/webhook/sms-incoming", run="new", replay=0, seconds=args.seconds, **load
        )
        after = counts()
        duplicates = run_wrk(
            base_url, "/webhook/sms-incoming", run="new", replay=500, seconds=args.seconds, **load
        )
        baseline = run_wrk(
            base_url, "/bench/bare", run="bare", replay=0, seconds=args.seconds, **load
        )
    harness.report("POST /webhook/sms-incoming", ours, baseline)
    print(
        f"duplicates (replayed SmsSids): {duplicates['rps']:.0f} req/s, "
        f"p99 {duplicates['p99_ms']:.1f} ms, non-2xx {duplicates['non_2xx']}"
    )
    stored = [b - a for a, b in zip(before, after, strict=True)]
    print(f"stored during the new-SMS run: {stored[0]} messages, {stored[1]} events")
    final = counts()
    print(f"stored during the duplicate run: {final[0] - after[0]} messages (expected 0)")


if __name__ == "__main__":
    main()
