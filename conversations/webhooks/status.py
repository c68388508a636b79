"""`POST /webhook/sms-status`: Exotel's delivery status callback.

The URL we give Exotel carries a token signed for one message; Exotel signs nothing, so that
token is the only proof a callback is genuine. The view checks its signature (no database
query), validates the fields, stores the raw event and answers 200 at once; a Celery task
applies it, forward only, and ignores a report whose sid is not the token's message's.
"""

from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import WebhookKind
from ..services.sending import callback_target_from_token
from ..services.status_callbacks import BadStatusReport, parse_status_report
from .common import (
    UnreadableForm,
    form_fields,
    is_allowed_ip,
    is_too_large,
    query_value,
    received,
    refuse,
    store_event,
)


@csrf_exempt
@require_POST
def sms_status(request):
    if is_too_large(request):
        return refuse(413, "Request body too large.")
    if not is_allowed_ip(request):
        return refuse(403, "This address may not call the webhook.")
    # A token names one message ("m<id>"), or a campaign ("c<id>") for bulk requests.
    kind, target_id = callback_target_from_token(query_value(request, "token"))
    if target_id is None:
        return refuse(403, "Missing or invalid token.")
    try:
        data = form_fields(request)
    except UnreadableForm as exc:
        return refuse(400, "Malformed status callback.", fields={"body": str(exc)})
    try:
        sid, _ = parse_status_report(data)
    except BadStatusReport as exc:
        return refuse(400, "Malformed status callback.", fields=exc.errors)
    target = {"_message_id": target_id} if kind == "m" else {"_campaign_id": target_id}
    store_event(WebhookKind.SMS_STATUS, {**data, **target}, sid=sid, request=request)
    return received()
