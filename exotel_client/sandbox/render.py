"""Exotel's answer shapes: ``{"SMSMessage": {...}}``, lists of them, ``{"RestException": ...}``.

Paths ending in ``.json`` get JSON; others get the XML Exotel sends by default.
"""

import json
from typing import Any
from xml.etree import ElementTree

from exotel_client.sandbox.rules import HttpError, exotel_time
from exotel_client.sandbox.state import SandboxMessage

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"


def sms_message(message: SandboxMessage) -> dict[str, Any]:
    """The ``SMSMessage`` object as Exotel returns it (call with the state lock held)."""
    return {
        "SMSMessage": {
            "Sid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.sender,
            "To": message.to,
            "DateCreated": exotel_time(message.created),
            "DateUpdated": exotel_time(message.updated or message.created),
            "DateSent": exotel_time(message.sent),
            "Body": message.body,
            "Direction": "outbound-api",
            "Uri": f"/v1/Accounts/{message.account_sid}/SMS/Messages/{message.sid}.json",
            "ApiVersion": None,
            "Price": message.price,
            "Status": message.status,
            "DetailedStatusCode": str(message.code),
            "DetailedStatus": message.detailed_status,
            "SmsUnits": message.units if message.units_known else None,
        }
    }


def error_payload(error: HttpError) -> dict[str, Any]:
    """Exotel's error body; ``Code`` is left out where Exotel's table gives none."""
    body: dict[str, Any] = {"Status": error.status}
    if error.code is not None:
        body["Code"] = error.code
    body["Message"] = error.message
    return {"RestException": body}


def encode(payload: Any, as_json: bool) -> tuple[bytes, str]:
    """Serialise an answer and name its content type."""
    if as_json:
        return json.dumps(payload).encode(), JSON_TYPE
    return _to_xml(payload), XML_TYPE


def _to_xml(payload: Any) -> bytes:
    """Exotel's default XML: everything wrapped in ``<TwilioResponse>``."""
    root = ElementTree.Element("TwilioResponse")
    for item in payload if isinstance(payload, list) else [payload]:
        for name, value in item.items():
            _add_element(root, name, value)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


def _add_element(parent: ElementTree.Element, name: str, value: Any) -> None:
    element = ElementTree.SubElement(parent, name)
    if isinstance(value, dict):
        for child, child_value in value.items():
            _add_element(element, child, child_value)
    elif value is not None:
        element.text = str(value)
