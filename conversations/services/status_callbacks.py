"""Delivery status: reading Exotel's status reports and applying them, forward only.

Callbacks may arrive late, twice, out of order, or before we know the message's sid. The final
state must not depend on that order, so each status has a rank and a report is applied only
when it ranks above what the message has: the result is the highest report seen, whatever
order they came in.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from exotel_client import describe_code, normalise_status

from ..models import Message, MessageStatus, MessageStatusEvent, OptOutSource, StatusEventSource
from . import campaign_callbacks
from .threads import note_status_change

IST = ZoneInfo("Asia/Kolkata")
DELIVERED_TO_HANDSET = 20005
BLACKLISTED = 23020
MAX_SID_LENGTH = 64

# Higher wins. Ties between final statuses are broken by the code, so any order of the same
# reports ends in the same state.
STATUS_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.SCHEDULED: 0,
    MessageStatus.DISPATCHING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENDING: 3,
    MessageStatus.SUBMITTED: 4,
    MessageStatus.SENT: 5,
    MessageStatus.FAILED: 6,
    MessageStatus.FAILED_DND: 6,
    MessageStatus.DELIVERED: 7,
    MessageStatus.RECEIVED: 99,  # inbound: no status report applies
}
EXOTEL_STATUSES = {"queued", "sending", "submitted", "sent", "failed", "failed-dnd", "delivered"}


@dataclass(frozen=True)
class ExotelStatus:
    """One status report about one message, from an API answer, a callback or a lookup."""

    status: str
    detailed_status: str = ""
    code: int | None = None
    sms_units: int | None = None
    price: Decimal | None = None
    occurred_at: datetime | None = None

    @property
    def our_status(self) -> MessageStatus:
        status = normalise_status(self.status)
        if status == "sent" and self.code == DELIVERED_TO_HANDSET:
            return MessageStatus.DELIVERED
        return MessageStatus(status)


class BadStatusReport(ValueError):
    """A callback we cannot read; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _optional_int(value, field, errors):
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[field] = f"expected a whole number, got {str(value)[:40]!r}"
        return None
    if not 0 <= number < 2**31:
        errors[field] = "out of range"
        return None
    return number


def _optional_decimal(value, field, errors):
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors[field] = f"expected a number, got {str(value)[:40]!r}"
        return None
    if not number.is_finite() or not 0 <= number < 10_000:
        errors[field] = "out of range"
        return None
    return number


def _optional_time(value):
    """Exotel's `YYYY-MM-DD HH:MM:SS`, in IST; anything else is ignored (it is informative)."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        return None


def parse_status_report(data) -> tuple[str, ExotelStatus]:
    """(SmsSid, report) from a callback's fields, or BadStatusReport naming each bad field."""
    errors = {}
    sid = str(data.get("SmsSid") or "").strip()
    if not sid:
        errors["SmsSid"] = "required"
    elif len(sid) > MAX_SID_LENGTH or not sid.isprintable():
        errors["SmsSid"] = f"must be at most {MAX_SID_LENGTH} printable characters"
    status = normalise_status(str(data.get("Status") or ""))
    if not status:
        errors["Status"] = "required"
    elif status not in EXOTEL_STATUSES:
        errors["Status"] = f"unknown status {status[:40]!r}"
    code = _optional_int(data.get("DetailedStatusCode"), "DetailedStatusCode", errors)
    units = _optional_int(data.get("SmsUnits"), "SmsUnits", errors)
    price = _optional_decimal(data.get("Price"), "Price", errors)
    if errors:
        raise BadStatusReport(errors)
    detailed = str(data.get("DetailedStatus") or "")[:64]
    occurred = _optional_time(data.get("DateSent") or data.get("DateUpdated"))
    return sid, ExotelStatus(status, detailed, code, units, price, occurred)


def _rank(status, code):
    return (STATUS_RANK[status], code or 0)


