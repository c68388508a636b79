"""Retention (issue 8, India's DPDP Act): message bodies are kept for a set number of days.

`mask_old_bodies` replaces the body (and template variables) of every message created before
the cutoff with a fixed marker, and blanks the same text where it was copied: the conversation's
last-message preview, the raw inbound webhook payloads, and auto-reply texts. Everything that is
counted stays (direction, status, codes, segments, price, times, template, campaign), so the
dashboard's numbers do not change. Each pass is recorded as a `RetentionRun`; it works in
batches of primary keys, so a first run over millions of rows does not hold one long lock.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import (
    Conversation,
    InboundOutcome,
    Message,
    RetentionRun,
    WebhookEvent,
    WebhookKind,
)

MASKED_BODY = "[removed: retention period]"
BATCH_SIZE = 5000
BODY_WEBHOOKS = (WebhookKind.SMS_INCOMING, WebhookKind.SMS_REPLY_APPLET)


def retention_cutoff(days=None, now=None):
    days = settings.MESSAGE_BODY_RETENTION_DAYS if days is None else days
    if not days or days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def _in_batches(queryset, **changes):
    """Update `queryset` in primary-key batches; returns how many rows changed."""
    total = 0
    last_pk = 0
    while True:
        pks = list(
            queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not pks:
            return total
        with transaction.atomic():
            total += queryset.model.objects.filter(pk__in=pks).update(**changes)
        last_pk = pks[-1]


def mask_old_bodies(days=None, now=None) -> RetentionRun | None:
    """Mask what is older than `days` (default: MESSAGE_BODY_RETENTION_DAYS; 0 = keep)."""
    now = now or timezone.now()
    cutoff = retention_cutoff(days, now)
    if cutoff is None:
        return None
    messages = _in_batches(
        Message.objects.filter(created_at__lt=cutoff).exclude(body=MASKED_BODY),
        body=MASKED_BODY,
        variables=[],
    )
    conversations = _in_batches(
        Conversation.objects.filter(last_activity_at__lt=cutoff).exclude(
            last_message_body__in=("", MASKED_BODY)
        ),
        last_message_body=MASKED_BODY,
    )
    _in_batches(
        WebhookEvent.objects.filter(received_at__lt=cutoff, kind__in=BODY_WEBHOOKS).exclude(
            payload={"masked": True}
        ),
        payload={"masked": True},
    )
    _in_batches(
        InboundOutcome.objects.filter(created_at__lt=cutoff).exclude(reply_body=""),
        reply_body="",
    )
    return RetentionRun.objects.create(
        cutoff=cutoff,
        retention_days=(now - cutoff).days,
        messages_masked=messages,
        conversations_masked=conversations,
    )
