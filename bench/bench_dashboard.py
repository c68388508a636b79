"""The supervisors' dashboard on the 1,000,000-message dataset (issue 8).

    .venv/bin/python bench/bench_dashboard.py                  # 100,000 conversations, 1M messages
    .venv/bin/python bench/bench_dashboard.py --repeat 40 --regenerate

Runs against its own PostgreSQL database (`--database-url`, by default
postgres://postgres@127.0.0.1:5432/smsdesk_dashboard_bench): created, migrated and filled with
`manage.py generate_dataset` (issue 6's generator: dates spread over 90 days) the first time,
reused afterwards.

Times, in-process with Django's test client signed in as staff, DEBUG off (the whole Django
request: middleware, session, the view's queries, the template, the SVG charts; no network or
WSGI server): the dashboard page for the default range (last 30 IST days) and for the whole 90
days, and two panels' CSV exports. The page reads the per-day rollup (`services/rollups.py`);
before each page's timings the script rebuilds yesterday's and today's rollup as beat does
every minute, so no timed request rebuilds it; nothing else is cached. It also times what the
rollup costs to build (beat's minute job; the live queries behind it). Target: the dashboard
page's p95 < 300 ms. The last line printed is `BENCH_RESULT {json}`.
"""

import argparse
import json
import os
import statistics
import sys
import time

from dataset_db import add_dataset_arguments, ensure_dataset, set_up_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/smsdesk_dashboard_bench"
TARGET_P95_MS = 300.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dataset_arguments(
        parser, default_url=DEFAULT_URL, url_variable="DASHBOARD_BENCH_DATABASE_URL"
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3)
    return parser.parse_args()


def percentiles(timings):
    timings = sorted(timings)
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, round(0.95 * len(timings)) - 1)], 1),
        "max_ms": round(timings[-1], 1),
    }


def time_call(call, warmup, repeat):
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return percentiles(timings)


def get(client, path, params):
    def call():
        response = client.get(path, params)
        assert response.status_code == 200, (path, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)

    return call


def machine():
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"nproc": os.cpu_count(), "load_average": load, "python": sys.version.split()[0]}


def main():
    args = parse_args()
    (conversations, messages), generated_in = ensure_dataset(args)
    set_up_django(args.database_url)
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.test import Client

    from conversations.services import analytics

    staff = get_user_model().objects.filter(username="bench-staff").first()
    if staff is None:
        staff = get_user_model().objects.create_user("bench-staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    default = analytics.default_range()
    whole = analytics.DateRange(default.end - timedelta(days=89), default.end)
    span = {"start": f"{whole.start:%Y-%m-%d}", "end": f"{whole.end:%Y-%m-%d}"}
    pages = [
        ("dashboard: last 30 days (default)", "/dashboard/", {}),
        ("dashboard: 90 days", "/dashboard/", span),
        ("csv: per-day panel, 90 days", "/dashboard/export/outbound.csv", span),
        ("csv: first reply per agent, 90 days", "/dashboard/export/first_reply.csv", span),
    ]
    from conversations.services import rollups

    load_before = os.getloadavg()[0]
    rows = []
    for label, path, params in pages:
        # As beat does every minute: today's rollup is fresh, so no request rebuilds it.
        rollups.refresh_recent()
        rows.append(
            {"what": label, **time_call(get(client, path, params), args.warmup, args.repeat)}
        )
    panel_rows = [
        {
            "what": "all panels from the rollup (no HTTP), 30 days",
            **time_call(lambda: analytics.all_panels(default), 1, 10),
        }
    ]
    panel_rows += [
        {
            "what": "beat: rebuild yesterday + today",
            **time_call(rollups.refresh_recent, 0, 3),
        },
        {
            "what": "live (no rollup): six message panels, 30 days",
            **time_call(lambda: analytics.message_groups(default), 0, 3),
        },
        {
            "what": "live (no rollup): first replies, 1 day",
            **time_call(
                lambda: analytics.first_reply_rows(analytics.DateRange(default.end, default.end)),
                0,
                3,
            ),
        },
        {
            "what": "live: stuck messages (always live)",
            **time_call(analytics.stuck_messages, 1, 10),
        },
    ]
    load_after = os.getloadavg()[0]

    width = max(len(row["what"]) for row in rows + panel_rows)
    print(f"\nDashboard on {conversations:,} conversations / {messages:,} messages (PostgreSQL)")
    print(f"Django test client in-process, {args.repeat} timed requests per page\n")
    print(f"| {'what'.ljust(width)} | p50 ms | p95 ms | max ms |")
    print(f"| {'-' * width} | ------ | ------ | ------ |")
    for row in rows + panel_rows:
        print(
            f"| {row['what'].ljust(width)} | {row['p50_ms']:6.1f} | {row['p95_ms']:6.1f} "
            f"| {row['max_ms']:6.1f} |"
        )
    page_p95 = rows[0]["p95_ms"]
    met = page_p95 < TARGET_P95_MS
    print(
        f"\ndashboard (default range) p95 {page_p95:.1f} ms; target p95 < {TARGET_P95_MS:g} ms: "
        + ("met" if met else "NOT met")
    )
    result = {
        "name": "dashboard",
        "method": "Django test client, in-process, DEBUG off, signed-in staff, rollup fresh",
        "dataset": {"conversations": conversations, "messages": messages},
        "generated_in_s": generated_in,
        "repeat": args.repeat,
        "pages": rows,
        "other_timings": panel_rows,
        "p50_ms": rows[0]["p50_ms"],
        "p95_ms": page_p95,
        "target": f"dashboard page p95 < {TARGET_P95_MS:g} ms",
        "target_met": met,
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        "machine": machine(),
    }
    print("BENCH_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
