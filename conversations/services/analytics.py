"""The supervisors' dashboard (issue 8): every number is one aggregate query in the database.

Days and hours are India Standard Time. A date range is inclusive of both ends; a message
belongs to the day it was created. Definitions (shared with the DLT template admin, see
`template_health`):

- sent: outbound messages created (whatever became of them);
- delivered: status delivered, or sent (Exotel's final "sent" without a handset receipt);
- failed: status failed or failed-dnd;
- delivery rate: delivered over messages with a final status at Exotel;
- DLT rejections: messages whose DetailedStatusCode is a DLT scrubbing code (230xx-232xx);
- first agent reply: an outbound message written by a person (`created_by`) in a conversation
  with an inbound message since that person's (or any person's) previous reply; the wait runs
  from the earliest such inbound message;
- resolution: the conversation's close (`closed_at`, `closed_by`, issue 6), timed from the
  customer's first inbound message before it;
- stuck: outbound messages without a final status older than `RECONCILE_AFTER_MINUTES`
  (scheduled promotional messages are held on purpose and not counted), whatever the range.

No function loops over rows: each returns a few dozen aggregated rows at most.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, TruncDate
from django.utils import timezone

from exotel_client import DLT_REJECTION_CODES

from ..models import Conversation, Direction, DltTemplate, Message, MessageStatus, OptOut
from .template_health import DELIVERED, FINAL_AT_EXOTEL

IST = ZoneInfo("Asia/Kolkata")
DEFAULT_DAYS = 30
MAX_DAYS = 366
FAILED = (MessageStatus.FAILED, MessageStatus.FAILED_DND)
# Not final and not held on purpose (scheduled): listed, so the status index serves the query.
STUCK = (
    MessageStatus.PENDING,
    MessageStatus.DISPATCHING,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SUBMITTED,
    MessageStatus.UNKNOWN,
)
EPOCH = datetime(1970, 1, 1, tzinfo=IST)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=IST)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=IST)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def today_ist(now=None) -> date:
    return (now or timezone.now()).astimezone(IST).date()


def default_range(now=None) -> DateRange:
    end = today_ist(now)
    return DateRange(end - timedelta(days=DEFAULT_DAYS - 1), end)


def _rate(delivered, finished):
    return round(100.0 * delivered / finished, 1) if finished else None


def _outbound(r):
    return Message.objects.filter(
        direction=Direction.OUTBOUND, created_at__gte=r.since, created_at__lt=r.until
    )


def message_groups(r: DateRange) -> list[dict]:
    """One scan of the range's messages, grouped so that the per-day, template, sender, failure,
    DLT and inbound-hour panels all derive from it (a few thousand rows, not messages):
    outbound by (day, template, sender, status, code), inbound by (day, hour of the day). The
    same shape is stored per day as the dashboard's rollup (`rollups.py`)."""
    inbound = Q(direction=Direction.INBOUND)
    return list(
        Message.objects.filter(created_at__gte=r.since, created_at__lt=r.until)
        .annotate(
            day=TruncDate("created_at", tzinfo=IST),
            hour=Case(
                When(inbound, then=ExtractHour("created_at", tzinfo=IST)),
                default=Value(None, output_field=IntegerField()),
            ),
            out_template=Case(When(inbound, then=Value(None)), default=F("template_id")),
            out_sender=Case(When(inbound, then=Value("")), default=F("sender")),
            out_status=Case(When(inbound, then=Value("")), default=F("status")),
            out_code=Case(When(inbound, then=Value(None)), default=F("detailed_status_code")),
            out_reason=Case(When(inbound, then=Value("")), default=F("detailed_status")),
        )
        .values(
            "direction",
            "day",
            "hour",
            "out_template",
            "out_sender",
            "out_status",
            "out_code",
            "out_reason",
        )
        .annotate(count=Count("id"))
        .order_by()
    )


def _outbound_groups(r, groups):
    groups = message_groups(r) if groups is None else groups
    return [g for g in groups if g["direction"] == Direction.OUTBOUND]


# Plain strings: membership tests over thousands of groups stay cheap.
_FINISHED = frozenset(status.value for status in FINAL_AT_EXOTEL)
_DELIVERED = frozenset(status.value for status in DELIVERED)
_FAILED = frozenset(status.value for status in FAILED)


