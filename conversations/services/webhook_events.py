"""Applying stored webhook events, once each, whatever the broker does.

Webhook views store a `WebhookEvent` and enqueue `process_webhook_event`; a beat sweep
re-enqueues events the broker dropped. A handler returns a short outcome text, or raises
`EventWaiting` when the event cannot be applied yet (a status callback for a sid we do not know
yet): it then stays unprocessed until whatever it waits for arrives.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import WebhookEvent, WebhookKind

logger = logging.getLogger(__name__)

HANDLERS = {
    WebhookKind.SMS_STATUS: "conversations.services.status_callbacks.apply_status_event",
    WebhookKind.SMS_INCOMING: "conversations.services.inbound.process_inbound_event",
    WebhookKind.SMS_REPLY_APPLET: "conversations.services.inbound.process_inbound_event",
    # Applied in the request (the answer depends on it); replayed from admin through here.
    WebhookKind.CALL_EVENT: "conversations.services.calls.process_call_webhook_event",
}
WAITING = "waiting"
MAX_ATTEMPTS = 5


class EventWaiting(Exception):
    """The event cannot be applied yet; keep it for later."""


def process_webhook_event(event_id) -> str | None:
    """Apply one event under a row lock; a processed event is never applied twice."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.processed_at is not None:
            return None
        event.attempts += 1
        try:
            with transaction.atomic():
                outcome = import_string(HANDLERS[event.kind])(event)
        except EventWaiting as waiting:
            event.outcome = f"{WAITING}: {waiting}"[:255]
            event.save(update_fields=["attempts", "outcome"])
            return event.outcome
        except Exception as exc:
            logger.exception("webhook event %s failed", event.pk)
            event.outcome = f"error: {exc}"[:255]
            event.save(update_fields=["attempts", "outcome"])
            return event.outcome
        event.processed_at = timezone.now()
        event.outcome = (outcome or "applied")[:255]
        event.save(update_fields=["attempts", "outcome", "processed_at"])
        return event.outcome


def replay_webhook_event(event) -> str | None:
    """Apply an event again from admin (e.g. after a fix); handlers are idempotent."""
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=None, outcome="")
    return process_webhook_event(event.pk)


def unprocessed_event_ids(older_than=timedelta(seconds=30)):
    """Events the broker may have dropped (or that waited), with attempts left."""
    return list(
        WebhookEvent.objects.filter(
            processed_at__isnull=True,
            received_at__lt=timezone.now() - older_than,
            attempts__lt=MAX_ATTEMPTS,
        ).values_list("pk", flat=True)[:1000]
    )


def release_waiting_events(sid):
    """Re-apply events that waited for this sid, now that it is known."""
    waiting = WebhookEvent.objects.filter(
        sid=sid, processed_at__isnull=True, outcome__startswith=WAITING
    ).values_list("pk", flat=True)
    for event_id in list(waiting):
        process_webhook_event(event_id)
