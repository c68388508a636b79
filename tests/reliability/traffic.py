"""Exotel's side of the reliability tests: messages to report on, webhook payloads, and many
webhooks posted at once over real HTTP."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from conversations.models import Conversation, Direction, Message, MessageStatus
from conversations.services.sending import status_callback_url

EXOPHONE = "+911140000000"


def customer(index):
    return f"+9190{index:08d}"


def make_sent_messages(count, *, first=0):
    """`count` outbound messages Exotel has accepted (status submitted, sid known), one per
    customer; returns [(message id, sid, callback path with its token)]."""
    conversations = Conversation.objects.bulk_create(
        Conversation(phone_number=customer(first + i)) for i in range(count)
    )
    messages = Message.objects.bulk_create(
        Message(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            body=f"Your order {i} has shipped.",
            status=MessageStatus.SUBMITTED,
            sid=f"out_sms_{first + i:06d}",
        )
        for i, conversation in enumerate(conversations)
    )
    if messages and messages[0].pk is None:  # backends that do not return ids
        messages = list(Message.objects.filter(sid__startswith="out_sms_").order_by("pk"))
    return [(m.pk, m.sid, _path(status_callback_url(m))) for m in messages]


def _path(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def inbound_form(index, *, phones=100, body=None):
    """Seed 001's POST: the `index`-th inbound SMS, from one of `phones` customers."""
    return {
        "SmsSid": f"inb_sms_{index:06d}",
        "From": customer(50_000 + index % phones),
        "To": EXOPHONE,
        "Body": body if body is not None else f"Hello, this is message {index}",
        "DateCreated": "2025-01-15T10:30:00+05:30",
    }


def status_form(sid, status="sent", code=20005, detailed="DELIVERED_TO_HANDSET"):
    """Seed 004's status callback."""
    return {
        "SmsSid": sid,
        "Status": status,
        "DetailedStatus": detailed,
        "DetailedStatusCode": str(code),
        "SmsUnits": "1",
        "Price": "0.180000",
        "DateSent": "2025-01-15 10:31:00",
    }


def post_all(base_url, jobs, *, threads=16, timeout=30):
    """POST every (path, form) in `jobs` from `threads` clients at once; Counter of answers
    (an HTTP status, or the exception's class name when there was no answer)."""
    local = threading.local()

    def post(job):
        path, form = job
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            return session.post(base_url + path, data=form, timeout=timeout).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return Counter(pool.map(post, jobs))
