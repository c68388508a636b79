"""Playing Exotel in tests: inbound SMS by POST (seed 001) and the reply applet (seed 002)."""

import itertools
import json

CUSTOMER = "+919876543210"
EXOPHONE = "+911140000000"
_sids = itertools.count(1)


def next_sid() -> str:
    return f"inb_sms_{next(_sids):06d}"


def inbound_fields(body="YES", *, sid=None, phone=CUSTOMER, **extra) -> dict:
    """The seed's payload: SmsSid, From, To, Body, DateCreated, AccountSid."""
    return {
        "SmsSid": sid or next_sid(),
        "From": phone,
        "To": EXOPHONE,
        "Body": body,
        "DateCreated": "2025-01-15T10:30:00+05:30",
        "AccountSid": "sandbox",
        **extra,
    }


def post_sms(client, body="YES", *, as_json=False, query="", **fields):
    data = inbound_fields(body, **fields)
    path = f"/webhook/sms-incoming{query}"
    if as_json:
        return client.post(path, json.dumps(data), content_type="application/json")
    return client.post(path, data)


def applet_fields(body="YES", *, sid=None, phone="9876543210") -> dict:
    """Seed 002's query: SmsSid, From (national), To, Date, Body."""
    return {
        "SmsSid": sid or next_sid(),
        "From": phone,
        "To": "56070",
        "Date": "2025-01-15 10:30:00",
        "Body": body,
    }


def call_applet(client, body="YES", *, method="get", **fields):
    return getattr(client, method)("/webhook/sms-incoming", applet_fields(body, **fields))


def run_inbound_tasks():
    """What the worker does after the webhook: apply every stored, unprocessed event."""
    from conversations.models import WebhookEvent
    from conversations.services.webhook_events import process_webhook_event

    pending = WebhookEvent.objects.filter(processed_at__isnull=True).order_by("pk")
    for event_id in list(pending.values_list("pk", flat=True)):
        process_webhook_event(event_id)


def we_texted(phone=CUSTOMER, **fields):
    """An appointment reminder we sent `phone` and that went out: what the shipped YES and NO
    rules answer (they apply only within 72 hours of a message from us)."""
    from conversations.models import Conversation, MessageSource, MessageStatus

    from .factories import MessageFactory

    conversation, _ = Conversation.objects.get_or_create(phone_number=phone)
    fields = {
        "body": "Your appointment is on 20 Jan at 3 PM. Reply YES to confirm or NO to cancel.",
        "status": MessageStatus.DELIVERED,
        "source": MessageSource.API,
        **fields,
    }
    return MessageFactory(conversation=conversation, **fields)


def text_in(client, body, *, phone=CUSTOMER):
    """The customer texts `body`; returns the body of our reply (None for no reply)."""
    from conversations.models import Direction, Message

    before = Message.objects.filter(direction=Direction.OUTBOUND).order_by("-pk").first()
    response = post_sms(client, body, phone=phone)
    assert response.status_code == 200, response.content
    run_inbound_tasks()
    latest = Message.objects.filter(direction=Direction.OUTBOUND).order_by("-pk").first()
    return latest.body if latest and latest != before else None
