"""`/webhook/call-event`: an Exotel call flow's Passthru applet (seed 003, issue 9).

GET with the call's details in the query string. The call is recorded and its rules run at
once (the SMS itself is sent by a task after the commit), so the answer comes in milliseconds:
in sync mode `200` when an SMS was queued and `302` when none was, so the flow can branch on
it; with `?mode=async` always `200`. A repeated request for the same CallSid and stage sends
nothing more and gets the first answer again. HEAD checks the URL, the token and the
parameters, and records nothing.
"""

import logging

from django.db import DatabaseError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import WebhookEvent, WebhookKind
from ..services import calls
from .common import client_ip, has_valid_inbound_token, is_allowed_ip, is_too_large, refuse

logger = logging.getLogger("conversations.webhooks")

SMS_QUEUED = 200
NO_SMS = 302  # Exotel takes the Passthru's other branch; there is nothing to follow


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def call_event(request):
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    try:
        details = calls.parse_call_event(request.GET)
    except calls.BadCallEvent as exc:
        return refuse(400, str(exc), fields=exc.errors)
    if request.method == "HEAD":
        return HttpResponse(status=200)
    try:
        result = _record(details, request)
    except DatabaseError:
        logger.exception("call event %s could not be recorded", details.call_sid)
        return refuse(503, "The call event could not be recorded; try again.")
    return _answer(result, is_async=request.GET.get("mode", "").lower() == "async")


def _refusal(request):
    if is_too_large(request):
        return refuse(413, "Request body too large.")
    if not is_allowed_ip(request):
        return refuse(403, "This address may not call the webhook.")
    if not has_valid_inbound_token(request):
        return refuse(403, "Missing or invalid token.")
    return None


def _record(details, request):
    """The call, its rules' SMS and the raw request (for the webhook log) in one transaction."""
    with transaction.atomic():
        result = calls.receive_call_event(details)
        WebhookEvent.objects.create(
            kind=WebhookKind.CALL_EVENT,
            payload=details.params,
            sid=details.call_sid,
            remote_addr=client_ip(request),
            processed_at=timezone.now(),
            attempts=1,
            outcome=f"{'duplicate' if result.duplicate else 'recorded'}: {result.event.outcome}",
        )
    return result


def _answer(result, *, is_async):
    event = result.event
    body = {
        "received": True,
        "duplicate": result.duplicate,
        "call_sid": event.call_sid,
        "call_type": event.call_type,
        "outcome": event.outcome,
        "sms_queued": result.sms_queued,
        "messages": [send.message_id for send in result.sends if send.message_id],
    }
    status = SMS_QUEUED if is_async or result.sms_queued else NO_SMS
    return JsonResponse(body, status=status)
