"""How many SMS segments a body costs, and which encoding it needs.

A body made only of GSM 03.38 characters is sent as 7-bit "plain" text: 160 septets in one SMS,
153 per part once split (7 septets go to the concatenation header). The extension characters
cost two septets (an escape and the character) and the pair is never split across parts. Any
other character makes the whole body UCS-2 ("unicode"): 70 UTF-16 code units in one SMS, 67
per part, and a surrogate pair (most emoji) is never split.

This is an estimate for pacing and for showing agents the cost; the ``SmsUnits`` Exotel reports
is what was billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_BODY_LENGTH = 2000  # characters; Exotel refuses longer bodies

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[]~|€\f")

# (units in a single SMS, units per part of a multipart SMS)
_LIMITS = {"plain": (160, 153), "unicode": (70, 67)}


@dataclass(frozen=True)
class BodyAnalysis:
    """Encoding, size in units (septets or UTF-16 code units), segment count and the parts."""

    encoding: Literal["plain", "unicode"]
    units: int
    segments: int
    parts: tuple[str, ...]


def is_gsm7(body: str) -> bool:
    """True when every character of ``body`` exists in the GSM-7 basic or extension table."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body)


def char_units(char: str, encoding: str) -> int:
    """Units one character costs: 2 for a GSM-7 escape pair or a UTF-16 surrogate pair."""
    if encoding == "plain":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def analyse_body(body: str) -> BodyAnalysis:
    """Work out encoding, units and the segments ``body`` would be split into."""
    encoding: Literal["plain", "unicode"] = "plain" if is_gsm7(body) else "unicode"
    units = sum(char_units(char, encoding) for char in body)
    single, per_part = _LIMITS[encoding]
    if not body:
        parts: tuple[str, ...] = ()
    elif units <= single:
        parts = (body,)
    else:
        parts = _split(body, encoding, per_part)
    return BodyAnalysis(encoding, units, len(parts), parts)


def _split(body: str, encoding: str, per_part: int) -> tuple[str, ...]:
    # Characters are code points, so a surrogate or escape pair moves to the next part whole.
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in body:
        cost = char_units(char, encoding)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    parts.append("".join(current))
    return tuple(parts)
