"""What the client returns: frozen, typed views of Exotel's answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from .phone import normalise_number
from .statuses import normalise_status

IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class SmsMessage:
    """One SMS as Exotel reports it, with numbers, codes, dates and money in usable types."""

    sid: str
    account_sid: str | None
    sender: str | None
    to: str | None
    body: str | None
    status: str
    detailed_status: str | None
    detailed_status_code: int | None
    date_created: datetime | None
    date_updated: datetime | None
    date_sent: datetime | None
    sms_units: int | None
    price: Decimal | None
    direction: str | None
    uri: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> SmsMessage:
        """Read an ``SMSMessage`` object; an odd field becomes None, only a missing Sid raises.

        A send that Exotel accepted must not be lost to a date or price in an unexpected shape.
        """
        sid = _text(data.get("Sid"))
        if sid is None:
            raise ValueError("SMSMessage has no Sid")
        return cls(
            sid=sid,
            account_sid=_text(data.get("AccountSid")),
            sender=_text(data.get("From")),
            to=_number(data.get("To")),
            body=_text(data.get("Body")),
            status=normalise_status(_text(data.get("Status"))),
            detailed_status=_text(data.get("DetailedStatus")),
            detailed_status_code=_int(data.get("DetailedStatusCode")),
            date_created=_ist_datetime(data.get("DateCreated")),
            date_updated=_ist_datetime(data.get("DateUpdated")),
            date_sent=_ist_datetime(data.get("DateSent")),
            sms_units=_int(data.get("SmsUnits")),
            price=_decimal(data.get("Price")),
            direction=_text(data.get("Direction")),
            uri=_text(data.get("Uri")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class BulkMessage:
    """One entry of a dynamic bulk send: its own number and body, optionally its own sender."""

    to: str
    body: str
    sender: str | None = None
    sms_type: str | None = None
    dlt_template_id: str | None = None


@dataclass(frozen=True)
class BulkItem:
    """The fate of one input of a bulk send, in input order.

    ``accepted``: Exotel returned a message for it. Otherwise ``error`` says why; ``retryable``
    means it was not sent and sending it again is safe; ``outcome_unknown`` means its request
    may have been processed, so check before resending.
    """

    to: str
    message: SmsMessage | None
    error: str | None = None
    code: int | None = None
    retryable: bool = False
    outcome_unknown: bool = False

    @property
    def accepted(self) -> bool:
        """Exotel returned a message (with a sid) for this input."""
        return self.message is not None


@dataclass(frozen=True)
class BulkResult:
    """Every input of a bulk send, in input order, each accepted or with its error."""

    items: tuple[BulkItem, ...]

    @property
    def accepted(self) -> tuple[BulkItem, ...]:
        """Items Exotel returned a message for."""
        return tuple(item for item in self.items if item.accepted)

    @property
    def rejected(self) -> tuple[BulkItem, ...]:
        """Items without a message: see each one's ``error``."""
        return tuple(item for item in self.items if not item.accepted)

    @property
    def retryable(self) -> tuple[BulkItem, ...]:
        """Items that were not sent and may safely be sent again."""
        return tuple(item for item in self.items if item.retryable)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> str | None:
    """Exotel answers with national numbers (0XXXXXXXXXX); E.164 when it parses, else as sent."""
    text = _text(value)
    if text is None:
        return None
    try:
        return normalise_number(text)
    except ValueError:
        return text


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _ist_datetime(value: Any) -> datetime | None:
    """Exotel's "YYYY-MM-DD HH:mm:ss" has no zone and is IST; zoned forms are converted."""
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=IST)
    return parsed.astimezone(IST)
