"""Alerts (issue 8): rules staff edit in admin, evaluated by a beat task every minute.

Each rule yields the subjects that break it now, with evidence; a subject without an open alert
gets one (e-mailed to staff once, when it opens), an open alert whose subject no longer breaks
the rule resolves itself. Every check is one or a few aggregate queries.

Broker backlog: with Redis, the length of the Celery queue (LLEN); with the filesystem broker,
the number of message files waiting in its queue folder (kombu stores one file per task).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from exotel_client import DLT_REJECTION_CODES

from ..models import (
    Alert,
    AlertKind,
    AlertRule,
    Direction,
    Message,
    MessageStatus,
    WebhookEvent,
)
from .analytics import STUCK
from .template_health import DELIVERED, FINAL_AT_EXOTEL

logger = logging.getLogger(__name__)
CELERY_QUEUE = "celery"


@dataclass
class Breach:
    subject: str
    summary: str
    evidence: dict = field(default_factory=dict)


def _delivery_breaches(rule, group_field, label):
    """Subjects whose last `window` final messages delivered below `threshold` percent."""
    last_n = rule.window
    finals = Message.objects.filter(
        direction=Direction.OUTBOUND, status__in=FINAL_AT_EXOTEL
    ).exclude(**{f"{group_field}__isnull": True})
    if group_field == "sender":
        finals = finals.exclude(sender="")
    breaches = []
    # Judged: templates or senders that sent in the last day, and those with an open alert.
    recent = Message.objects.filter(
        direction=Direction.OUTBOUND, created_at__gte=timezone.now() - timedelta(days=1)
    ).exclude(**{f"{group_field}__isnull": True})
    subjects = set(recent.values_list(group_field, flat=True).distinct().order_by())
    prefix = f"{label}:"
    for alert_subject in rule.alerts.filter(resolved_at=None).values_list("subject", flat=True):
        subject = alert_subject.removeprefix(prefix)
        subjects.add(int(subject) if group_field == "template" else subject)
    subjects.discard("")
    for subject in sorted(subjects, key=str):  # templates and sender ids: a handful, not rows
        recent = finals.filter(**{group_field: subject}).order_by("-created_at", "-id")[:last_n]
        counts = Message.objects.filter(pk__in=recent.values("pk")).aggregate(
            finished=Count("id"),
            delivered=Count("id", filter=Q(status__in=DELIVERED)),
        )
        if counts["finished"] < last_n:
            continue
        rate = 100.0 * counts["delivered"] / counts["finished"]
        if rate < rule.threshold:
            breaches.append(
                Breach(
                    f"{label}:{subject}",
                    f"{label.title()} {_name(label, subject)}: {rate:.1f}% delivered over its last "
                    f"{counts['finished']} messages (threshold {rule.threshold:g}%)",
                    {"rate": round(rate, 1), **counts, "threshold": rule.threshold},
                )
            )
    return breaches


def _name(label, subject):
    if label == "template":
        from ..models import DltTemplate

        template = DltTemplate.objects.filter(pk=subject).first()
        return str(template) if template else subject
    return subject


def _dlt_spike(rule, now):
    since = now - timedelta(minutes=rule.window)
    rows = list(
        Message.objects.filter(
            status__in=(MessageStatus.FAILED, MessageStatus.FAILED_DND),  # (status, updated_at)
            updated_at__gte=since,
            direction=Direction.OUTBOUND,
            detailed_status_code__in=DLT_REJECTION_CODES,
        )
        .values("detailed_status_code")
        .annotate(count=Count("id"))
        .order_by("-count")
    )
    total = sum(row["count"] for row in rows)
    if total < rule.threshold:
        return []
    return [
        Breach(
            "",
            f"{total} DLT rejections in the last {rule.window} minutes "
            f"(threshold {rule.threshold:g})",
            {"total": total, "by_code": {str(r["detailed_status_code"]): r["count"] for r in rows}},
        )
    ]


def _callbacks_missing(rule, now):
    """Messages Exotel accepted (they have a sid) with no final status after `window` minutes."""
    cutoff = now - timedelta(minutes=rule.window)
    waiting = Message.objects.filter(
        status__in=STUCK, direction=Direction.OUTBOUND, created_at__lt=cutoff, sid__isnull=False
    )
    counts = waiting.aggregate(count=Count("id"))
    if counts["count"] < rule.threshold:
        return []
    oldest = list(waiting.order_by("created_at").values_list("pk", flat=True)[:10])
    return [
        Breach(
            "",
            f"{counts['count']} messages without a final status after {rule.window} minutes",
            {"count": counts["count"], "oldest_message_ids": oldest},
        )
    ]


def failed_webhook_events(since):
    """Webhook events that failed processing: the handler raised (outcome "error: ...")."""
    return WebhookEvent.objects.filter(
        received_at__gte=since, processed_at__isnull=True, outcome__startswith="error"
    )


def _webhook_errors(rule, now):
    failed = failed_webhook_events(now - timedelta(minutes=rule.window))
    count = failed.count()
    if count < rule.threshold:
        return []
    latest = list(failed.order_by("-received_at").values("id", "kind", "outcome")[:10])
    return [
        Breach(
            "",
            f"{count} inbound webhooks failed processing in the last {rule.window} minutes",
            {"count": count, "latest": latest},
        )
    ]


def broker_backlog() -> dict:
    """Tasks waiting in the broker now, and how that was measured."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        count = sum(1 for path in folder.glob("*.msg")) if folder.is_dir() else 0
        return {"transport": "filesystem", "queued": count}
    if url.startswith(("redis://", "rediss://")):
        from smsdesk.celery import app

        with app.connection_for_read() as conn:
            client = conn.default_channel.client
            return {"transport": "redis", "queued": int(client.llen(CELERY_QUEUE))}
    return {"transport": url.split(":", 1)[0], "queued": None}


