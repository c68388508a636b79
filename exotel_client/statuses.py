"""Exotel's SMS status vocabulary and API error codes, written down once.

Both tables transcribe the Send SMS API reference (seed ``004_*``). Code that decides what to do
with a message or an error should look the code up here rather than compare strings.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("queued", "sending", "submitted", "sent", "failed", "failed-dnd")
FINAL_STATUSES = frozenset({"sent", "failed", "failed-dnd"})

# Exotel keeps 23084-24000 for detailed codes it may add later; all of them are final failures.
RESERVED_CODE_RANGE = range(23084, 24001)


@dataclass(frozen=True)
class StatusInfo:
    """One DetailedStatusCode: the coarse status, Exotel's word for it and what it means."""

    code: int
    status: str
    detailed_status: str
    final: bool
    meaning: str
    agent_text: str


_DLT = "Applicable only for SMS sent to Indian destination numbers via domestic lines. "

# (code, status, DetailedStatus, meaning from seed 004 (shortened), text for an agent)
_STATUS_ROWS = (
    (21010, "queued", "PENDING_TO_OPERATOR", "The message is being processed by Exotel.",
     "Queued at Exotel"),
    (21015, "sending", "SENDING_TO_OPERATOR",
     "The message has been processed by Exotel and is en-route to the operator.",
     "Sending to the operator"),
    (21020, "submitted", "PENDING_ON_OPERATOR",
     "The message has been submitted to the operator and is pending delivery. In India, "
     "promotional SMS may stay here if submitted outside 10AM to 9PM.",
     "Waiting for the operator to deliver"),
    (20005, "sent", "DELIVERED_TO_HANDSET",
     "The message has been delivered to the recipient's handset.", "Delivered"),
    (20006, "sent", "DELIVERED_TO_OPERATOR",
     "The message has been delivered to the operator; handset delivery is not reported on "
     "this route, so this is the best status available.", "Delivered to the operator"),
    (23005, "failed-dnd", "FAILED_REJECTED_DND",
     "Rejected because the recipient subscribes to DND (Do Not Disturb).",
     "Customer is on DND"),
    (23010, "failed", "FAILED_INVALID_DESTINATION_NUMBER",
     "The destination number is incorrect, not SMS-enabled or a PSTN landline.",
     "Number is invalid or cannot receive SMS"),
    (23015, "failed", "FAILED_SPAM_DETECTED",
     "Blocked by a carrier-level spam filter.", "Blocked by the carrier as spam"),
    (23020, "failed", "FAILED_REJECTED_BLACKLIST",
     "The number is blacklisted: the user has opted out (STOP/DND).",
     "Customer has opted out"),
    (24990, "failed", "FAILED_UNKNOWN_ERROR",
     "Delivery failed for reasons unknown to Exotel and the carriers.",
     "Delivery failed (unknown reason)"),
    (23030, "failed", "FAILED_UNAVAILABLE_ROUTE",
     "No route was available on the carrier or fallback carriers.",
     "No route to this number"),
    (23035, "failed", "FAILED_SUBSCRIBER_UNAVAILABLE",
     "The subscriber was temporarily unavailable (out of coverage or switched off); a later "
     "message may be delivered.", "Phone was off or out of coverage"),
    (23040, "failed", "FAILED_SUBSCRIBER_UNKNOWN",
     "The subscriber is unknown to the operators or no longer active.",
     "Number is not active"),
    (23050, "failed", "FAILED_EXPIRED",
     "The operator retried until the network SMS expiry and the message expired.",
     "Message expired before delivery"),
    (23060, "failed", "FAILED_REJECTED",
     "The message was rejected by Exotel or the operator.", "Rejected by the operator"),
    (24105, "failed", "FAILED_HANDSET_ERROR",
     "Not delivered because of a handset failure.", "Customer's phone could not receive it"),
    (24110, "failed", "FAILED_OPERATOR_ERROR",
     "Failed because of an issue at the operator's end.", "Operator error"),
    (23070, "failed", "FAILED_INVALID_MESSAGE",
     "The operator rejected the message as invalid (too long, unknown character, or another "
     "request error).", "Message content was rejected"),
    (23072, "failed", "FAILED_INVALID_SENDER_ID",
     "Invalid or unregistered Sender ID; in India, the header is not registered on DLT.",
     "Sender ID is not registered"),
    (24010, "failed", "FAILED_SYSTEM_ERROR",
     "Failed while processing within Exotel's system.", "Exotel system error"),
    (24120, "failed", "FAILED_SUBSCRIBER_ERROR",
     "A recipient issue unrelated to the handset, such as insufficient mobile balance.",
     "Problem with the customer's subscription"),
    (23080, "failed", "SENDER_BLOCKED_BY_DLT",
     _DLT + "The Sender ID (header) is blocked or failed at DLT: mismatch, not registered, or "
     "template not linked with the header.", "Sender ID blocked by DLT"),
    (23081, "failed", "ENTITY_BLOCKED_BY_DLT",
     _DLT + "The DLT Entity ID is blocked or failed: not passed or configured, or mismatching.",
     "DLT entity blocked"),
    (23082, "failed", "TEMPLATE_BLOCKED_BY_DLT",
     _DLT + "The template is blocked or failed at DLT: ID not set, content not matching, or "
     "not registered.", "Template blocked by DLT"),
    (23083, "failed", "FAILED_DLT_SCRUBBING_ERROR",
     _DLT + "Blocked at DLT scrubbing despite registration (spam, consent or DLT platform "
     "issues).", "Blocked by DLT scrubbing"),
    (23084, "failed", "FAILED_DLT_CONSENT_ERROR",
     _DLT + "DLT consent registration is required to keep sending to this customer.",
     "Customer consent missing on DLT"),
    (23181, "failed", "DLT_TEMPLATE_ID_INVALID",
     _DLT + "The template is invalid (some operators report 23182 instead).",
     "DLT template ID is invalid"),
    (23182, "failed", "DLT_TEMPLATE_NOT_FOUND", _DLT + "The template was not found.",
     "DLT template not found"),
    (23183, "failed", "DLT_TEMPLATE_ID_INACTIVE", _DLT + "The template is inactive.",
     "DLT template is inactive"),
    (23184, "failed", "DLT_TEMPLATE_ID_BLACKLISTED",
     _DLT + "The template has been blacklisted, possibly after users reported it.",
     "DLT template is blacklisted"),
    (23185, "failed", "DLT_TEMPLATE_DOES_NOT_MATCH",
     _DLT + "The message body does not match the template on the DLT portal.",
     "Message does not match the DLT template"),
    (23186, "failed", "DLT_LENGTH_EXCEEDED",
     _DLT + "The message exceeds 2000 characters (some operators report 23185 instead).",
     "Message is too long for DLT"),
    (23281, "failed", "DLT_ENTITY_NOT_FOUND",
     _DLT + "The entity ID was not found on the DLT portal (some operators report 23081).",
     "DLT entity not found"),
)  # fmt: skip

