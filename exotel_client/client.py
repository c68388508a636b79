"""The HTTP client for Exotel's SMS API: send, static and dynamic bulk send, message details."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict, Unpack
from urllib.parse import quote, quote_plus, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from .encoding import MAX_BODY_LENGTH
from .errors import (
    ExotelAPIError,
    ExotelConnectionError,
    ExotelError,
    ExotelTimeoutError,
    ExotelValidationError,
    api_error,
    find_exception_fields,
)
from .models import BulkItem, BulkMessage, BulkResult, SmsMessage
from .phone import normalise_number

logger = logging.getLogger("exotel_client")

REGION_SINGAPORE = "api.exotel.com"
REGION_MUMBAI = "api.in.exotel.com"
BULK_LIMIT = 100  # Exotel refuses more numbers per request (40400 dynamic, 40406 static)
NO_RESULT = "no result returned by Exotel"
USER_AGENT = "smsdesk-exotel-client/1.0"

SMS_TYPES = ("transactional", "transactional_opt_in", "promotional")
PRIORITIES = ("normal", "high")
ENCODING_TYPES = ("plain", "unicode")

Pairs = list[tuple[str, str]]


class SmsOptions(TypedDict, total=False):
    """The optional parameters of a send; see ``ExotelClient.send_sms``."""

    dlt_entity_id: str | int | None
    dlt_template_id: str | int | None
    sms_type: str | None
    priority: str | None
    encoding_type: str | None
    status_callback: str | None
    custom_field: str | None
    shorten_url: bool | str | None
    shorten_url_header: str | None
    shorten_url_tracking: bool | str | None
    click_tracking_callback_url: str | None


class ExotelClient:
    """Exotel SMS API client: one pooled session, Basic auth, JSON answers, typed errors.

    Nothing here retries: each error says whether a retry is safe (``retryable``) or whether
    the request may already have been processed (``outcome_unknown``), and the caller decides.
    """

    def __init__(
        self,
        api_key: str,
        api_token: str,
        account_sid: str,
        subdomain: str = REGION_SINGAPORE,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = (3.05, 15),
        session: requests.Session | None = None,
    ) -> None:
        """Configure the client; ``base_url`` (e.g. a local sandbox) overrides ``subdomain``."""
        for name, value in (("api_key", api_key), ("api_token", api_token)):
            _required_text(value, name)
        self.account_sid = _required_text(account_sid, "account_sid")
        self.base_url = _base_url(subdomain, base_url)
        if timeout is None:
            raise ExotelValidationError("timeout is required: a call without one can hang forever")
        self.timeout = timeout
        self._auth = HTTPBasicAuth(api_key, api_token)
        self._owns_session = session is None
        self._session = session if session is not None else _new_session()

    def __repr__(self) -> str:
        return f"ExotelClient(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    def __enter__(self) -> ExotelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections (a session passed in by the caller is left open)."""
        if self._owns_session:
            self._session.close()

    def send_sms(
        self,
        to: str,
        body: str,
        *,
        sender: str | None = None,
        dlt_entity_id: str | int | None = None,
        dlt_template_id: str | int | None = None,
        sms_type: str | None = None,
        priority: str | None = None,
        encoding_type: str | None = None,
        status_callback: str | None = None,
        custom_field: str | None = None,
        shorten_url: bool | str | None = None,
        shorten_url_header: str | None = None,
        shorten_url_tracking: bool | str | None = None,
        click_tracking_callback_url: str | None = None,
    ) -> SmsMessage:
        """Send one SMS (POST /Sms/send.json) and return the message Exotel queued.

        ``sender`` is the ExoPhone or DLT header (From). The number is sent as E.164 and the
        body and option values are checked first, so a bad call fails before any request.
        """
        options = _option_pairs(
            dlt_entity_id=dlt_entity_id,
            dlt_template_id=dlt_template_id,
            sms_type=sms_type,
            priority=priority,
            encoding_type=encoding_type,
            status_callback=status_callback,
            custom_field=custom_field,
            shorten_url=shorten_url,
            shorten_url_header=shorten_url_header,
            shorten_url_tracking=shorten_url_tracking,
            click_tracking_callback_url=click_tracking_callback_url,
        )
        pairs = [("From", _sender(sender)), ("To", _recipient(to)), ("Body", _body(body))]
        answer = self._request("POST", "/Sms/send.json", pairs + options)
        return _single_message(answer, idempotent=False)

    def send_static_bulk(
        self,
        numbers: Iterable[str],
        body: str,
        *,
        sender: str | None = None,
        **options: Unpack[SmsOptions],
    ) -> BulkResult:
        """Send one body to many numbers (To[0], To[1], ... on /Sms/send.json), 100 a request.

        Takes the same keyword arguments as ``send_sms``. Returns one item per input, in order.
        Once sending starts nothing is raised: a failed request is reported on its items (the
        policy is on ``_send_chunks``), so sids of accepted chunks are never lost.
        """
        if isinstance(numbers, str):
            raise ExotelValidationError("numbers must be a list of numbers, not one string")
        head = [("From", _sender(sender))]
        tail = [("Body", _body(body)), *_option_pairs(**options)]
        inputs = [str(number) for number in numbers]
        items, pending = _plan([(number, None) for number in inputs])

        def build(chunk: list[tuple[int, str]]) -> Pairs:
            numbered = [(f"To[{i}]", number) for i, (_, number) in enumerate(chunk)]
            return head + numbered + tail

        return self._send_chunks("/Sms/send.json", inputs, items, pending, build)

    def send_dynamic_bulk(
        self,
        messages: Sequence[BulkMessage],
        *,
        sender: str | None = None,
        dlt_entity_id: str | int | None = None,
        status_callback: str | None = None,
        custom_field: str | None = None,
        sms_type: str | None = None,
        priority: str | None = None,
    ) -> BulkResult:
        """Send a body per number (Messages[i][To], Messages[i][Body] on /Sms/bulksend.json).

        ``sender`` and ``sms_type`` are defaults for messages that do not set their own; a
        message with a bad number or body is reported on its item and the rest still go.
        Failed requests are reported on their items, as in ``send_static_bulk``.
        """
        messages = list(messages)
        head = _dynamic_head(
            messages, sender, dlt_entity_id, status_callback, custom_field, priority
        )
        items, pending = _plan([(m.to, _body_problem(m.body)) for m in messages])
        fields = {index: _message_fields(messages[index], sms_type) for index, _ in pending}

        def build(chunk: list[tuple[int, str]]) -> Pairs:
            pairs = list(head)
            for i, (index, number) in enumerate(chunk):
                own = [("To", number), *fields[index]]
                pairs += [(f"Messages[{i}][{name}]", value) for name, value in own]
            return pairs

        inputs = [str(message.to) for message in messages]
        return self._send_chunks("/Sms/bulksend.json", inputs, items, pending, build)

    def get_message(self, sid: str) -> SmsMessage:
        """Fetch one message's current state (GET /SMS/Messages/<sid>.json), e.g. to reconcile."""
        path = f"/SMS/Messages/{quote(_required_text(sid, 'sid'), safe='')}.json"
        return _single_message(self._request("GET", path), idempotent=True)

    def _send_chunks(
        self,
        path: str,
        inputs: list[str],
        items: list[BulkItem | None],
        pending: list[tuple[int, str]],
        build: Callable[[list[tuple[int, str]]], Pairs],
    ) -> BulkResult:
        """Send ``pending`` in requests of at most 100 and fill ``items`` in input order.

        A 400 answer concerns that request only: its items get the error and later chunks
        still go. Any other failure (auth, account, rate limit, 5xx, network, timeout) would
        hit every later chunk too, so sending stops: the failed chunk's items carry the error
        with its ``retryable``/``outcome_unknown`` flags and later items are marked not sent.
        Nothing is raised, so messages Exotel already accepted are never lost.
        """
        stop: ExotelError | None = None
        for start in range(0, len(pending), BULK_LIMIT):
            chunk = pending[start : start + BULK_LIMIT]
            if stop is not None:
                _fill(chunk, inputs, items, **_not_sent_fields(stop))
                continue
            try:
                answer = self._request("POST", path, build(chunk))
                _match(chunk, inputs, items, _answer_messages(answer))
            except ExotelError as exc:
                _fill(chunk, inputs, items, **_failed_fields(exc))
                stop = None if _concerns_chunk_only(exc) else exc
        return BulkResult(tuple(item for item in items if item is not None))

    def _request(self, method: str, path: str, data: Pairs | None = None) -> Any:
        """Make one call and return its JSON, or raise the matching ExotelError."""
        url = f"{self.base_url}/v1/Accounts/{quote(self.account_sid, safe='')}{path}"
        idempotent = method == "GET"
        started = time.monotonic()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = FORM_TYPE
        try:
            response = self._session.request(
                method,
                url,
                data=None if data is None else form_encode(data),
                auth=self._auth,
                timeout=self.timeout,
                allow_redirects=False,
                headers=headers,
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, idempotent) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
        return _json_answer(response, idempotent)