def _broker_backlog(rule, now):
    try:
        backlog = broker_backlog()
    except Exception as exc:
        logger.warning("could not measure the broker backlog: %s", type(exc).__name__)
        return []
    if backlog["queued"] is None or backlog["queued"] < rule.threshold:
        return []
    return [
        Breach(
            "",
            f"{backlog['queued']} tasks waiting in the broker (threshold {rule.threshold:g})",
            backlog,
        )
    ]


CHECKS = {
    AlertKind.TEMPLATE_DELIVERY: lambda rule, now: _delivery_breaches(rule, "template", "template"),
    AlertKind.SENDER_DELIVERY: lambda rule, now: _delivery_breaches(rule, "sender", "sender"),
    AlertKind.DLT_SPIKE: _dlt_spike,
    AlertKind.CALLBACKS_MISSING: _callbacks_missing,
    AlertKind.WEBHOOK_ERRORS: _webhook_errors,
    AlertKind.BROKER_BACKLOG: _broker_backlog,
}


@dataclass
class Evaluation:
    opened: list = field(default_factory=list)
    resolved: list = field(default_factory=list)
    ongoing: list = field(default_factory=list)


def evaluate_rule(rule, now=None) -> Evaluation:
    now = now or timezone.now()
    breaches = {breach.subject: breach for breach in CHECKS[rule.kind](rule, now)}
    result = Evaluation()
    with transaction.atomic():
        open_alerts = {
            a.subject: a for a in rule.alerts.select_for_update().filter(resolved_at=None)
        }
        for subject, alert in open_alerts.items():
            if subject in breaches:
                breach = breaches[subject]
                alert.summary, alert.evidence, alert.last_seen_at = (
                    breach.summary[:255],
                    breach.evidence,
                    now,
                )
                alert.save(update_fields=["summary", "evidence", "last_seen_at"])
                result.ongoing.append(alert)
            else:
                alert.resolved_at = now
                alert.save(update_fields=["resolved_at"])
                result.resolved.append(alert)
        for subject, breach in breaches.items():
            if subject not in open_alerts:
                result.opened.append(
                    Alert.objects.create(
                        rule=rule,
                        subject=subject,
                        summary=breach.summary[:255],
                        evidence=breach.evidence,
                        opened_at=now,
                        last_seen_at=now,
                    )
                )
    if rule.email:
        for alert in result.opened:
            email_alert(alert, now)
    return result


def evaluate_all(now=None) -> Evaluation:
    """Evaluate every active rule; a rule that errors is logged and the others still run.
    Alerts of rules switched off resolve."""
    now = now or timezone.now()
    total = Evaluation()
    for rule in AlertRule.objects.filter(active=True):
        try:
            result = evaluate_rule(rule, now)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule.pk)
            continue
        total.opened += result.opened
        total.resolved += result.resolved
        total.ongoing += result.ongoing
    Alert.objects.filter(resolved_at=None, rule__active=False).update(resolved_at=now)
    return total


def alert_recipients() -> list[str]:
    staff = (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return sorted({*staff, *settings.ALERT_EMAIL_RECIPIENTS})


def email_alert(alert, now=None):
    """E-mail staff once, when the alert opens (`emailed_at` guards against repeats)."""
    recipients = alert_recipients()
    if not recipients or not Alert.objects.filter(pk=alert.pk, emailed_at=None).update(
        emailed_at=now or timezone.now()
    ):
        return False
    lines = [alert.summary, "", f"Rule: {alert.rule.name}", f"Opened: {alert.opened_at}", ""]
    lines += [f"{key}: {value}" for key, value in alert.evidence.items()]
    lines += ["", f"{settings.PUBLIC_BASE_URL}/admin/conversations/alert/{alert.pk}/change/"]
    try:
        send_mail(f"[SMS Desk] {alert.summary}"[:200], "\n".join(lines), None, recipients)
    except Exception:
        logger.exception("could not e-mail alert %s", alert.pk)
        return False
    return True


def open_alerts():
    return Alert.objects.filter(resolved_at=None).select_related("rule")
