"""Rules that decide a message's fate up front, so tests and demos can show every path.

* Destination rule: a number whose last five digits equal a final DetailedStatusCode of
  Exotel's table ends with that code (``+919812323005`` -> failed-dnd 23005); anything
  else ends ``sent`` 20005 DELIVERED_TO_HANDSET.
* Destination HTTP rule: a single send to a number ending in one of ``HTTP_ERROR_BY_SUFFIX``
  is refused with that HTTP error every time (e.g. ``...40001`` -> 403 insufficient balance).
* DLT rule: see ``dlt_rejection``.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from exotel_client.phone import normalise_number
from exotel_client.statuses import STATUS_CODES

# India has no daylight saving, so a fixed offset is exact and needs no tz database.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
DELIVERED_TO_HANDSET = 20005
TEMPLATE_BLOCKED_BY_DLT = 23082
DLT_TEMPLATE_DOES_NOT_MATCH = 23185
PRICE_PER_UNIT = Decimal("0.18")
DLT_VARIABLE = re.compile(r"\{#var#\}", re.IGNORECASE)
DLT_VALUE = ".{1,30}"


@dataclass(frozen=True)
class HttpError:
    """An Exotel error answer: HTTP status, API error code (None when Exotel sends none), text."""

    status: int
    code: int | None
    message: str


FAULT_ERRORS = {
    429: HttpError(429, 40402, "Too many POST requests."),
    503: HttpError(503, 40405, "Service Unavailable"),
    500: HttpError(500, 40100, "Error Processing Request"),
}

HTTP_ERROR_BY_SUFFIX = {
    "40001": HttpError(
        403, 40001, "Insufficient balance to send 1 sms. Please recharge your account."
    ),
    "40003": HttpError(
        403,
        40003,
        "Your account is not configured to send SMSes to this country. "
        "Please write to hello@exotel.com to update the setup.",
    ),
    "40402": FAULT_ERRORS[429],
    "40405": FAULT_ERRORS[503],
    "35000": HttpError(500, 35000, "Internal Server Error"),
    "40100": FAULT_ERRORS[500],
}


def now_ist() -> datetime:
    """Exotel stamps everything in IST, without a zone in the text."""
    return datetime.now(IST).replace(microsecond=0)


def exotel_time(moment: datetime | None) -> str | None:
    """Format like Exotel's ``DateCreated``: ``YYYY-MM-DD HH:MM:SS``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


def national_number(raw: str) -> str | None:
    """Exotel echoes Indian numbers as ``0XXXXXXXXXX``; None when the number is not valid."""
    try:
        e164 = normalise_number(raw)
    except ValueError:
        return None
    return "0" + e164[3:] if e164.startswith("+91") else e164


def last_five(number: str) -> str:
    """The digits the destination rules look at."""
    return "".join(ch for ch in number if ch.isdigit())[-5:]


def final_code_for(number: str) -> int:
    """Final DetailedStatusCode chosen by the destination's last five digits."""
    suffix = last_five(number)
    info = STATUS_CODES.get(int(suffix)) if suffix.isdigit() else None
    return info.code if info is not None and info.final else DELIVERED_TO_HANDSET


def http_error_for(number: str) -> HttpError | None:
    """An HTTP error a single send to this destination always gets, if any."""
    return HTTP_ERROR_BY_SUFFIX.get(last_five(number))


def template_pattern(body: str) -> re.Pattern[str]:
    """Compile a DLT body: literal text, each ``{#var#}`` standing for 1..30 characters."""
    literals = DLT_VARIABLE.split(body)
    return re.compile(DLT_VALUE.join(re.escape(part) for part in literals), re.DOTALL)


def dlt_rejection(patterns: dict[str, re.Pattern[str]], template_id: str | None, body: str):
    """The DLT code a message is rejected with, or None.

    Checks only run when the sandbox knows some templates and the message names one, as the
    operator scrubs against the template the sender declared.
    """
    if not patterns or not template_id:
        return None
    pattern = patterns.get(template_id)
    if pattern is None:
        return TEMPLATE_BLOCKED_BY_DLT
    return None if pattern.fullmatch(body) else DLT_TEMPLATE_DOES_NOT_MATCH


def price_for(units: int) -> str:
    """Exotel prices as a six-decimal string, e.g. ``"0.180000"``."""
    return f"{PRICE_PER_UNIT * units:.6f}"
