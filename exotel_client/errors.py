"""Exceptions that say whether a failed call may be retried.

Every exception carries what a caller needs to decide without parsing text: the HTTP status,
Exotel's API error code (int), Exotel's message, ``retryable`` (sending again is safe and may
succeed) and ``outcome_unknown`` (the request may have been processed: do not resend blindly,
look the message up instead).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from .statuses import API_ERROR_CODES

_BODY_KEEP = 4000  # characters of a raw error answer kept on the exception
_TEXT_KEEP = 300  # characters of an HTML or plain-text answer used as the message


class ExotelError(Exception):
    """Base class of every error raised by exotel_client."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        retryable: bool = False,
        body: str | None = None,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.retryable = retryable
        self.body = body
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

    def __str__(self) -> str:
        prefix = " ".join(str(part) for part in (self.http_status, self.code) if part is not None)
        return f"[{prefix}] {self.message}" if prefix else self.message


class ExotelValidationError(ExotelError, ValueError):
    """Refused locally before any request: nothing was sent."""


class ExotelAPIError(ExotelError):
    """Exotel answered with an HTTP error, or with a success we could not read."""


class ExotelAuthError(ExotelAPIError):
    """Credentials or account SID refused (401, or 403 with code 34009)."""


class ExotelRateLimitError(ExotelAPIError):
    """429: too many requests (retryable), or the trial-account SMS limit (40404, permanent)."""


class ExotelServerError(ExotelAPIError):
    """5xx from Exotel: retryable unless the gateway timed out on a send (outcome unknown)."""


class ExotelConnectionError(ExotelError):
    """The connection failed. Retryable when the request never left; else outcome unknown."""

    def __init__(self, message: str, **kwargs) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)


class ExotelTimeoutError(ExotelError):
    """No answer in time after the request was sent: Exotel may or may not have acted on it."""

    def __init__(self, message: str, **kwargs) -> None:
        kwargs.setdefault("outcome_unknown", True)
        super().__init__(message, **kwargs)


def api_error(
    http_status: int,
    text: str,
    *,
    idempotent: bool,
    headers: Mapping[str, str] | None = None,
) -> ExotelAPIError:
    """Build the exception for an HTTP error answer, whatever shape its body has."""
    code, message = parse_error_body(text)
    known = API_ERROR_CODES.get(code) if code is not None else None
    if not message:
        message = known.message if known else f"HTTP {http_status} from Exotel"
    retryable = known.retryable if known else _status_is_retryable(http_status)
    outcome_unknown = http_status == 504 and not idempotent
    return _error_class(http_status, code)(
        message,
        http_status=http_status,
        code=code,
        retryable=retryable and not outcome_unknown,
        body=text[:_BODY_KEEP],
        outcome_unknown=outcome_unknown,
        retry_after=_retry_after(headers or {}),
    )


def _status_is_retryable(http_status: int) -> bool:
    return http_status == 429 or http_status >= 500


def _error_class(http_status: int, code: int | None) -> type[ExotelAPIError]:
    if http_status == 401 or (http_status == 403 and code in (None, 34009)):
        return ExotelAuthError
    if http_status == 429:
        return ExotelRateLimitError
    if http_status >= 500:
        return ExotelServerError
    return ExotelAPIError


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: rare enough that the caller's own backoff is fine


def parse_error_body(text: str | None) -> tuple[int | None, str]:
    """Return (Exotel error code, message) from a JSON, XML, HTML or plain-text error body."""
    text = (text or "").strip()
    if not text:
        return None, ""
    if text[0] in "{[":
        parsed = _from_json(text)
        if parsed is not None:
            return parsed
    if text.startswith("<") and not _looks_like_html(text):
        parsed = _from_xml(text)
        if parsed is not None:
            return parsed
    return None, _plain_text(text)


def _from_json(text: str) -> tuple[int | None, str] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    fields = find_exception_fields(data)
    return None if fields is None else (_int_or_none(fields.get("code")), _message_of(fields))


def find_exception_fields(data: object) -> dict[str, object] | None:
    """Find the dict describing an error in a JSON answer, with lower-cased keys.

    The usual shape is ``{"RestException": {"Status", "Code", "Message"}}``; flat
    ``{"code", "message"}`` objects and ``error_data`` wrappers are accepted too.
    """
    if isinstance(data, list):
        return next(filter(None, map(find_exception_fields, data)), None)
    if not isinstance(data, dict):
        return None
    lowered = {str(key).lower(): value for key, value in data.items()}
    for wrapper in ("restexception", "error_data", "error", "response"):
        inner = find_exception_fields(lowered.get(wrapper))
        if inner is not None:
            return inner
    if "code" in lowered or "message" in lowered:
        return lowered
    return None


def _message_of(fields: Mapping[str, object]) -> str:
    for key in ("message", "description", "more_info"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _from_xml(text: str) -> tuple[int | None, str] | None:
    try:
        # Exotel's own answer over TLS; the stdlib parser does not fetch external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return None
    node = root if root.tag == "RestException" else root.find(".//RestException")
    if node is None:
        return None
    return _int_or_none(node.findtext("Code")), (node.findtext("Message") or "").strip()


def _looks_like_html(text: str) -> bool:
    head = text[:200].lower()
    return head.startswith("<!doctype html") or "<html" in head


def _plain_text(text: str) -> str:
    without_tags = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", text, flags=re.I | re.S)
    collapsed = " ".join(html.unescape(without_tags).split())
    return collapsed[:_TEXT_KEEP]


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
