"""`/webhook/sms-incoming`: inbound SMS (POST, seed 001) and "Send a Reply" (GET/HEAD, seed 002).

POST stores the message and the raw event and answers 200 at once; a Celery task answers the
customer. GET and HEAD store it the same way, decide at once, and put the reply in the body as
`text/plain` (or answer an empty body with `Content-Length: 0`). HEAD gets exactly GET's
headers: the decision is stored with the message, so the GET that follows reads it again.
"""

import json
import logging

from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import WebhookKind
from ..services import inbound, intake
from .common import (
    UnreadableForm,
    client_ip,
    form_fields,
    has_valid_inbound_token,
    is_allowed_ip,
    is_too_large,
    received,
    refuse,
)

logger = logging.getLogger("conversations.webhooks")

APPLET_CONTENT_TYPE = "text/plain"  # seed 002: "'text/plain' and nothing else"


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def sms_incoming(request):
    response = _refusal(request)
    if response is None:
        response = _receive(request) if request.method == "POST" else _answer_applet(request)
    if request.method == "HEAD":
        _drop_body(response)
    return response


def _refusal(request):
    if is_too_large(request):
        return refuse(413, "Request body too large.")
    if not is_allowed_ip(request):
        return refuse(403, "This address may not call the webhook.")
    if not has_valid_inbound_token(request):
        return refuse(403, "Missing or invalid token.")
    return None


def _receive(request):
    try:
        data = _posted_fields(request)
        sms = intake.parse_inbound_sms(data)
    except intake.ForeignAccount as exc:
        return refuse(403, str(exc))
    except intake.BadInboundSms as exc:
        return refuse(400, str(exc), fields=exc.errors)
    stored = intake.store_inbound_sms(
        sms, kind=WebhookKind.SMS_INCOMING, remote_addr=client_ip(request)
    )
    return received(duplicate=not stored.created)


def _posted_fields(request):
    """Exotel posts a form; the seed's own example servers accept JSON too."""
    try:
        if request.content_type in ("application/json", "text/json"):
            data = json.loads(request.body or b"null")
        else:
            data = form_fields(request)
    except UnreadableForm as exc:
        raise intake.BadInboundSms({"body": [str(exc)]}) from exc
    except (ValueError, RecursionError) as exc:
        raise intake.BadInboundSms({"body": ["The body is not valid JSON."]}) from exc
    except (SuspiciousOperation, MultiPartParserError) as exc:
        raise intake.BadInboundSms({"body": [f"The form could not be read: {exc}"]}) from exc
    if not hasattr(data, "get") or not hasattr(data, "items"):
        raise intake.BadInboundSms({"body": ["The JSON body must be an object."]})
    return data


def _answer_applet(request):
    if not intake.has_sms_fields(request.GET):
        return _text_reply("")  # a probe of the URL: say nothing, with the right headers
    try:
        sms = intake.parse_inbound_sms(request.GET)
    except intake.ForeignAccount as exc:
        return refuse(403, str(exc))
    except intake.BadInboundSms as exc:
        return refuse(400, str(exc), fields=exc.errors)
    with transaction.atomic():
        # The event is queued for the task too: if answering here fails, it answers by API.
        stored = intake.store_inbound_sms(
            sms, kind=WebhookKind.SMS_REPLY_APPLET, remote_addr=client_ip(request)
        )
        message = intake.find_inbound_message(sms, stored)
        reply = _applet_reply(message, deliver=request.method == "GET")
    return _text_reply(reply)


def _applet_reply(message, *, deliver):
    try:
        with transaction.atomic():
            return inbound.answer_reply_applet(message, deliver=deliver)
    except Exception:
        # The message is stored either way; saying nothing now beats a 500 Exotel would retry.
        logger.exception("answering inbound SMS %s in the applet failed", message.sid)
        return ""


def _text_reply(text):
    content = text.encode("utf-8")
    response = HttpResponse(content, content_type=APPLET_CONTENT_TYPE)
    response["Content-Length"] = str(len(content))
    return response


def _drop_body(response):
    """HEAD: the headers GET would send, Content-Length included, and no body."""
    length = str(len(response.content))
    response.content = b""
    response["Content-Length"] = length
