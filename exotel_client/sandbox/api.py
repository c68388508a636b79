"""Validate ``/Sms/send`` and ``/Sms/bulksend`` form bodies the way Exotel does.

The parsers turn a request into the messages to create, or raise ``Rejected`` with the HTTP
status, API code and text from Exotel's error table (shared/seeds/004_*).
"""

import re
from dataclasses import dataclass

from exotel_client.encoding import MAX_BODY_LENGTH
from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.rules import HttpError, national_number

MAX_BATCH = 100
SMS_TYPES = frozenset({"transactional", "transactional_opt_in", "promotional"})
ENCODING_TYPES = frozenset({"plain", "unicode"})
ARRAY_KEY = re.compile(r"^(\w+)\[")
TO_ITEM = re.compile(r"^To\[(\d*)\]$")
MESSAGE_ITEM = re.compile(r"^Messages\[(\d+)\]\[(\w+)\]$")
SEND_ARRAYS = frozenset({"To", "ShortenUrlParams"})
BULK_ARRAYS = frozenset({"Messages", "ShortenUrlParams"})
NUMERIC_SENDER = re.compile(r"^\+?[\d\s-]+$")


class Rejected(Exception):
    """The whole request is refused with an Exotel error answer."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.error = HttpError(status, code, message)


@dataclass(frozen=True)
class Outgoing:
    """One message a valid request asks for."""

    to: str | None
    sender: str
    body: str
    sms_type: str | None = None
    dlt_template_id: str | None = None
    status_callback: str | None = None
    custom_field: str | None = None


def parse_send(pairs: list[tuple[str, str]], config: SandboxConfig) -> tuple[list[Outgoing], bool]:
    """Messages for ``/Sms/send``; the flag says whether ``To`` was an array (answer a list)."""
    params = dict(pairs)
    _reject_arrays(pairs, SEND_ARRAYS)
    sender = _sender(params.get("From"), config)
    body = params.get("Body", "")
    if not body:
        raise Rejected(400, 40200, "Message body cannot be empty.")
    _check_body(body, params)
    numbers, as_list = _destinations(pairs)
    if len(numbers) > MAX_BATCH:
        raise Rejected(400, 40406, "Not more than 100 SMSs are allowed in one API request.")
    common = _common(params, params.get("SmsType"), params.get("DltTemplateId"))
    valid = _valid_numbers(numbers)
    return [Outgoing(to, sender, body, **common) for to in valid], as_list


def parse_bulksend(pairs: list[tuple[str, str]], config: SandboxConfig) -> list[Outgoing]:
    """Messages for ``/Sms/bulksend`` (``Messages[i][To]``, ``Messages[i][Body]``, ...)."""
    params = dict(pairs)
    _reject_arrays(pairs, BULK_ARRAYS)
    items = _message_items(pairs)
    if not items:
        raise Rejected(400, 40201, "Invalid parameters: Messages is a mandatory field")
    if len(items) > MAX_BATCH:
        raise Rejected(400, 40400, "Not more than 100 SMSs are allowed in one API request.")
    senders: dict[str | None, str] = {}  # one From for the whole request, usually
    outgoing = [_bulk_item(item, params, config, senders) for item in items]
    accepted = [out for out in outgoing if out.to is not None]
    if not accepted:
        _refuse_numbers([item.get("To", "") for item in items])
    return accepted


def _bulk_item(
    item: dict[str, str], params: dict[str, str], config: SandboxConfig, senders: dict
) -> Outgoing:
    """One dynamic-bulk entry; its own From/SmsType/DltTemplateId win over the top level.
    An invalid number gives ``to=None`` (Exotel skips it, and takes the rest)."""
    body = item.get("Body", "")
    if not body:
        raise Rejected(400, 40202, "Message body is invalid.")
    _check_body(body, params)
    given = item.get("From", params.get("From"))
    sender = senders.get(given)
    if sender is None:
        sender = senders[given] = _sender(given, config)
    sms_type = item.get("SmsType", params.get("SmsType"))
    template_id = item.get("DltTemplateId", params.get("DltTemplateId"))
    common = _common(params, sms_type, template_id)
    return Outgoing(national_number(item.get("To", "")), sender, body, **common)


def _common(params: dict[str, str], sms_type: str | None, template_id: str | None) -> dict:
    """Fields shared by every message of a request."""
    if sms_type and sms_type not in SMS_TYPES:
        raise Rejected(400, 40204, "Invalid parameters: SmsType is not set correctly")
    return {
        "sms_type": sms_type or None,
        "dlt_template_id": template_id or None,
        "status_callback": params.get("StatusCallback") or None,
        "custom_field": params.get("CustomField") or None,
    }


def _reject_arrays(pairs: list[tuple[str, str]], allowed: frozenset[str]) -> None:
    """Only a few parameters may be arrays; ``Body[0]=...`` and the like are refused."""
    for key, _ in pairs:
        match = ARRAY_KEY.match(key)
        if match and match.group(1) not in allowed:
            raise Rejected(400, 40207, "Array passed as Value in params. Expecting String")
        if key == "Messages":
            raise Rejected(400, 40208, "Invalid parameters: Messages has to be an array")


def _sender(value: str | None, config: SandboxConfig) -> str:
    """Exotel's ``From`` echo: ``<ExoPhone>/<SenderID>``."""
    if value is None:
        value = config.default_sender
    if value is None:
        raise Rejected(400, 40210, "Invalid parameters: From is a mandatory field")
    if not value.strip():
        raise Rejected(400, 40205, "Empty From field in the request")
    if NUMERIC_SENDER.match(value):
        return f"{national_number(value) or value.strip()}/{config.sender_id}"
    return f"{config.exophone}/{value.strip()}"


def _check_body(body: str, params: dict[str, str]) -> None:
    """Length and EncodingType checks shared by single and bulk sends."""
    if len(body) > MAX_BODY_LENGTH:
        raise Rejected(400, 40202, "Message body is invalid.")
    encoding = params.get("EncodingType")
    if encoding and encoding not in ENCODING_TYPES:
        raise Rejected(
            400,
            40209,
            "Encoding type is not properly set. Please check the encoding type again "
            f"before sending the request for Msg=[{body}]",
        )


def _destinations(pairs: list[tuple[str, str]]) -> tuple[list[str], bool]:
    """``To[0]``, ``To[1]``, ... in index order, else the (last) bare ``To``."""
    indexed = []
    for position, (key, value) in enumerate(pairs):
        match = TO_ITEM.match(key)
        if match:
            indexed.append((int(match.group(1) or position), position, value))
    if indexed:
        return [value for *_, value in sorted(indexed)], True
    bare = [value for key, value in pairs if key == "To"]
    return bare[-1:], False


def _message_items(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Group ``Messages[i][Field]`` pairs into one dict per index, in index order."""
    items: dict[int, dict[str, str]] = {}
    for key, value in pairs:
        match = MESSAGE_ITEM.match(key)
        if match:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = value
        elif key.startswith("Messages["):
            raise Rejected(400, 40208, "Invalid parameters: Messages has to be an array")
    return [items[index] for index in sorted(items)]


def _valid_numbers(numbers: list[str]) -> list[str]:
    """National forms of the valid numbers; invalid ones are dropped, as Exotel skips them."""
    valid = [national for national in map(national_number, numbers) if national]
    if not valid:
        _refuse_numbers(numbers)
    return valid


def _refuse_numbers(numbers: list[str]) -> None:
    shown = ", ".join(numbers)
    raise Rejected(400, 40203, f"All the destination numbers are invalid: {shown}")
