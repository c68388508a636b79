"""Phone numbers in one shape: E.164 ("+919876543210")."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneMetadata

# Digits with the usual separators; letters would let phonenumbers read vanity numbers or text.
_ALLOWED = re.compile(r"^[+\d\s().\-]+$")

# The common case, an Indian mobile written "+91XXXXXXXXXX", "0XXXXXXXXXX" or "XXXXXXXXXX",
# is checked against phonenumbers' own metadata for India (the general and mobile patterns)
# instead of a full parse, which costs about 100 times more. Anything else takes the full path.
_INDIAN_MOBILE_FORM = re.compile(r"(?:\+91|0)?([6-9]\d{9})")
_IN = PhoneMetadata.metadata_for_region("IN")
_IN_GENERAL = re.compile(_IN.general_desc.national_number_pattern)
_IN_MOBILE = re.compile(_IN.mobile.national_number_pattern)


def _indian_mobile(text: str, region: str) -> str | None:
    """E.164 of an Indian mobile in one of the plain forms; None means "take the full path"."""
    if region != "IN" and not text.startswith("+91"):
        return None
    match = _INDIAN_MOBILE_FORM.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1)
    if _IN_GENERAL.fullmatch(digits) and _IN_MOBILE.fullmatch(digits):
        return "+91" + digits
    return None


def normalise_number(raw: str | int, region: str = "IN") -> str:
    """Return ``raw`` as E.164, reading numbers without a country code as ``region``'s.

    Accepts "9876543210", "09876543210", "919876543210", "+91 98765 43210", "+91-98765-43210".
    Raises ValueError for anything that is not a valid phone number.
    """
    text = str(raw).strip() if isinstance(raw, int | str) else ""
    if not text:
        raise ValueError("phone number is empty")
    fast = _indian_mobile(text, region)
    if fast is not None:
        return fast
    if not _ALLOWED.match(text) or text.count("+") > 1:
        raise ValueError(f"{text!r} is not a phone number: use digits, spaces, + and -")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
