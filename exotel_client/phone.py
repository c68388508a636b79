"""Phone numbers in one shape: E.164 ("+919876543210")."""

from __future__ import annotations

import re

import phonenumbers

# Digits with the usual separators; letters would let phonenumbers read vanity numbers or text.
_ALLOWED = re.compile(r"^[+\d\s().\-]+$")


def normalise_number(raw: str | int, region: str = "IN") -> str:
    """Return ``raw`` as E.164, reading numbers without a country code as ``region``'s.

    Accepts "9876543210", "09876543210", "919876543210", "+91 98765 43210", "+91-98765-43210".
    Raises ValueError for anything that is not a valid phone number.
    """
    text = str(raw).strip() if isinstance(raw, int | str) else ""
    if not text:
        raise ValueError("phone number is empty")
    if not _ALLOWED.match(text) or text.count("+") > 1:
        raise ValueError(f"{text!r} is not a phone number: use digits, spaces, + and -")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
