"""What every webhook shares: the token check, the size limit, and storing the raw event."""

import hmac
import logging

from django.conf import settings
from django.http import JsonResponse

from ..services.webhook_events import insert_event, kick_drain_on_commit

logger = logging.getLogger("conversations.webhooks")

# Exotel's payloads are a few hundred bytes; a body of 2,000 characters URL-encodes to < 20 kB.
MAX_WEBHOOK_BYTES = 64 * 1024


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


def has_valid_inbound_token(request) -> bool:
    """True when EXOTEL_WEBHOOK_TOKEN is unset, or the request carries it as ?token=."""
    expected = settings.EXOTEL_WEBHOOK_TOKEN
    if not expected:
        return True
    given = request.GET.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def is_allowed_ip(request) -> bool:
    allowed = settings.EXOTEL_WEBHOOK_ALLOWED_IPS
    return not allowed or client_ip(request) in allowed


def is_too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > MAX_WEBHOOK_BYTES


def refuse(status, message, fields=None):
    """A 4xx with a reason (and per-field errors), logged without secrets for operators."""
    logger.warning("webhook refused (%s): %s %s", status, message, fields or "")
    body = {"received": False, "error": message}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def store_event(kind, payload, *, sid="", request=None) -> int:
    """Save the raw event (committed before we answer) and make sure a drain task applies it
    once the transaction commits. Returns the event's id."""
    event_id = insert_event(
        kind, payload, sid=sid, remote_addr=client_ip(request) if request else None
    )
    kick_drain_on_commit()
    return event_id