def record_transition(message, source, *, note="", report=None):
    MessageStatusEvent.objects.create(
        message=message,
        status=message.status,
        detailed_status=message.detailed_status,
        detailed_status_code=message.detailed_status_code,
        sms_units=report.sms_units if report else None,
        price=report.price if report else None,
        source=source,
        note=note,
        occurred_at=(report.occurred_at if report else None) or timezone.now(),
    )


def apply_status(message_id, report: ExotelStatus, *, source) -> bool:
    """Apply a report if it moves the message forward; cost is kept whenever it is given.

    Returns True when the status changed.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        new_status = report.our_status
        fields = _apply_cost(message, report)
        advanced = _rank(new_status, report.code) > _rank(
            message.status, message.detailed_status_code
        )
        if advanced:
            fields += _advance(message, new_status, report)
        if fields:
            message.save(update_fields=[*fields, "updated_at"])
        if advanced:
            record_transition(message, source, report=report)
            note_status_change(message)
            _honour_blacklist(message, report)
        return advanced


def _apply_cost(message, report):
    fields = []
    if report.sms_units is not None and report.sms_units != message.sms_units:
        message.sms_units = report.sms_units
        fields.append("sms_units")
    if report.price is not None and report.price != message.price:
        message.price = report.price
        fields.append("price")
    return fields


def _advance(message, new_status, report):
    message.status = new_status
    message.detailed_status = report.detailed_status or message.detailed_status
    message.detailed_status_code = report.code
    fields = ["status", "detailed_status", "detailed_status_code"]
    if new_status in (MessageStatus.FAILED, MessageStatus.FAILED_DND):
        info = describe_code(report.code)
        message.error_code = report.code
        message.error_message = (info.agent_text if info else report.detailed_status)[:255]
        fields += ["error_code", "error_message"]
    if new_status == MessageStatus.DELIVERED and message.delivered_at is None:
        message.delivered_at = report.occurred_at or timezone.now()
        fields.append("delivered_at")
    return fields


def _honour_blacklist(message, report):
    """Exotel's 23020 means the customer opted out with the operator: record it as ours too."""
    if report.code != BLACKLISTED:
        return
    from . import consent

    consent.opt_out(
        message.conversation.phone_number,
        source=OptOutSource.EXOTEL_BLACKLIST,
        keyword=str(BLACKLISTED),
        message=message,
    )


def apply_status_event(event) -> str:
    """Webhook handler for a stored status callback (see services.webhook_events)."""
    from .webhook_events import EventWaiting

    sid, report = parse_status_report(event.payload)
    message = Message.objects.filter(sid=sid).only("pk", "campaign_id").first()
    message = message or campaign_callbacks.link_unknown_outcome(sid, event.payload)
    expected_id = event.payload.get("_message_id")
    if message is None and expected_id is not None:
        message = _adopt_sid(int(expected_id), sid)
    if message is None:
        raise EventWaiting(f"no message with sid {sid} yet")
    if expected_id is not None and int(expected_id) != message.pk:
        return "ignored: token belongs to another message"
    campaign_id = event.payload.get("_campaign_id")
    if campaign_id is not None and int(campaign_id) != message.campaign_id:
        return "ignored: token belongs to another campaign"
    changed = apply_status(message.pk, report, source=StatusEventSource.CALLBACK)
    return f"{report.our_status} applied" if changed else f"{report.our_status} changed nothing"


def _adopt_sid(message_id, sid):
    """A single send whose answer never came (it timed out after reaching Exotel) is `unknown`
    with no sid; Exotel's callback, whose token is signed for exactly this message, tells it.
    While the send is still `dispatching` the event waits: the sender records its outcome first.
    """
    adopted = Message.objects.filter(
        pk=message_id, sid__isnull=True, status=MessageStatus.UNKNOWN
    ).update(sid=sid)
    if not adopted:
        return None
    return Message.objects.filter(pk=message_id).only("pk", "campaign_id").first()