def _sum_by(groups, key, *, extra=None):
    """Sent, finished, delivered, failed per `key(group)`, summed over aggregated groups."""
    totals = {}
    for g in groups:
        row = totals.get(key(g))
        if row is None:
            row = totals[key(g)] = {
                "sent": 0,
                "finished": 0,
                "delivered": 0,
                "failed": 0,
                **(extra or {}),
            }
        count, status = g["count"], g["out_status"]
        row["sent"] += count
        if status in _FINISHED:
            row["finished"] += count
            if status in _DELIVERED:
                row["delivered"] += count
            elif status in _FAILED:
                row["failed"] += count
        if extra is not None and g["out_code"] in DLT_REJECTION_CODES:
            row["dlt_rejections"] += count
    return totals


def outbound_per_day(r: DateRange, groups=None) -> list[dict]:
    """One row per day of the range (zeros included): sent, delivered, failed."""
    totals = _sum_by(_outbound_groups(r, groups), lambda g: g["day"])
    empty = {"sent": 0, "delivered": 0, "failed": 0}
    return [{"day": day, **{k: totals.get(day, empty)[k] for k in empty}} for day in r.days]


def delivery_by_template(r: DateRange, groups=None) -> list[dict]:
    totals = _sum_by(
        [g for g in _outbound_groups(r, groups) if g["out_template"] is not None],
        lambda g: g["out_template"],
        extra={"dlt_rejections": 0},
    )
    names = _template_names(totals)
    rows = [
        {
            "template": names[pk][0],
            "dlt_template_id": names[pk][1],
            **{k: row[k] for k in ("sent", "finished", "delivered", "failed")},
            "rate": _rate(row["delivered"], row["finished"]),
            "dlt_rejections": row["dlt_rejections"],
        }
        for pk, row in totals.items()
    ]
    return sorted(rows, key=lambda row: (-row["sent"], row["template"]))


def _template_names(pks):
    return {
        pk: (name, template_id)
        for pk, name, template_id in DltTemplate.objects.filter(pk__in=list(pks)).values_list(
            "pk", "name", "template_id"
        )
    }


def delivery_by_sender(r: DateRange, groups=None) -> list[dict]:
    totals = _sum_by(_outbound_groups(r, groups), lambda g: g["out_sender"])
    rows = [
        {"sender": sender, **row, "rate": _rate(row["delivered"], row["finished"])}
        for sender, row in totals.items()
    ]
    return sorted(rows, key=lambda row: (-row["sent"], row["sender"]))


def failures_by_reason(r: DateRange, groups=None) -> list[dict]:
    """Failed messages by Exotel's DetailedStatusCode / DetailedStatus."""
    counts = {}
    for g in _outbound_groups(r, groups):
        if g["out_status"] in _FAILED:
            key = (g["out_code"], g["out_reason"])
            counts[key] = counts.get(key, 0) + g["count"]
    rows = [
        {"detailed_status_code": code, "detailed_status": reason, "count": count}
        for (code, reason), count in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["detailed_status_code"] or 0))


def dlt_rejections_by_template(r: DateRange, groups=None) -> list[dict]:
    counts = {}
    for g in _outbound_groups(r, groups):
        if g["out_code"] in DLT_REJECTION_CODES:
            key = (g["out_template"], g["out_code"])
            counts[key] = counts.get(key, 0) + g["count"]
    names = _template_names({pk for pk, _ in counts if pk is not None})
    rows = [
        {
            "template": names[pk][0] if pk in names else "(no template)",
            "dlt_template_id": names[pk][1] if pk in names else "",
            "code": code,
            "count": count,
        }
        for (pk, code), count in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["template"], row["code"]))


def inbound_by_hour(r: DateRange, groups=None) -> list[dict]:
    """Inbound messages by hour of the day (IST), 0-23, summed over the range."""
    groups = message_groups(r) if groups is None else groups
    counts = [0] * 24
    for g in groups:
        if g["direction"] == Direction.INBOUND:
            counts[g["hour"]] += g["count"]
    return [{"hour": hour, "count": count} for hour, count in enumerate(counts)]


def replies_per_campaign(r: DateRange) -> list[dict]:
    """Campaign messages sent in the range and the replies linked to them (issue 7)."""
    rows = (
        Message.objects.filter(
            campaign__isnull=False, created_at__gte=r.since, created_at__lt=r.until
        )
        .values("campaign_id", "campaign__name")
        .annotate(
            sent=Count("id", filter=Q(direction=Direction.OUTBOUND)),
            replies=Count("id", filter=Q(direction=Direction.INBOUND)),
        )
        .order_by("-replies", "campaign__name")
    )
    return [
        {
            "campaign": row["campaign__name"],
            "sent": row["sent"],
            "replies": row["replies"],
            "reply_rate": _rate(row["replies"], row["sent"]),
        }
        for row in rows
    ]