FORM_TYPE = "application/x-www-form-urlencoded"
# What urllib's quote_plus leaves as it is; everything else is %XX (a space is "+").
_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ASCII = {
    code: "+" if code == 0x20 else chr(code) if code in _FORM_SAFE else f"%{code:02X}"
    for code in range(128)
}
_FORM_KEYS: dict[str, str] = {}


def form_encode(pairs: Pairs) -> str:
    """``urlencode(pairs)``, faster for bulk bodies: keys (``Messages[7][Body]``) repeat and
    are quoted once, ASCII values in one ``str.translate`` instead of a call per byte."""
    parts = []
    for key, value in pairs:
        quoted = _FORM_KEYS.get(key)
        if quoted is None:
            quoted = quote_plus(str(key))
            if len(_FORM_KEYS) < 4096:
                _FORM_KEYS[key] = quoted
        text = str(value)
        parts.append(
            f"{quoted}={text.translate(_FORM_ASCII) if text.isascii() else quote_plus(text)}"
        )
    return "&".join(parts)


def _new_session() -> requests.Session:
    # Retry(total=0): no adapter-level retries, so a POST is never silently sent twice.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=20, max_retries=Retry(0, read=False))
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _base_url(subdomain: str, base_url: str | None) -> str:
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ExotelValidationError(f"base_url must be an http(s) URL, got {base_url!r}")
        return base_url.rstrip("/")
    host = (subdomain or "").strip().lower()
    if not host or any(char in host for char in "/:@ "):
        raise ExotelValidationError(
            f"subdomain must be a host name such as {REGION_SINGAPORE!r} or {REGION_MUMBAI!r}"
        )
    return f"https://{host}"


