"""Beat jobs that keep the outbox honest: release held messages, re-enqueue what the broker
dropped, and ask Exotel about messages whose final status never arrived."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exotel_client import ExotelError

from ..models import Message, MessageStatus, StatusEventSource
from . import sending
from .exotel import get_exotel_client
from .status_callbacks import ExotelStatus, apply_status, record_transition
from .threads import note_status_change

logger = logging.getLogger(__name__)

NON_FINAL_AT_EXOTEL = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SUBMITTED)


def release_held_messages(now=None) -> int:
    """Scheduled messages whose time has come become pending and are enqueued."""
    now = now or timezone.now()
    due = list(
        Message.objects.filter(status=MessageStatus.SCHEDULED, send_after__lte=now).values_list(
            "pk", flat=True
        )[:5000]
    )
    released = 0
    for message_id in due:
        with transaction.atomic():
            moved = Message.objects.filter(pk=message_id, status=MessageStatus.SCHEDULED).update(
                status=MessageStatus.PENDING, updated_at=now
            )
            if moved:
                message = Message.objects.get(pk=message_id)
                record_transition(message, StatusEventSource.INTERNAL, note="released for sending")
                sending.enqueue_send(message)
                released += moved
    return released


def requeue_pending_messages(older_than=timedelta(minutes=2)) -> int:
    """Pending messages nobody picked up (broker down or message lost): enqueue them again.

    Harmless when the original task is still queued: only one claim of a message succeeds.
    The age is above the longest retry backoff, so a message waiting to retry is left alone.
    """
    stale = Message.objects.filter(
        status=MessageStatus.PENDING, updated_at__lt=timezone.now() - older_than
    ).values_list("pk", flat=True)[:5000]
    count = 0
    for message_id in stale:
        with transaction.atomic():
            sending.enqueue_send(Message(pk=message_id))
        count += 1
    return count


def expire_stuck_dispatching(older_than=timedelta(minutes=10)) -> int:
    """A worker that died mid-request leaves `dispatching`: the outcome is unknown, not resent."""
    stuck = Message.objects.filter(
        status=MessageStatus.DISPATCHING, last_attempt_at__lt=timezone.now() - older_than
    )
    count = 0
    for message in stuck[:1000]:
        with transaction.atomic():
            if Message.objects.filter(pk=message.pk, status=MessageStatus.DISPATCHING).update(
                status=MessageStatus.UNKNOWN
            ):
                message.status = MessageStatus.UNKNOWN
                record_transition(
                    message, StatusEventSource.INTERNAL, note="worker stopped mid-send"
                )
                note_status_change(message)
                count += 1
    return count


def reconcile_stuck_messages(now=None) -> int:
    """Ask Exotel (SMS details API) about messages non-final for too long; apply what it says."""
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)
    stuck = Message.objects.filter(
        status__in=(*NON_FINAL_AT_EXOTEL, MessageStatus.UNKNOWN),
        sid__isnull=False,
        updated_at__lt=cutoff,
    ).values_list("pk", "sid")[: settings.RECONCILE_BATCH_SIZE]
    applied = 0
    client = get_exotel_client()
    for message_id, sid in stuck:
        try:
            details = client.get_message(sid)
        except ExotelError as exc:
            logger.warning("reconciliation of %s failed: %s", sid, exc)
            continue
        report = ExotelStatus(
            status=details.status,
            detailed_status=details.detailed_status or "",
            code=details.detailed_status_code,
            sms_units=details.sms_units,
            price=details.price,
            occurred_at=details.date_sent or details.date_updated,
        )
        applied += apply_status(message_id, report, source=StatusEventSource.RECONCILE)
        Message.objects.filter(pk=message_id).update(updated_at=timezone.now())
    return applied
