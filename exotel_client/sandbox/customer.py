"""Play the customer: an inbound SMS (form POST) or a call-flow Passthru (GET), as Exotel sends."""

import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from exotel_client.phone import normalise_number
from exotel_client.sandbox.rules import exotel_time, now_ist

SMS_WEBHOOK_PATH = "/webhook/sms-incoming"
CALL_WEBHOOK_PATH = "/webhook/call-event"
CALL_TYPES = ("call-attempt", "completed", "client-hangup", "incomplete", "voicemail")
TIMEOUT = (3.05, 10)  # Exotel gives webhooks about 10 seconds
MAX_SHOWN_BODY = 2000


def inbound_number(number: str) -> str:
    """Inbound SMS name the ExoPhone in E.164 (seed 001: ``+911140XXXXXX``)."""
    try:
        return normalise_number(number)
    except ValueError:
        return number


def webhook_url(app_url: str, default_path: str, token: str | None) -> str:
    """The app's base URL gets the default webhook path; a token goes in the query string."""
    parts = urlsplit(app_url)
    path = parts.path if parts.path not in ("", "/") else default_path
    query = parse_qsl(parts.query, keep_blank_values=True)
    if token and not any(key == "token" for key, _ in query):
        query.append(("token", token))
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def send_inbound_sms(
    app_url: str,
    *,
    sender: str,
    to: str,
    body: str,
    account_sid: str,
    token: str | None = None,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """POST an inbound SMS to the app like Exotel's two-way SMS webhook (seed 001)."""
    fields = {
        "SmsSid": uuid.uuid4().hex,
        "From": sender,
        "To": to,
        "Body": body,
        "DateCreated": now_ist().isoformat(),
        "AccountSid": account_sid,
    }
    url = webhook_url(app_url, SMS_WEBHOOK_PATH, token)
    return _deliver("sms", session, "POST", url, fields, data=fields)


def send_call_event(
    app_url: str,
    *,
    caller: str,
    to: str,
    call_type: str = "call-attempt",
    digits: str | None = None,
    direction: str = "incoming",
    duration: int = 0,
    call_sid: str | None = None,
    recording_url: str | None = None,
    token: str | None = None,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """GET the app's Passthru URL like an Exotel call flow; 302 answers are not followed.

    Give the same ``call_sid`` again to play the next stage of a call (or Exotel repeating
    itself); without one each call gets a new 32-character sid, as Exotel's are.
    """
    fields = _call_fields(caller, to, call_type, digits, direction, duration, call_sid)
    if recording_url:
        fields["RecordingUrl"] = recording_url
    url = webhook_url(app_url, CALL_WEBHOOK_PATH, token)
    return _deliver("call", session, "GET", url, fields, params=fields, allow_redirects=False)


def _call_fields(
    caller, to, call_type, digits, direction, duration, call_sid=None
) -> dict[str, str]:
    """Passthru query parameters; ``digits`` arrive wrapped in double quotes, as from a Gather."""
    now = now_ist()
    fields = {
        "CallSid": call_sid or uuid.uuid4().hex,
        "CallFrom": caller,
        "CallTo": to,
        "From": caller,
        "To": to,
        "Direction": direction,
        "CallType": call_type,
        "DialCallDuration": str(duration),
        "StartTime": exotel_time(now - timedelta(seconds=duration)),
        "CurrentTime": exotel_time(now),
    }
    if digits is not None:
        fields["digits"] = f'"{digits}"'
    return fields


def _deliver(kind, session, method, url, fields, **kwargs) -> dict[str, Any]:
    """Send one request and describe the outcome for the sandbox's records."""
    entry: dict[str, Any] = {"kind": kind, "url": url, "fields": fields, "at": time.time()}
    entry.update(http_status=None, response=None, error=None)
    try:
        response = (session or requests).request(method, url, timeout=TIMEOUT, **kwargs)
        entry["http_status"] = response.status_code
        entry["response"] = response.text[:MAX_SHOWN_BODY]
    except requests.RequestException as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
    return entry