def _transport_error(exc: requests.RequestException, idempotent: bool) -> ExotelError:
    """Tell "never reached Exotel" (safe to retry) from "sent, then lost" (outcome unknown)."""
    if _never_sent(exc):
        return ExotelConnectionError(f"could not connect to Exotel: {exc}")
    unknown = {"retryable": idempotent, "outcome_unknown": not idempotent}
    if isinstance(exc, requests.Timeout):
        return ExotelTimeoutError(f"no answer from Exotel in time: {exc}", **unknown)
    if isinstance(exc, requests.ConnectionError):
        return ExotelConnectionError(f"connection to Exotel lost mid-request: {exc}", **unknown)
    return ExotelError(f"request to Exotel failed: {exc}")


def _never_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.exceptions.ProxyError):
        return True
    # requests wraps connect-phase failures in MaxRetryError; errors after sending are bare.
    wrapped = exc.args[0] if exc.args else None
    return isinstance(wrapped, MaxRetryError) and isinstance(
        wrapped.reason, NewConnectionError | ConnectTimeoutError
    )


def _json_answer(response: requests.Response, idempotent: bool) -> Any:
    if not 200 <= response.status_code < 300:
        raise api_error(
            response.status_code, response.text, idempotent=idempotent, headers=response.headers
        )
    try:
        return response.json()
    except ValueError:
        raise _unreadable(response.status_code, response.text, idempotent) from None


def _unreadable(http_status: int, text: str, idempotent: bool) -> ExotelAPIError:
    # A success we cannot read may still have sent the SMS: resending could send it twice.
    return ExotelAPIError(
        f"Exotel answered {http_status} with a body that is not a readable message",
        http_status=http_status,
        body=text[:4000],
        outcome_unknown=not idempotent,
    )