def _seconds(value):
    """A duration from the database (timedelta, or microseconds on some backends) in seconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return round(value.total_seconds())
    return round(float(value) / 1_000_000)


def first_reply_rows(r: DateRange) -> list[dict]:
    """Per IST day and person: replies that answered a waiting customer, and the total wait."""
    person_outbound = Message.objects.filter(
        conversation=OuterRef("conversation"),
        direction=Direction.OUTBOUND,
        created_by__isnull=False,
        created_at__lt=OuterRef("created_at"),
    )
    previous_reply = Subquery(person_outbound.order_by("-created_at").values("created_at")[:1])
    waiting_since = Subquery(
        Message.objects.filter(
            conversation=OuterRef("conversation"),
            direction=Direction.INBOUND,
            created_at__lt=OuterRef("created_at"),
            created_at__gt=OuterRef("previous_at"),
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    rows = (
        _outbound(r)
        .filter(created_by__isnull=False)
        .annotate(previous_at=Coalesce(previous_reply, Value(EPOCH)))
        .annotate(waited_from=waiting_since)
        .filter(waited_from__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=IST))
        .values("day", "created_by_id", "created_by__username")
        .annotate(
            count=Count("id"),
            total=Sum(
                ExpressionWrapper(F("created_at") - F("waited_from"), output_field=DurationField())
            ),
        )
        .order_by()
    )
    return [_agent_row(row, "created_by") for row in rows]


def _agent_row(row, person):
    return {
        "day": row["day"],
        "user_id": row[f"{person}_id"],
        "username": row[f"{person}__username"],
        "count": row["count"],
        "total_seconds": _seconds(row["total"]) or 0,
    }


def resolution_rows(r: DateRange) -> list[dict]:
    """Per IST day and person: conversations closed, and the total time from the customer's
    first inbound message to the close."""
    first_inbound = Subquery(
        Message.objects.filter(
            conversation=OuterRef("pk"),
            direction=Direction.INBOUND,
            created_at__lte=OuterRef("closed_at"),
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    rows = (
        Conversation.objects.filter(
            closed_at__gte=r.since, closed_at__lt=r.until, closed_by__isnull=False
        )
        .annotate(opened_at=first_inbound)
        .filter(opened_at__isnull=False)
        .annotate(day=TruncDate("closed_at", tzinfo=IST))
        .values("day", "closed_by_id", "closed_by__username")
        .annotate(
            count=Count("id"),
            total=Sum(
                ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField())
            ),
        )
        .order_by()
    )
    return [_agent_row(row, "closed_by") for row in rows]


def _per_agent(rows, label):
    totals = {}
    for row in rows:  # per day and person: a few hundred rows at most
        count, seconds = totals.get(row["username"], (0, 0))
        totals[row["username"]] = (count + row["count"], seconds + row["total_seconds"])
    return [
        {"agent": name, label: count, "average_seconds": round(seconds / count)}
        for name, (count, seconds) in sorted(totals.items())
        if count
    ]


def first_reply_times(r: DateRange, rows=None) -> list[dict]:
    """Per agent: replies that answered a waiting customer, and the average wait (seconds)."""
    return _per_agent(first_reply_rows(r) if rows is None else rows, "replies")


def resolution_times(r: DateRange, rows=None) -> list[dict]:
    """Per agent who closed conversations in the range: how many, and the average time from
    the customer's first inbound message to the close (seconds)."""
    return _per_agent(resolution_rows(r) if rows is None else rows, "resolved")


def opt_outs_per_day(r: DateRange) -> list[dict]:
    found = dict(
        OptOut.objects.filter(created_at__gte=r.since, created_at__lt=r.until)
        .annotate(day=TruncDate("created_at", tzinfo=IST))
        .values_list("day")
        .annotate(count=Count("id"))
        .order_by()
    )
    return [{"day": day, "count": found.get(day, 0)} for day in r.days]


