"""A number's data on request (issue 8, India's DPDP Act): export it all, or erase it.

Export: the conversation, its messages, opt-outs and consent events, flow sessions and their
answers, campaign recipient rows, and the audit entries about the number, as JSON or CSV.
Erase: bodies, names, template variables, flow answers and raw webhook payloads are removed;
the opt-out and consent records stay (they prove the number asked not to be messaged, which the
law needs), as do counts and statuses. Both are audited by the caller's `record_action`.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from ..models import (
    AuditLog,
    CallEvent,
    CampaignRecipient,
    ConsentEvent,
    Conversation,
    FlowSession,
    InboundOutcome,
    Message,
    OptOut,
    WebhookEvent,
)
from ..phone import normalise_phone
from .audit import record_action

ERASED_BODY = "[erased on request]"
MESSAGE_FIELDS = (
    "id",
    "created_at",
    "direction",
    "body",
    "status",
    "detailed_status",
    "detailed_status_code",
    "sid",
    "sender",
    "segments",
    "sms_type",
    "source",
    "campaign_id",
    "template__template_id",
    "sent_at",
    "delivered_at",
)


def _rows(queryset, *fields):
    return list(queryset.values(*fields))


def collect(phone_number) -> dict:
    """Everything held about one number, as plain data."""
    phone = normalise_phone(phone_number)
    conversation = Conversation.objects.filter(phone_number=phone)
    return {
        "phone_number": phone,
        "conversation": _rows(
            conversation,
            "id",
            "phone_number",
            "contact_name",
            "created_at",
            "last_activity_at",
            "message_count",
            "flow_answers",
            "assignee__username",
        ),
        "messages": _rows(
            Message.objects.filter(conversation__phone_number=phone).order_by("created_at", "id"),
            *MESSAGE_FIELDS,
        ),
        "opt_outs": _rows(
            OptOut.objects.filter(phone_number=phone).order_by("created_at"),
            "id",
            "source",
            "keyword",
            "created_at",
            "revoked_at",
            "revoked_source",
        ),
        "consent_events": _rows(
            ConsentEvent.objects.filter(phone_number=phone).order_by("created_at"),
            "id",
            "kind",
            "source",
            "changed",
            "keyword",
            "note",
            "created_at",
        ),
        "flow_sessions": _rows(
            FlowSession.objects.filter(conversation__phone_number=phone).order_by("started_at"),
            "id",
            "flow__slug",
            "status",
            "answers",
            "context",
            "started_at",
            "ended_at",
        ),
        "campaign_recipients": _rows(
            CampaignRecipient.objects.filter(phone_number=phone).order_by("id"),
            "id",
            "campaign__name",
            "name",
            "variables",
            "state",
            "replied_at",
            "answer",
        ),
        "call_events": _rows(
            CallEvent.objects.filter(from_number=phone).order_by("created_at", "id"),
            "id",
            "call_sid",
            "call_type",
            "direction",
            "exophone",
            "duration",
            "digits",
            "recording_url",
            "outcome",
            "created_at",
        ),
        "audit_entries": _rows(
            AuditLog.objects.filter(target=phone).order_by("created_at"),
            "id",
            "created_at",
            "action",
            "actor__username",
            "detail",
        ),
    }


def export_json(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def export_rows(data):
    """CSV rows (section, id, time, data as JSON) for every record in `collect`'s result."""
    for section, records in data.items():
        if not isinstance(records, list):
            continue
        for record in records:
            when = next(
                (record.get(k) for k in ("created_at", "started_at") if record.get(k)), None
            )
            yield [
                section,
                record.get("id"),
                when.isoformat() if when else "",
                json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False),
            ]


EXPORT_HEADER = ["section", "id", "time", "data"]


def export_number(phone_number, *, user=None, request=None, fmt="json") -> dict:
    data = collect(phone_number)
    record_action(
        "privacy_export",
        actor=user,
        request=request,
        target=data["phone_number"],
        format=fmt,
        messages=len(data["messages"]),
    )
    return data


def erase_number(phone_number, *, user=None, request=None) -> dict:
    """Remove the personal content held about a number; the consent record stays."""
    phone = normalise_phone(phone_number)
    messages = Message.objects.filter(conversation__phone_number=phone)
    with transaction.atomic():
        sids = list(messages.exclude(sid=None).values_list("sid", flat=True))
        # Calls (issue 9): what was keyed, the recording's address and the raw Passthru.
        calls = CallEvent.objects.filter(from_number=phone)
        sids += list(calls.values_list("call_sid", flat=True))
        counts = {
            "messages": messages.update(body=ERASED_BODY, variables=[]),
            "conversations": Conversation.objects.filter(phone_number=phone).update(
                contact_name="", last_message_body="", flow_answers={}
            ),
            "flow_sessions": FlowSession.objects.filter(conversation__phone_number=phone).update(
                answers={}, context={}
            ),
            "campaign_recipients": CampaignRecipient.objects.filter(phone_number=phone).update(
                name="", variables=[], answer=""
            ),
            "webhook_events": WebhookEvent.objects.filter(sid__in=sids).update(
                payload={"erased": True}
            ),
            "call_events": calls.update(digits="", recording_url="", params={}),
            "auto_replies": InboundOutcome.objects.filter(
                message__conversation__phone_number=phone
            ).update(reply_body=""),
        }
        record_action("privacy_erase", actor=user, request=request, target=phone, **counts)
    return counts