def _answer_messages(answer: Any) -> list[SmsMessage]:
    """Messages of an answer: a list of {"SMSMessage": {...}} or a single such object."""
    entries = answer if isinstance(answer, list) else [answer]
    found = [_ci_get(entry, "SMSMessage") for entry in entries if isinstance(entry, dict)]
    raw = [entry for entry in found if isinstance(entry, dict)]
    if not raw:
        _raise_refusal(answer)
    messages = []
    for data in raw:
        try:
            messages.append(SmsMessage.from_api(data))
        except ValueError:
            # Only the field names: the values hold phone numbers and message text.
            logger.warning("Exotel returned a message without a Sid (fields %s)", sorted(data))
    return messages


def _raise_refusal(answer: Any) -> None:
    """An error object inside a 2xx answer is a refusal, classified by its own Status."""
    fields = find_exception_fields(answer)
    if fields is None:
        return
    status = fields.get("status")
    http_status = int(status) if str(status).isdigit() else 400
    raise api_error(http_status, json.dumps(answer), idempotent=False)


def _single_message(answer: Any, idempotent: bool) -> SmsMessage:
    messages = _answer_messages(answer)
    if not messages:
        raise _unreadable(200, json.dumps(answer), idempotent)
    return messages[0]


def _ci_get(data: dict[str, Any], key: str) -> Any:
    wanted = key.lower()
    return next((value for name, value in data.items() if str(name).lower() == wanted), None)


def _plan(
    recipients: list[tuple[str, str | None]],
) -> tuple[list[BulkItem | None], list[tuple[int, str]]]:
    """Normalise each number; inputs with a bad number or body get their item now, unsent."""
    items: list[BulkItem | None] = []
    pending: list[tuple[int, str]] = []
    for index, (raw, problem) in enumerate(recipients):
        try:
            number = normalise_number(raw)
        except ValueError as exc:
            problem = problem or str(exc)
        if problem:
            items.append(BulkItem(str(raw), None, f"not sent: {problem}"))
        else:
            items.append(None)
            pending.append((index, number))
    return items, pending


def _match(
    chunk: list[tuple[int, str]],
    inputs: list[str],
    items: list[BulkItem | None],
    messages: list[SmsMessage],
) -> None:
    """Pair results with inputs by normalised number; repeats of a number pair up in order."""
    waiting: dict[str, deque[int]] = defaultdict(deque)
    for index, number in chunk:
        waiting[number].append(index)
    for message in messages:
        queue = waiting.get(message.to or "")
        if not queue:
            logger.warning("Exotel returned %s for a number not in the request", message.sid)
            continue
        index = queue.popleft()
        items[index] = BulkItem(inputs[index], message)
    for index, _ in chunk:
        if items[index] is None:
            items[index] = BulkItem(inputs[index], None, NO_RESULT)


def _fill(
    chunk: list[tuple[int, str]], inputs: list[str], items: list[BulkItem | None], **fields: Any
) -> None:
    for index, _ in chunk:
        items[index] = BulkItem(inputs[index], None, **fields)


def _failed_fields(exc: ExotelError) -> dict[str, Any]:
    return {
        "error": str(exc),
        "code": exc.code,
        "retryable": exc.retryable,
        "outcome_unknown": exc.outcome_unknown,
    }


def _not_sent_fields(exc: ExotelError) -> dict[str, Any]:
    # These were never sent: safe to resend once a transient cause (throttle, network) clears.
    return {
        "error": f"not sent: an earlier request of this bulk send failed ({exc})",
        "retryable": exc.retryable or exc.outcome_unknown,
    }


def _concerns_chunk_only(exc: ExotelError) -> bool:
    return isinstance(exc, ExotelAPIError) and exc.http_status == 400 and not exc.outcome_unknown


def _dynamic_head(
    messages: list[BulkMessage],
    sender: str | None,
    dlt_entity_id: str | int | None,
    status_callback: str | None,
    custom_field: str | None,
    priority: str | None,
) -> Pairs:
    if not _optional_text(sender, "sender") and not all(m.sender for m in messages):
        raise ExotelValidationError("sender is required, as a default or on every message")
    candidates = [
        ("From", _optional_text(sender, "sender")),
        ("DltEntityId", _optional_text(dlt_entity_id, "dlt_entity_id")),
        ("StatusCallback", _url(status_callback, "status_callback")),
        ("CustomField", _optional_text(custom_field, "custom_field")),
        ("Priority", _choice(priority, "priority", PRIORITIES)),
    ]
    return [(name, value) for name, value in candidates if value is not None]