STATUS_CODES: dict[int, StatusInfo] = {
    code: StatusInfo(code, status, detailed, status in FINAL_STATUSES, meaning, agent)
    for code, status, detailed, meaning, agent in _STATUS_ROWS
}

DLT_REJECTION_CODES = frozenset({23080, 23081, 23082, 23083, *range(23181, 23187), 23281})


def _code_as_int(code: int | str | None) -> int | None:
    """Exotel sends DetailedStatusCode as a string in some answers and a number in others."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def describe_code(code: int | str | None) -> StatusInfo | None:
    """Look up a DetailedStatusCode; unknown codes in Exotel's reserved range are final failures."""
    number = _code_as_int(code)
    if number is None:
        return None
    if number in STATUS_CODES:
        return STATUS_CODES[number]
    if number in RESERVED_CODE_RANGE:
        return StatusInfo(
            number, "failed", "FAILED", True,
            "A detailed status code from Exotel's reserved range (23084-24000) not yet documented.",
            "Delivery failed",
        )  # fmt: skip
    return None


def normalise_status(status: str | None) -> str:
    """Lower-case and strip a Status; ``failed_dnd`` (seen in callbacks) becomes ``failed-dnd``."""
    if status is None:
        return ""
    return status.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class ApiErrorInfo:
    """One Exotel API error code (the HTTP-level refusal of a request, not a delivery status)."""

    code: int
    http_status: int
    message: str
    retryable: bool


# (code, HTTP status, Exotel's message, retryable) from seed 004's two API error tables.
_API_ERROR_ROWS = (
    (40000, 403, "Not allowed to send promotional SMS(s).", False),
    (340030, 403, "Your account is not yet KYC compliant;", False),
    (40001, 403, "Insufficient balance to send $n sms. Please recharge your account.", False),
    (40002, 403, "Account inactive.", False),
    (40003, 403, "Your account is not configured to send SMSes to this country.", False),
    # Seed 004: 35000 is a trial account's whitelisting error (incomplete KYC), so it is
    # permanent despite its HTTP 500; 40100 is Exotel's internal processing error.
    (35000, 500, "Internal Server Error", False),
    (40100, 500, "Error Processing Request", True),
    (40200, 400, "Message body cannot be empty.", False),
    (40201, 400, "Invalid parameters: Messages is a mandatory field", False),
    (40202, 400, "Message body is invalid.", False),
    (40203, 400, "All the destination numbers are invalid: $number", False),
    (40204, 400, "Invalid parameters: SmsType is not set correctly", False),
    (40205, 400, "Empty From field in the request", False),
    (40206, 400, "Invalid parameters: From format is not matching with the SmsType", False),
    (40207, 400, "Array passed as Value in params. Expecting String", False),
    (40208, 400, "Invalid parameters: Messages has to be an array", False),
    (40209, 400, "Encoding type is not properly set.", False),
    (40210, 400, "Invalid parameters: From is a mandatory field", False),
    (40300, 400, "No transactional template found and no numeric sender ID exists in your "
                 "account for sending it as promotional", False),
    (40301, 400, "No transactional sender ID found in your account", False),
    (40400, 400, "Not more than 100 SMSs are allowed in one API request.", False),
    (40402, 429, "Too many POST requests.", True),
    (40404, 429, "Please note that you can send only 10 SMS from your account during the "
                 "trial phase.", False),
    (40405, 503, "Service Unavailable", True),
    (35006, 503, "Service Unavailable", True),
    (40406, 400, "Not more than 100 SMSs are allowed in one API request.", False),
    (40500, 400, "Invalid Parameters", False),
    (40502, 405, "This method is not supported", False),
    (34001, 400, "Bad or missing parameters in request.;", False),
    (34009, 403, "Action forbidden on given resource;", False),
    (34010, 401, "Unauthorized;", False),
)  # fmt: skip

API_ERROR_CODES: dict[int, ApiErrorInfo] = {row[0]: ApiErrorInfo(*row) for row in _API_ERROR_ROWS}
