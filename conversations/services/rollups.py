"""The dashboard's per-day rollup (issue 8): so the page reads a few thousand rows, not a million.

Each IST day's messages are counted once into `MessageDayStat` (the shape of
`analytics.message_groups`) and its first replies and resolutions into `AgentDayStat`; a day
is rebuilt whole (delete and insert in one transaction), so rebuilding is always safe. Beat
rebuilds yesterday and today every minute (late status callbacks of older days are picked up by
`refresh_days` over a wider range, e.g. nightly, or `manage.py shell` for a backfill); a day
that was never built is built when the dashboard first needs it; today's rollup older than
`DASHBOARD_ROLLUP_MAX_AGE_SECONDS` is rebuilt on the spot.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ..models import AgentDayStat, MessageDayStat, RollupDay
from . import analytics

FIRST_REPLY, RESOLUTION = AgentDayStat.FIRST_REPLY, AgentDayStat.RESOLUTION


def refresh_days(r: analytics.DateRange, now=None) -> int:
    """Rebuild the rollup of every day of `r`; returns the message groups written."""
    now = now or timezone.now()
    groups = analytics.message_groups(r)
    agents = [(FIRST_REPLY, row) for row in analytics.first_reply_rows(r)]
    agents += [(RESOLUTION, row) for row in analytics.resolution_rows(r)]
    with transaction.atomic():
        MessageDayStat.objects.filter(day__gte=r.start, day__lte=r.end).delete()
        AgentDayStat.objects.filter(day__gte=r.start, day__lte=r.end).delete()
        MessageDayStat.objects.bulk_create(
            [
                MessageDayStat(
                    day=g["day"],
                    direction=g["direction"],
                    hour=g["hour"],
                    template_id=g["out_template"],
                    sender=g["out_sender"] or "",
                    status=g["out_status"] or "",
                    detailed_status_code=g["out_code"],
                    detailed_status=g["out_reason"] or "",
                    count=g["count"],
                )
                for g in groups
            ],
            batch_size=1000,
        )
        AgentDayStat.objects.bulk_create(
            [
                AgentDayStat(
                    day=row["day"],
                    kind=kind,
                    user_id=row["user_id"],
                    username=row["username"],
                    count=row["count"],
                    total_seconds=row["total_seconds"],
                )
                for kind, row in agents
            ]
        )
        for day in r.days:
            RollupDay.objects.update_or_create(day=day, defaults={"refreshed_at": now})
    return len(groups)


def _runs(days):
    """Consecutive days as DateRanges."""
    runs = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [analytics.DateRange(start, end) for start, end in runs]


def ensure_days(r: analytics.DateRange, now=None):
    """Build the days of `r` that never were, and today's if it is older than allowed."""
    now = now or timezone.now()
    built = dict(
        RollupDay.objects.filter(day__gte=r.start, day__lte=r.end).values_list(
            "day", "refreshed_at"
        )
    )
    today = analytics.today_ist(now)
    max_age = timedelta(seconds=settings.DASHBOARD_ROLLUP_MAX_AGE_SECONDS)
    stale = {day for day in r.days if day not in built}
    if r.start <= today <= r.end and today in built and now - built[today] > max_age:
        stale.add(today)
    for run in _runs(stale):
        refresh_days(run, now)


def refresh_recent(now=None):
    """Beat: rebuild yesterday and today (IST)."""
    today = analytics.today_ist(now)
    return refresh_days(analytics.DateRange(today - timedelta(days=1), today), now)


# Which rollup columns each message panel needs (the group keys of `analytics.message_groups`).
COLUMNS = {
    "day": "day",
    "hour": "hour",
    "out_template": "template_id",
    "out_sender": "sender",
    "out_status": "status",
    "out_code": "detailed_status_code",
    "out_reason": "detailed_status",
}
PANEL_KEYS = {
    "outbound": ("day", "out_status"),
    "templates": ("out_template", "out_status", "out_code", "out_reason"),
    "senders": ("out_sender", "out_status"),
    "failures": ("out_template", "out_status", "out_code", "out_reason"),
    "dlt": ("out_template", "out_status", "out_code", "out_reason"),
    "inbound": ("hour",),
}


def message_groups(r: analytics.DateRange, panel) -> list[dict]:
    """`analytics.message_groups(r)` from the rollup, summed in the database over the keys
    `panel` reads (a few hundred rows); the other keys are None."""
    keys = PANEL_KEYS[panel]
    columns = [COLUMNS[key] for key in keys]
    rows = (
        MessageDayStat.objects.filter(day__gte=r.start, day__lte=r.end)
        .values_list("direction", *columns)
        .annotate(total=Sum("count"))
        .order_by()
    )
    empty = dict.fromkeys(COLUMNS)
    return [
        {**empty, "direction": row[0], **dict(zip(keys, row[1:-1], strict=True)), "count": row[-1]}
        for row in rows
    ]


def agent_rows(r: analytics.DateRange, kind=None) -> list[dict]:
    rows = AgentDayStat.objects.filter(day__gte=r.start, day__lte=r.end)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return list(rows.values("day", "kind", "user_id", "username", "count", "total_seconds"))