def _message_fields(message: BulkMessage, default_type: str | None) -> Pairs:
    """A dynamic bulk message's own fields, checked before the first request goes out."""
    candidates = [
        ("Body", message.body),
        ("From", _optional_text(message.sender, "sender")),
        ("SmsType", _choice(message.sms_type or default_type, "sms_type", SMS_TYPES)),
        ("DltTemplateId", _optional_text(message.dlt_template_id, "dlt_template_id")),
    ]
    return [(name, value) for name, value in candidates if value is not None]


def _option_pairs(
    *,
    dlt_entity_id: str | int | None = None,
    dlt_template_id: str | int | None = None,
    sms_type: str | None = None,
    priority: str | None = None,
    encoding_type: str | None = None,
    status_callback: str | None = None,
    custom_field: str | None = None,
    shorten_url: bool | str | None = None,
    shorten_url_header: str | None = None,
    shorten_url_tracking: bool | str | None = None,
    click_tracking_callback_url: str | None = None,
) -> Pairs:
    """Validate the optional parameters and return them with Exotel's names, in 004's order."""
    shorten, tracking = _flag(shorten_url, "shorten_url"), _flag(shorten_url_tracking, "tracking")
    if tracking == "true" and shorten != "true":
        raise ExotelValidationError("shorten_url_tracking needs shorten_url=True to work")
    candidates = [
        ("EncodingType", _choice(encoding_type, "encoding_type", ENCODING_TYPES)),
        ("ShortenUrl", shorten),
        ("ShortenUrlParams[Header]", _optional_text(shorten_url_header, "shorten_url_header")),
        ("ShortenUrlParams[Tracking]", tracking),
        (
            "ShortenUrlParams[ClickTrackingCallbackUrl]",
            _url(click_tracking_callback_url, "click_tracking_callback_url"),
        ),
        ("StatusCallback", _url(status_callback, "status_callback")),
        ("DltEntityId", _optional_text(dlt_entity_id, "dlt_entity_id")),
        ("DltTemplateId", _optional_text(dlt_template_id, "dlt_template_id")),
        ("SmsType", _choice(sms_type, "sms_type", SMS_TYPES)),
        ("CustomField", _optional_text(custom_field, "custom_field")),
        ("Priority", _choice(priority, "priority", PRIORITIES)),
    ]
    return [(name, value) for name, value in candidates if value is not None]


def _required_text(value: object, name: str) -> str:
    text = _optional_text(value, name)
    if text is None:
        raise ExotelValidationError(f"{name} is required")
    return text


def _optional_text(value: object, name: str) -> str | None:
    """Strings and ints (IDs read from a spreadsheet) pass; blank counts as not given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ExotelValidationError(f"{name} must be text, got {type(value).__name__}")
    return str(value).strip() or None


def _sender(sender: str | None) -> str:
    return _required_text(sender, "sender (From: your ExoPhone or DLT header)")


def _recipient(to: str) -> str:
    try:
        return normalise_number(to)
    except ValueError as exc:
        raise ExotelValidationError(str(exc)) from None


def _body_problem(body: object) -> str | None:
    if not isinstance(body, str) or not body.strip():
        return "body is empty"
    if len(body) > MAX_BODY_LENGTH:
        return f"body has {len(body)} characters; Exotel allows at most {MAX_BODY_LENGTH}"
    return None


def _body(body: str) -> str:
    problem = _body_problem(body)
    if problem:
        raise ExotelValidationError(problem)
    return body


def _choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    choice = str(value).strip().lower()
    if choice not in allowed:
        raise ExotelValidationError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return choice


def _flag(value: bool | str | None, name: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ExotelValidationError(f"{name} must be True, False, 'true' or 'false'; got {value!r}")
    return text


def _url(value: str | None, name: str) -> str | None:
    url = _optional_text(value, name)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExotelValidationError(f"{name} must be an http(s) URL Exotel can reach; got {url!r}")
    return url
