"""What every webhook shares: the token check, the size limit, and storing the raw event."""

import hmac
import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

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
    given = query_value(request, "token") or ""
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


class UnreadableForm(ValueError):
    """The body is not a form we can read (too many fields, or not text)."""


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def form_fields(request) -> dict:
    """A posted form as {name: last value}, what `request.POST.dict()` gives, read straight
    from the body with the standard library: Django's QueryDict costs more per field than the
    rest of a status callback's handling. Other content types go through `request.POST`."""
    if request.content_type != FORM_CONTENT_TYPE:
        try:
            return request.POST.dict()
        except (SuspiciousOperation, MultiPartParserError) as exc:
            raise UnreadableForm(f"The form could not be read: {exc}") from exc
    raw = request.body
    try:
        text = raw.decode(request.encoding or settings.DEFAULT_CHARSET)
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")  # as Django's QueryDict does
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        )
    except ValueError as exc:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        raise UnreadableForm(str(exc)) from exc
    if "%00" in text or "\x00" in text:  # PostgreSQL cannot store NUL; no callback has one
        return {k.replace("\x00", ""): v.replace("\x00", "") for k, v in pairs}
    return dict(pairs)


def query_value(request, name) -> str | None:
    """One query-string parameter, without building `request.GET` (a QueryDict)."""
    query = request.META.get("QUERY_STRING", "")
    if f"{name}=" not in query:
        return None
    value = None
    for key, item in parse_qsl(query, keep_blank_values=True, max_num_fields=100):
        if key == name:
            value = item
    return value


def received(duplicate=None):
    """The 200 every stored webhook gets, as JsonResponse would write it (the bytes are built
    once: they are the same every time)."""
    return HttpResponse(_RECEIVED[duplicate], content_type="application/json")


_RECEIVED = {
    None: b'{"received": true}',
    False: b'{"received": true, "duplicate": false}',
    True: b'{"received": true, "duplicate": true}',
}


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