def opt_outs_per_campaign(r: DateRange) -> list[dict]:
    """Opt-outs whose STOP message was a reply linked to a campaign."""
    rows = (
        OptOut.objects.filter(
            created_at__gte=r.since, created_at__lt=r.until, message__campaign__isnull=False
        )
        .values("message__campaign__name")
        .annotate(count=Count("id"))
        .order_by("-count", "message__campaign__name")
    )
    return [{"campaign": row["message__campaign__name"], "count": row["count"]} for row in rows]


def stuck_cutoff(now=None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)


def stuck_messages(now=None) -> list[dict]:
    """Outbound messages without a final status, created before the reconcile delay."""
    return list(
        Message.objects.filter(
            status__in=STUCK, direction=Direction.OUTBOUND, created_at__lt=stuck_cutoff(now)
        )
        .values("status")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by("-count", "status")
    )


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    columns: tuple[str, ...]
    compute: object  # (DateRange) -> list[dict]
    note: str = ""


PANELS = {
    panel.key: panel
    for panel in (
        Panel(
            "outbound",
            "Messages sent, delivered and failed per day",
            ("day", "sent", "delivered", "failed"),
            outbound_per_day,
        ),
        Panel(
            "templates",
            "Delivery rate by template",
            (
                "template",
                "dlt_template_id",
                "sent",
                "finished",
                "delivered",
                "failed",
                "rate",
                "dlt_rejections",
            ),
            delivery_by_template,
        ),
        Panel(
            "senders",
            "Delivery rate by sender id",
            ("sender", "sent", "finished", "delivered", "failed", "rate"),
            delivery_by_sender,
        ),
        Panel(
            "failures",
            "Failures by Exotel reason",
            ("detailed_status_code", "detailed_status", "count"),
            failures_by_reason,
        ),
        Panel(
            "dlt",
            "DLT rejections per template",
            ("template", "dlt_template_id", "code", "count"),
            dlt_rejections_by_template,
        ),
        Panel("inbound", "Inbound messages by hour (IST)", ("hour", "count"), inbound_by_hour),
        Panel(
            "campaigns",
            "Replies per campaign",
            ("campaign", "sent", "replies", "reply_rate"),
            replies_per_campaign,
        ),
        Panel(
            "first_reply",
            "Time to first agent reply",
            ("agent", "replies", "average_seconds"),
            first_reply_times,
        ),
        Panel(
            "resolution",
            "Time to resolution (conversation closed)",
            ("agent", "resolved", "average_seconds"),
            resolution_times,
        ),
        Panel("optouts", "Opt-outs per day", ("day", "count"), opt_outs_per_day),
        Panel(
            "optout_campaigns",
            "Opt-outs per campaign",
            ("campaign", "count"),
            opt_outs_per_campaign,
        ),
        Panel(
            "stuck",
            "Messages stuck without a final status",
            ("status", "count", "oldest"),
            lambda r: stuck_messages(),
            note="Now, whatever the range: outbound and older than the reconcile delay.",
        ),
    )
}


GROUPED = {"outbound", "templates", "senders", "failures", "dlt", "inbound"}


def panel_rows(key, r: DateRange, groups=None) -> list[dict]:
    """One panel's rows, computed from the messages themselves (or from `groups`)."""
    if key in GROUPED:
        return PANELS[key].compute(r, groups)
    return PANELS[key].compute(r)


def all_panels(r: DateRange) -> dict:
    """Every panel's rows for the page: the message and agent panels from the per-day rollup
    (built for missing days on the spot; today's kept fresh by beat), the rest live."""
    from . import rollups

    rollups.ensure_days(r)
    groups = {}  # one query per distinct set of keys (templates, failures, DLT share one)
    data = {}
    for key in GROUPED:
        keys = rollups.PANEL_KEYS[key]
        if keys not in groups:
            groups[keys] = rollups.message_groups(r, key)
        data[key] = panel_rows(key, r, groups[keys])
    agents = rollups.agent_rows(r)
    data["first_reply"] = first_reply_times(r, [a for a in agents if a["kind"] == "first_reply"])
    data["resolution"] = resolution_times(r, [a for a in agents if a["kind"] == "resolution"])
    for key in PANELS:
        if key not in data:
            data[key] = panel_rows(key, r)
    return {key: data[key] for key in PANELS}


def panel_table(key, r: DateRange):
    """(header, rows as lists) of one panel as the page shows it, for CSV export."""
    columns = PANELS[key].columns
    rows = all_panels(r)[key]
    return list(columns), [[row.get(column) for column in columns] for row in rows]
