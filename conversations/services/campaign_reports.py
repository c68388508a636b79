"""What a campaign will do (preflight) and what it did (progress, charts, export).

Every number is an aggregate in the database (GROUP BY on indexed columns), so a page for a
100,000-recipient campaign costs a few queries, not a loop over rows. Charts are SVG drawn
here: no JavaScript library, nothing from a CDN.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour, TruncMinute, TruncSecond
from django.utils import timezone
from django.utils.html import format_html, format_html_join, mark_safe

from ..models import (
    CampaignRecipient,
    CampaignStatus,
    Direction,
    Message,
    MessageStatus,
    OptOut,
    RateUnit,
    RecipientState,
    SkipReason,
)
from .campaign_dispatch import body_for
from .schedule import IST, PROMOTIONAL_END, next_promotional_window

AWAITING = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SUBMITTED)
ACCEPTED = (*AWAITING, MessageStatus.SENT, MessageStatus.DELIVERED)
FAILED = (MessageStatus.FAILED, MessageStatus.FAILED_DND)
MAX_LISTED = 50


# --- Preflight ---------------------------------------------------------------------------


@dataclass
class Preflight:
    rows: int
    duplicates: int
    invalid: int
    opted_out: int
    bad_variables: int
    sendable: int
    segments: int
    segments_per_message: dict
    price_per_segment: Decimal
    estimated_cost: Decimal
    rate: float | None
    assumed_rate: bool
    duration_seconds: float
    starts_at: datetime
    finishes_at: datetime
    samples: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _opted_out_now(campaign):
    active = OptOut.objects.filter(revoked_at__isnull=True).values("phone_number")
    return campaign.recipients.filter(state=RecipientState.PENDING, phone_number__in=active)


def price_per_segment(sms_type) -> Decimal:
    """What a segment cost lately (Exotel's Price / SmsUnits), else the configured price."""
    recent = (
        Message.objects.filter(
            direction=Direction.OUTBOUND, sms_type=sms_type, price__isnull=False, sms_units__gt=0
        )
        .order_by("-id")
        .values_list("price", "sms_units")[:500]
    )
    pairs = list(recent)
    units = sum(u for _, u in pairs)
    if units:
        return (sum(p for p, _ in pairs) / units).quantize(Decimal("0.0001"))
    return Decimal(str(settings.CAMPAIGN_PRICE_PER_SEGMENT))


def estimate_finish(start, seconds, promotional) -> datetime:
    """When `seconds` of sending started at `start` ends; promotional sends only in
    10:00-21:00 IST, so the estimate skips the nights."""
    if not promotional:
        return start + timedelta(seconds=seconds)
    moment, left = start, seconds
    while True:
        moment = next_promotional_window(moment) or moment
        local = moment.astimezone(IST)
        closes = datetime.combine(local.date(), PROMOTIONAL_END, tzinfo=IST)
        available = (closes - local).total_seconds()
        if left <= available:
            return moment + timedelta(seconds=left)
        left -= available
        moment = closes


def preflight(campaign, now=None) -> Preflight:
    """Recipients after exclusions, segments x recipients, cost, and when it would finish."""
    now = now or timezone.now()
    recipients = campaign.recipients.all()
    skipped = dict(
        recipients.filter(state=RecipientState.SKIPPED)
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    newly_opted_out = _opted_out_now(campaign).count()
    pending = recipients.filter(state=RecipientState.PENDING).exclude(
        pk__in=_opted_out_now(campaign).values("pk")
    )
    per_message = dict(pending.values_list("segments").annotate(n=Count("id")).order_by())
    sendable = sum(per_message.values())
    segments = sum(k * n for k, n in per_message.items())
    unit_price = price_per_segment(campaign.sms_type)
    rate = campaign.rate or settings.EXOTEL_MAX_SEND_RATE
    assumed = rate is None
    rate = rate or settings.CAMPAIGN_ASSUMED_RATE
    by_segments = campaign.rate_unit == RateUnit.SEGMENTS if campaign.rate else not assumed
    duration = (segments if by_segments else sendable) / rate if rate else 0.0
    if campaign.rate and settings.EXOTEL_MAX_SEND_RATE:
        # The account-wide cap (EXOTEL_MAX_SEND_RATE) counts segments: it may be the slower.
        duration = max(duration, segments / settings.EXOTEL_MAX_SEND_RATE)
    starts = max(campaign.scheduled_at or now, now)
    report = Preflight(
        rows=recipients.count() + campaign.duplicates_merged,
        duplicates=campaign.duplicates_merged,
        invalid=skipped.get(SkipReason.INVALID, 0),
        opted_out=skipped.get(SkipReason.OPTED_OUT, 0) + newly_opted_out,
        bad_variables=skipped.get(SkipReason.BAD_VARIABLES, 0),
        sendable=sendable,
        segments=segments,
        segments_per_message=dict(sorted(per_message.items())),
        price_per_segment=unit_price,
        estimated_cost=(unit_price * segments).quantize(Decimal("0.01")),
        rate=rate,
        assumed_rate=assumed,
        duration_seconds=duration,
        starts_at=starts,
        finishes_at=estimate_finish(starts, duration, campaign.is_promotional),
    )
    report.samples = _samples(campaign, pending)
    report.excluded = list(
        recipients.filter(state=RecipientState.SKIPPED)
        .order_by("id")
        .values("row_number", "phone_number", "reason", "detail")[:MAX_LISTED]
    )
    report.warnings = _warnings(campaign, report, now)
    return report


def _samples(campaign, pending):
    samples = []
    if campaign.template is None:
        return samples
    for recipient in pending.order_by("id")[:3]:
        try:
            samples.append((recipient.phone_number, body_for(campaign, recipient)))
        except ValueError as exc:
            samples.append((recipient.phone_number, f"(cannot render: {exc})"))
    return samples


def _warnings(campaign, report, now):
    warnings = []
    if campaign.template is not None and not campaign.template.active:
        warnings.append("The DLT template is not active: the campaign cannot start.")
    if not report.sendable:
        warnings.append("No recipient is left to send to.")
    if campaign.is_promotional and next_promotional_window(report.starts_at):
        warnings.append(
            "Promotional SMS go out between 10:00 and 21:00 IST only: sending waits for the "
            "next window."
        )
    if report.assumed_rate:
        warnings.append(
            f"No rate is set: the finish time assumes {settings.CAMPAIGN_ASSUMED_RATE:g} "
            "messages a second."
        )
    if campaign.scheduled_at and campaign.scheduled_at < now and campaign.status == "draft":
        warnings.append("The scheduled time has passed: starting sends at once.")
    return warnings


# --- Progress ----------------------------------------------------------------------------


def progress(campaign, now=None) -> dict:
    """Counts by status, failure reasons, replies and answers, cost, throughput and ETA."""
    now = now or timezone.now()
    states = dict(campaign.recipients.values_list("state").annotate(n=Count("id")).order_by())
    skips = dict(
        campaign.recipients.filter(state=RecipientState.SKIPPED)
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    messages = Message.objects.filter(campaign=campaign, direction=Direction.OUTBOUND)
    by_status = dict(messages.values_list("status").annotate(n=Count("id")).order_by())
    totals = messages.aggregate(cost=Sum("price"), units=Sum("sms_units"))
    total = sum(states.values())
    pending = states.get(RecipientState.PENDING, 0) + states.get(RecipientState.SENDING, 0)
    sent = sum(by_status.get(s, 0) for s in ACCEPTED)
    replied = campaign.recipients.filter(replied_at__isnull=False).count()
    recent = messages.filter(created_at__gte=now - timedelta(seconds=60)).count() / 60
    running = campaign.status == CampaignStatus.RUNNING
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "pause_reason": campaign.pause_reason,
        "resume_at": campaign.resume_at,
        "total": total,
        "pending": pending,
        "sent": sent,
        "delivered": by_status.get(MessageStatus.DELIVERED, 0),
        "sent_undelivered": sent - by_status.get(MessageStatus.DELIVERED, 0),
        "delivered_to_operator": by_status.get(MessageStatus.SENT, 0),
        "awaiting_delivery": sum(by_status.get(s, 0) for s in AWAITING),
        "failed": sum(by_status.get(s, 0) for s in FAILED),
        "failed_dnd": by_status.get(MessageStatus.FAILED_DND, 0),
        "unknown": by_status.get(MessageStatus.UNKNOWN, 0),
        "needs_review": states.get(RecipientState.REVIEW, 0),
        "skipped": states.get(RecipientState.SKIPPED, 0),
        "skip_reasons": {str(k): v for k, v in skips.items()},
        "cancelled": states.get(RecipientState.CANCELLED, 0),
        "failure_reasons": failure_reasons(campaign),
        "replies": replied,
        "reply_rate": round(replied / sent, 4) if sent else 0.0,
        "answers": answer_tally(campaign),
        "cost": totals["cost"] or Decimal("0"),
        "sms_units": totals["units"] or 0,
        "percent_done": round(100 * (total - pending) / total, 1) if total else 100.0,
        "messages_per_second": round(recent, 2),
        "eta": now + timedelta(seconds=pending / recent) if running and recent else None,
        "rate": campaign.rate,
        "rate_unit": campaign.rate_unit,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
        "last_error": campaign.last_error,
    }


def failure_reasons(campaign, limit=12):
    """Failed messages grouped by Exotel's code and reason, most common first."""
    rows = (
        Message.objects.filter(campaign=campaign, direction=Direction.OUTBOUND, status__in=FAILED)
        .values("error_code", "error_message")
        .annotate(count=Count("id"))
        .order_by("-count", "error_code")[:limit]
    )
    return [
        {"code": r["error_code"], "reason": r["error_message"] or "Unknown", "count": r["count"]}
        for r in rows
    ]


def answer_tally(campaign, limit=10):
    rows = (
        campaign.recipients.exclude(answer="")
        .values("answer")
        .annotate(count=Count("id"))
        .order_by("-count", "answer")[:limit]
    )
    return {r["answer"]: r["count"] for r in rows}


# --- Charts (server-side SVG) ----------------------------------------------------------


def _trunc_for(span):
    if span <= timedelta(minutes=15):
        return TruncSecond
    if span <= timedelta(days=2):
        return TruncMinute
    return TruncHour


def delivery_series(campaign, now=None, bins=60):
    """Cumulative accepted and delivered counts over the campaign's time, in `bins` steps."""
    now = now or timezone.now()
    start = campaign.started_at
    if start is None:
        return None
    end = campaign.finished_at or now
    messages = Message.objects.filter(campaign=campaign, direction=Direction.OUTBOUND)
    delivered_end = messages.filter(delivered_at__isnull=False).order_by("-delivered_at")
    last = delivered_end.values_list("delivered_at", flat=True).first()
    end = max(end, last or end, start + timedelta(seconds=1))
    trunc = _trunc_for(end - start)
    step = (end - start) / bins

    def counts(column):
        grouped = (
            messages.filter(**{f"{column}__isnull": False})
            .annotate(at=trunc(column, tzinfo=IST))
            .values_list("at")
            .annotate(n=Count("id"))
            .order_by()
        )
        buckets = [0] * bins
        for at, n in grouped:
            index = min(bins - 1, max(0, int((at - start) / step))) if step else 0
            buckets[index] += n
        total, cumulative = 0, []
        for n in buckets:
            total += n
            cumulative.append(total)
        return cumulative

    return {
        "start": start,
        "end": end,
        "sent": counts("sent_at"),
        "delivered": counts("delivered_at"),
    }


def svg_delivery_chart(series, width=640, height=200):
    if not series or not series["sent"] or not series["sent"][-1]:
        return mark_safe('<p class="help">No messages sent yet.</p>')
    pad, top = 40, 10
    peak = max(series["sent"][-1], 1)
    bins = len(series["sent"])

    def points(values):
        return " ".join(
            f"{pad + i * (width - pad - 10) / max(bins - 1, 1):.1f},"
            f"{top + (height - top - 30) * (1 - v / peak):.1f}"
            for i, v in enumerate(values)
        )

    start = timezone.localtime(series["start"]).strftime("%d %b %H:%M:%S")
    end = timezone.localtime(series["end"]).strftime("%d %b %H:%M:%S")
    return format_html(
        '<svg class="campaign-chart" role="img" viewBox="0 0 {w} {h}" width="100%" '
        'aria-label="Messages accepted and delivered over time">'
        '<line x1="{p}" y1="{t}" x2="{p}" y2="{b}" stroke="#999"/>'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>'
        '<text x="{tx}" y="{ty}" font-size="11" text-anchor="end">{peak}</text>'
        '<text x="{tx}" y="{b}" font-size="11" text-anchor="end">0</text>'
        '<text x="{p}" y="{lb}" font-size="11">{start}</text>'
        '<text x="{r}" y="{lb}" font-size="11" text-anchor="end">{end}</text>'
        '<polyline fill="none" stroke="#417690" stroke-width="2" points="{sent}"/>'
        '<polyline fill="none" stroke="#2e9e44" stroke-width="2" points="{delivered}"/>'
        '<text x="{lx}" y="{ly}" font-size="11" fill="#417690">accepted</text>'
        '<text x="{lx}" y="{ly2}" font-size="11" fill="#2e9e44">delivered</text>'
        "</svg>",
        w=width,
        h=height,
        p=pad,
        t=top,
        b=height - 30,
        r=width - 10,
        tx=pad - 4,
        ty=top + 10,
        lb=height - 12,
        peak=peak,
        start=start,
        end=end,
        sent=points(series["sent"]),
        delivered=points(series["delivered"]),
        lx=pad + 8,
        ly=top + 12,
        ly2=top + 26,
    )


def svg_bar_chart(items, width=640, bar=18):
    """Horizontal bars for [(label, count), ...]; labels are escaped."""
    if not items:
        return mark_safe('<p class="help">None.</p>')
    peak = max(count for _, count in items) or 1
    label_width, gap = 260, 6
    height = len(items) * (bar + gap) + gap
    rows = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#ba2121"/>'
        '<text x="{}" y="{}" font-size="11">{}</text>',
        (
            (
                label_width - 6,
                gap + i * (bar + gap) + bar - 5,
                label[:45],
                label_width,
                gap + i * (bar + gap),
                f"{max(1.0, (width - label_width - 60) * count / peak):.1f}",
                bar,
                label_width + (width - label_width - 60) * count / peak + 4,
                gap + i * (bar + gap) + bar - 5,
                count,
            )
            for i, (label, count) in enumerate(items)
        ),
    )
    return format_html(
        '<svg class="campaign-chart" role="img" viewBox="0 0 {} {}" width="100%" '
        'aria-label="Failures by reason">{}</svg>',
        width,
        height,
        rows,
    )


def failure_chart_items(report):
    items = [(f"{r['code'] or '—'} {r['reason']}", r["count"]) for r in report["failure_reasons"]]
    labels = dict(SkipReason.choices)
    items += [
        (f"Skipped: {labels.get(reason, reason)}", count)
        for reason, count in report["skip_reasons"].items()
    ]
    if report["unknown"]:
        items.append(("Outcome unknown (worker stopped)", report["unknown"]))
    return items


# --- Export ------------------------------------------------------------------------------

EXPORT_HEADER = [
    "row",
    "phone_number",
    "name",
    "state",
    "reason",
    "detail",
    "message_status",
    "detailed_status",
    "detailed_status_code",
    "error",
    "sid",
    "sent_at",
    "delivered_at",
    "sms_units",
    "price",
    "answer",
    "replied_at",
]


def export_rows(campaign):
    """One row per recipient with its message's outcome; stream it (see services.exports)."""
    return (
        CampaignRecipient.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list(
            "row_number",
            "phone_number",
            "name",
            "state",
            "reason",
            "detail",
            "message__status",
            "message__detailed_status",
            "message__detailed_status_code",
            "message__error_message",
            "message__sid",
            "message__sent_at",
            "message__delivered_at",
            "message__sms_units",
            "message__price",
            "answer",
            "replied_at",
        )
        .iterator(chunk_size=2000)
    )
