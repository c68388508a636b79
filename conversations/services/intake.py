"""Inbound SMS intake: reading Exotel's fields, and storing the message once per SmsSid.

Both doors of `/webhook/sms-incoming` (POST, and the GET/HEAD reply applet) come through here.
Storing is all or nothing: the message (the unique constraint on `Message.sid` keeps one per
SmsSid, also when two copies race), the conversation's counters, and the raw event whose task
answers the customer.

On PostgreSQL that is one SQL statement, built from the models' own fields: the webhook is the
hottest path of the app, and the ORM's four statements cost five times as much (measured in
bench/README.md). Elsewhere (SQLite) the ORM does the same in a transaction. Either way the
counters move exactly as `threads.note_new_message` moves them, which
`test_counters_after_the_webhook_equal_a_recount` checks on both databases.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from ..models import (
    Conversation,
    Direction,
    Message,
    MessageSource,
    MessageStatus,
    WebhookEvent,
)
from ..phone import normalise_phone
from .threads import get_or_create_conversation, note_new_message
from .webhook_events import InsertPlan, fetch_one_prepared, kick_drain_on_commit

MAX_BODY_CHARS = 2000  # Exotel's own limit on an SMS body; anything longer is not an SMS
MAX_EXOPHONE_CHARS = 32
SID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SMS_FIELDS = ("SmsSid", "From", "To", "Body")
IST = ZoneInfo("Asia/Kolkata")


class BadInboundSms(ValueError):
    """The request is not an inbound SMS we can store; `errors` is {field: [message]}."""

    def __init__(self, errors):
        self.errors = errors
        field, messages = next(iter(errors.items()))
        super().__init__(f"{field}: {messages[0]}")


class ForeignAccount(ValueError):
    """The SMS names an Exotel account that is not ours."""


@dataclass(frozen=True)
class InboundSms:
    sid: str
    phone: str
    exophone: str
    body: str
    sent_at: datetime | None
    payload: dict


# --- Reading the request ------------------------------------------------------------------


def has_sms_fields(data) -> bool:
    """False for a bare probe of the URL (Exotel's HEAD may carry no SMS at all)."""
    return any(key in data for key in SMS_FIELDS)


def parse_inbound_sms(data) -> InboundSms:
    """Validate Exotel's fields (form, JSON or query string); raises BadInboundSms."""
    errors = {}
    values = {key: _text(data, key, errors) for key in (*SMS_FIELDS, "AccountSid")}
    account = values["AccountSid"]
    if account and account != settings.EXOTEL_ACCOUNT_SID:
        raise ForeignAccount("AccountSid is not this Exotel account.")
    sid = _sid(values["SmsSid"], errors)
    phone = _sender(values["From"], errors)
    body = values["Body"] or ""
    if len(body) > MAX_BODY_CHARS:
        errors["Body"] = [f"Body is {len(body)} characters; an SMS has at most {MAX_BODY_CHARS}."]
    exophone = values["To"] or ""
    if len(exophone) > MAX_EXOPHONE_CHARS:
        errors["To"] = [f"To is longer than {MAX_EXOPHONE_CHARS} characters."]
    if errors:
        raise BadInboundSms(errors)
    date = _text(data, "DateCreated", {}) or _text(data, "Date", {})
    return InboundSms(sid, phone, exophone, body, parse_exotel_time(date), _loggable(data))


def _text(data, key, errors) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            errors[key] = [f"{key} must be text."]
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        errors[key] = [f"{key} must be text."]
        return None
    value = value.replace("\x00", "")  # PostgreSQL cannot store NUL; no SMS contains one
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors[key] = [f"{key} is not valid Unicode text."]
        return None
    return value if key == "Body" else value.strip()


def _sid(value, errors) -> str:
    if not value:
        errors.setdefault("SmsSid", ["SmsSid is required."])
    elif not SID_PATTERN.fullmatch(value):
        errors["SmsSid"] = ["SmsSid must be 1 to 64 letters, digits, '.', '_', ':' or '-'."]
    return value or ""


def _sender(value, errors) -> str:
    if not value:
        errors.setdefault("From", ["From is required."])
        return ""
    try:
        return normalise_phone(value)
    except ValidationError as exc:
        errors["From"] = [f"From is not a phone number: {exc.messages[0]}"]
        return ""


def parse_exotel_time(value) -> datetime | None:
    """ISO 8601 with an offset (seed 001) or Exotel's zone-less "YYYY-MM-DD HH:MM:SS" (IST)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=IST)


def _loggable(data) -> dict:
    """The request's fields as JSON-safe text for the event log (no token, no NUL)."""
    safe = {}
    for key, value in data.items():
        if not isinstance(key, str) or key == "token":
            continue
        text = value if isinstance(value, str) else str(value)
        safe[_clean(key)[:64]] = _clean(text)[: MAX_BODY_CHARS * 2]
    return safe


def _clean(text) -> str:
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


# --- Storing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    created: bool
    message_id: int | None  # None for a duplicate on the one-statement path


def store_inbound_sms(sms: InboundSms, *, kind, remote_addr=None) -> Stored:
    """Store the message, move the counters and store the raw event, or (a duplicate) change
    nothing. The event's task is enqueued once the transaction commits."""
    if connection.vendor == "postgresql":
        stored = _store_in_one_statement(sms, kind, remote_addr)
        if stored is None:  # a number we have never heard from: make its conversation first
            get_or_create_conversation(sms.phone)
            stored = _store_in_one_statement(sms, kind, remote_addr)
    else:
        stored = _store_with_the_orm(sms, kind, remote_addr)
    return Stored(stored[0], stored[1])


def find_inbound_message(sms: InboundSms, stored: Stored) -> Message:
    if stored.message_id is not None:
        return Message.objects.get(pk=stored.message_id)
    return Message.objects.get(sid=sms.sid)


def _new_rows(sms, kind, remote_addr):
    now = timezone.now()
    message = Message(
        direction=Direction.INBOUND,
        body=sms.body,
        status=MessageStatus.RECEIVED,
        sid=sms.sid,
        exophone=sms.exophone,
        source=MessageSource.EXOTEL,
        sent_at=sms.sent_at,
        created_at=now,
        updated_at=now,
    )
    event = WebhookEvent(kind=kind, payload=sms.payload, sid=sms.sid, remote_addr=remote_addr)
    return message, event


def _store_with_the_orm(sms, kind, remote_addr) -> tuple[bool, int]:
    message, event = _new_rows(sms, kind, remote_addr)
    with transaction.atomic():
        message.conversation = get_or_create_conversation(sms.phone)
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            return False, Message.objects.values_list("pk", flat=True).get(sid=sms.sid)
        note_new_message(message)
        event.save(force_insert=True)
        _enqueue(event.pk)
    return True, message.pk


def _store_in_one_statement(sms, kind, remote_addr) -> tuple[bool, int | None] | None:
    """(created, message id), or None when the number has no conversation yet."""
    sql, message_plan, event_plan = _statement()
    now = timezone.now()
    message = {
        "direction": Direction.INBOUND.value,
        "body": sms.body,
        "status": MessageStatus.RECEIVED.value,
        "sid": sms.sid,
        "exophone": sms.exophone,
        "source": MessageSource.EXOTEL.value,
        "sent_at": sms.sent_at,
    }
    event = {
        "kind": kind,
        "payload": Jsonb(sms.payload),
        "sid": sms.sid,
        "remote_addr": remote_addr,
    }
    params = [sms.phone, *message_plan.values(message, now), sms.body, now, now]
    params += event_plan.values(event, now)
    conversation_id, message_id, event_id = fetch_one_prepared(sql, params)
    if conversation_id is None:
        return None
    if event_id is not None:
        _enqueue(int(event_id))
    return message_id is not None, None if message_id is None else int(message_id)


@cache
def _statement():
    """INSERT message ... ON CONFLICT DO NOTHING, then (only if a row went in) the counters
    UPDATE and the event INSERT, as one statement. Columns come from the models, so a field
    added later is written with its default like any ORM save."""
    message_plan = InsertPlan(Message, skip=("conversation",))
    event_plan = InsertPlan(WebhookEvent)
    conversation = Conversation._meta.db_table
    # Only table and column names from the models go into the text; every value is a parameter.
    sql = f"""
        WITH conversation AS (
            SELECT id FROM {conversation} WHERE phone_number = %s
        ), message AS (
            INSERT INTO {Message._meta.db_table}
                (conversation_id, {message_plan.columns()})
            SELECT conversation.id, {message_plan.placeholders()} FROM conversation
            ON CONFLICT DO NOTHING
            RETURNING id, conversation_id
        ), summary AS (
            UPDATE {conversation} SET
                message_count = {conversation}.message_count + 1,
                unread_count = {conversation}.unread_count + 1,
                last_message_body = %s,
                last_message_direction = '{Direction.INBOUND.value}',
                last_message_status = '{MessageStatus.RECEIVED.value}',
                last_activity_at = %s,
                updated_at = %s,
                outcome = '', closed_at = NULL, closed_by_id = NULL
            FROM message WHERE {conversation}.id = message.conversation_id
        ), event AS (
            INSERT INTO {WebhookEvent._meta.db_table} ({event_plan.columns()})
            SELECT {event_plan.placeholders()} FROM message
            RETURNING id
        )
        SELECT (SELECT id FROM conversation), (SELECT id FROM message), (SELECT id FROM event)
    """  # noqa: S608
    return sql, message_plan, event_plan


def _enqueue(event_id):
    kick_drain_on_commit()
