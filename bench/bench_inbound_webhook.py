"""Inbound-SMS webhook throughput and latency on gunicorn + PostgreSQL vs a bare view.

    .venv/bin/python bench/bench_inbound_webhook.py [--seconds 8] [--rounds 3] [--connections 50]

Every request is a new inbound SMS (a fresh SmsSid from wrk's Lua script, senders spread over
`--customers` numbers whose conversations exist, as replies come from numbers we texted), so
each one inserts a message, moves a conversation's counters, stores the raw event and enqueues
its task on Redis, as in production. A second run replays SmsSids
already stored, to show the cost of Exotel's retries (acknowledged, nothing changed). The bare
view (`/bench/bare`, a Django view that returns 200) gets the same bodies on the same server.

Targets (issue 5): at least 0.5 of the bare view's throughput, p99 under 50 ms.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_harness as harness

# Each wrk thread numbers its own requests, so SmsSids never repeat across threads. With
# `replay` set, sids cycle through numbers 2..replay+1 of each thread, all stored already (wrk calls
# `request` once before the run to test the script, so a thread's number 1 may never be sent).
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
  if replay > 0 then n = (counter %% replay) + 2 end
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
    return harness.run_wrk_script(script, base_url, connections, seconds, threads)


def seed_customers(count):
    """Replies come from numbers we have texted: their conversations exist already."""
    from conversations.models import Conversation

    Conversation.objects.bulk_create(
        Conversation(phone_number=f"+91980{n:07d}") for n in range(count)
    )


def counts():
    """(messages, events) once the requests still in flight when wrk stops have finished (the
    counts stayed the same for three seconds: a request can wait in a worker's queue)."""
    from django.db import connection

    readings = []
    while len(readings) < 4 or len(set(readings[-4:])) > 1:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM conversations_message),"
                " (SELECT count(*) FROM conversations_webhookevent)"
            )
            readings.append(cursor.fetchone())
        time.sleep(1.0)
    return readings[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--customers", type=int, default=5000)
    harness.add_server_arguments(parser)
    harness.add_round_arguments(parser)
    harness.add_load_run_arguments(parser)
    args = parser.parse_args()

    harness.prepare_environment()
    seed_customers(args.customers)
    load = {"customers": args.customers, "connections": args.connections}
    webhook = "/webhook/sms-incoming"
    with harness.gunicorn(args.workers, args.threads, args.worker_class) as base_url:
        for path in ("/bench/bare", webhook):
            harness.warm_up(
                lambda s, p=path: run_wrk(base_url, p, run="warm", replay=0, seconds=s, **load)
            )
        before = counts()
        ours, baseline, ratio, rounds = harness.alternate(
            lambda n: run_wrk(
                base_url, webhook, run=f"new{n}", replay=0, seconds=args.seconds, **load
            ),
            lambda n: run_wrk(
                base_url, "/bench/bare", run="bare", replay=0, seconds=args.seconds, **load
            ),
            args.rounds,
        )
        after = counts()
        # Exotel's retries: SmsSids of the first round again, all stored already.
        duplicates = run_wrk(
            base_url, webhook, run="new0", replay=500, seconds=args.seconds, **load
        )
        final = counts()
        load_run = None
        if args.load_run:
            heavy = {**load, "connections": args.load_connections}
            load_run = harness.load_run_figures(
                run_wrk(base_url, webhook, run="load", replay=0, seconds=args.load_seconds, **heavy)
            )
    extra = [("  duplicates (replayed SmsSids)", duplicates)]
    if load_run:
        extra.append((f"  load run, {args.load_connections} clients", load_run))
    harness.print_rounds(rounds)
    ratio = harness.report("POST /webhook/sms-incoming", ours, baseline, extra, ratio)
    stored = [b - a for a, b in zip(before, after, strict=True)]
    answered = sum(webhook_run["requests"] for webhook_run, _ in rounds)
    print(
        f"stored during the new-SMS runs: {stored[0]} messages, {stored[1]} events "
        f"(wrk counted {answered} answers; requests still in flight when it stopped also land)"
    )
    print(f"stored during the duplicate run: {final[0] - after[0]} messages (expected 0)")
    harness.print_result(
        "inbound_webhook",
        harness.result(
            args,
            ours,
            baseline,
            ratio,
            load_run,
            duplicates_rps=round(duplicates["rps"], 1),
            duplicates_p99_ms=duplicates["p99_ms"],
            stored_messages=stored[0],
            stored_events=stored[1],
            stored_by_duplicates=final[0] - after[0],
        ),
    )


if __name__ == "__main__":
    main()
