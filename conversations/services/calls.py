"""SMS from calls: what an Exotel call flow's Passthru tells us, and the SMS it leads to.

`parse_call_event` turns the Passthru query string into `CallDetails` (or `BadCallEvent` with a
message per field). `receive_call_event` records the stage of the call on the caller's
conversation (opening one, marked as a lead, for a missed call from a new number), runs every
active `CallRule` that matches, and sends through the one outbound pipeline. It is idempotent:
a second request for the same CallSid and stage records and sends nothing, and a rule sends at
most once per call (`CallRuleSend` is unique per rule and CallSid).

The Passthru answer follows from the stored outcome: 200 when an SMS was queued for the stage,
302 when none was (no rule, opted out, DLT mismatch), so a sync call flow can branch on it.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import (
    MISSED,
    MISSED_CALL_TYPES,
    CallEvent,
    CallOutcome,
    CallRule,
    CallRuleSend,
    CallType,
    Conversation,
    MessageSource,
)
from ..phone import normalise_phone
from . import sending
from .schedule import IST

logger = logging.getLogger(__name__)

# The values a rule's variable can take from the call (seed 003), written {Name}. Exotel's
# CallSid is 32 characters, more than a DLT variable holds (30): {CallSidShort} is its end.
PLACEHOLDERS = ("CallFrom", "CallTo", "CallSid", "CallSidShort", "DateTime")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SHORT_SID_LENGTH = 10
DATETIME_FORMAT = "%Y-%m-%d %H:%M"  # seed 003: "2024-01-15 10:30"
EXOTEL_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
EMPTY_TIMES = {"", "0000-00-00 00:00:00", "null", "None"}
CALL_SID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_DIGITS = 64
MAX_FIELD = 32
MAX_PARAMS = 50
SECRET_PARAMS = {"token"}


class BadCallEvent(Exception):
    """The request is not a call event we can use; `errors` maps parameters to messages."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__(next(iter(errors.values()))[0])


@dataclass(frozen=True)
class CallDetails:
    call_sid: str
    call_type: str
    caller: str
    to_number: str = ""
    exophone: str = ""
    direction: str = ""
    duration: int | None = None
    start_time: datetime | None = None
    current_time: datetime | None = None
    digits: str = ""
    recording_url: str = ""
    params: dict = field(default_factory=dict)

    @property
    def is_missed(self):
        return self.call_type in MISSED_CALL_TYPES


@dataclass(frozen=True)
class CallResult:
    event: CallEvent
    duplicate: bool
    sends: tuple = ()

    @property
    def sms_queued(self):
        return self.event.sms_queued


# --- Reading the Passthru request ------------------------------------------------------------


def parse_call_event(query) -> CallDetails:
    """The call's details from Exotel's query parameters, or BadCallEvent naming each problem."""
    errors = {}

    def check(name, parse, raw):
        try:
            return parse(raw)
        except ValueError as exc:
            errors.setdefault(name, []).append(str(exc))
            return None

    def get(*names):
        return next(((query.get(n) or "").strip() for n in names if query.get(n)), "")

    call_sid = check("CallSid", _call_sid, get("CallSid"))
    caller = check("CallFrom", _caller, get("CallFrom", "From"))
    call_type = check("CallType", _call_type, get("CallType"))
    duration = check("DialCallDuration", _duration, get("DialCallDuration"))
    start_time = check("StartTime", _exotel_time, get("StartTime"))
    current_time = check("CurrentTime", _exotel_time, get("CurrentTime"))
    digits = check("digits", _digits, query.get("digits") or query.get("Digits") or "")
    recording_url = check("RecordingUrl", _recording_url, get("RecordingUrl"))
    to_number = get("CallTo", "To")
    if len(to_number) > MAX_FIELD:
        errors.setdefault("CallTo", []).append(f"At most {MAX_FIELD} characters.")
    direction = get("Direction")
    if len(direction) > 24:
        errors.setdefault("Direction", []).append("At most 24 characters.")
    if errors:
        raise BadCallEvent(errors)
    return CallDetails(
        call_sid=call_sid,
        call_type=call_type,
        caller=caller,
        to_number=to_number,
        exophone=exophone_number(to_number),
        direction=direction,
        duration=duration,
        start_time=start_time,
        current_time=current_time,
        digits=digits,
        recording_url=recording_url,
        params=_raw_params(query),
    )


def _raw_params(query) -> dict[str, str]:
    """The parameters as Exotel sent them, for the record; our own token is not kept."""
    keys = [key for key in query if key not in SECRET_PARAMS][:MAX_PARAMS]
    return {str(key)[:64]: str(query.get(key))[:500] for key in keys}


def _call_sid(raw):
    if not raw:
        raise ValueError("CallSid is required.")
    if not CALL_SID.match(raw):
        raise ValueError("A CallSid is 1 to 64 letters, digits, '-', '_', '.' or ':'.")
    return raw


def _caller(raw):
    if not raw:
        raise ValueError("CallFrom (or From) is required: the caller's number.")
    try:
        return normalise_phone(raw)
    except ValidationError as exc:
        raise ValueError(exc.messages[0]) from exc


def _call_type(raw):
    value = raw.lower()
    if value not in CallType.values:
        raise ValueError(f"CallType must be one of {', '.join(CallType.values)}.")
    return value


def _duration(raw):
    if raw in ("", "null"):
        return None
    if not raw.isdigit() or len(raw) > 7:
        raise ValueError("DialCallDuration is a whole number of seconds.")
    return int(raw)


def _exotel_time(raw):
    """Exotel's `YYYY-MM-DD HH:mm:ss`, in IST (it sends no zone)."""
    if raw in EMPTY_TIMES:
        return None
    for layout in EXOTEL_TIME_FORMATS:
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=IST)
        except ValueError:
            continue
    raise ValueError("Expected a time like 2024-01-15 10:30:00 (IST).")


def _digits(raw):
    """What the caller keyed in a Gather; Exotel wraps it in double quotes ("123")."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    if len(value) > MAX_DIGITS:
        raise ValueError(f"At most {MAX_DIGITS} characters.")
    return value


def _recording_url(raw):
    if not raw:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(raw)
    except ValidationError as exc:
        raise ValueError("RecordingUrl must be an http(s) URL.") from exc
    if len(raw) > 500:
        raise ValueError("RecordingUrl is longer than 500 characters.")
    return raw


def exophone_number(raw) -> str:
    """An ExoPhone in E.164 when it reads as a number (landlines too), else as given."""
    if not raw:
        return ""
    try:
        return normalise_phone(raw)
    except ValidationError:
        return raw.strip()[:MAX_FIELD]


# --- Recording the call and running the rules ------------------------------------------------


def receive_call_event(details: CallDetails) -> CallResult:
    """Record one stage of a call and send what its rules say; idempotent per CallSid and stage."""
    known = CallEvent.objects.filter(call_sid=details.call_sid, call_type=details.call_type)
    if event := known.first():  # Exotel repeating itself: the common duplicate, one query
        return CallResult(event, duplicate=True)
    with transaction.atomic():
        conversation = _caller_conversation(details)
        try:
            with transaction.atomic():
                event = _create_event(details, conversation)
        except IntegrityError:
            event = CallEvent.objects.get(call_sid=details.call_sid, call_type=details.call_type)
            return CallResult(event, duplicate=True)
        sends = tuple(run for rule in matching_rules(event) if (run := run_rule(rule, event)))
        event.outcome = _outcome(event, sends)
        event.save(update_fields=["outcome"])
        _note_call(conversation, event)
    return CallResult(event, duplicate=False, sends=sends)


def _caller_conversation(details) -> Conversation:
    """The caller's conversation; a missed call from a number we never heard from is a lead."""
    conversation, _ = Conversation.objects.get_or_create(
        phone_number=details.caller, defaults={"is_lead": details.is_missed}
    )
    return conversation


def _create_event(details, conversation) -> CallEvent:
    return CallEvent.objects.create(
        call_sid=details.call_sid,
        call_type=details.call_type,
        direction=details.direction,
        from_number=details.caller,
        to_number=details.to_number,
        exophone=details.exophone,
        duration=details.duration,
        start_time=details.start_time,
        current_time=details.current_time,
        digits=details.digits,
        recording_url=details.recording_url,
        params=details.params,
        conversation=conversation,
    )


def _note_call(conversation, event):
    """A call is activity: it brings the conversation to the top of the inbox."""
    Conversation.objects.filter(pk=conversation.pk, last_activity_at__lt=event.created_at).update(
        last_activity_at=event.created_at, updated_at=timezone.now()
    )


def _outcome(event, sends) -> str:
    if any(send.message_id for send in sends):
        return CallOutcome.SMS_QUEUED
    if sends:
        return CallOutcome.NOT_SENT
    if CallRuleSend.objects.filter(call_sid=event.call_sid).exists():
        return CallOutcome.ALREADY_SENT
    return CallOutcome.NO_RULE


def rule_covers(call_types, call_type) -> bool:
    """Whether `call_types` (call types, or "missed" for all three missed ones) cover it."""
    return call_type in call_types or (MISSED in call_types and call_type in MISSED_CALL_TYPES)


def rule_matches(rule, event) -> bool:
    return (
        rule_covers(rule.call_types or [], event.call_type)
        and (not rule.exophone or exophone_number(rule.exophone) == event.exophone)
        and (not rule.digits or rule.digits == event.digits)
    )


def matching_rules(event) -> list[CallRule]:
    rules = CallRule.objects.filter(active=True, template__isnull=False).select_related("template")
    return [rule for rule in rules.order_by("id") if rule_matches(rule, event)]


def call_values(event) -> dict[str, str]:
    """What {CallFrom}, {CallTo}, {CallSid}, {CallSidShort} and {DateTime} stand for."""
    moment = event.current_time or event.start_time or timezone.now()
    return {
        "CallFrom": event.from_number,
        "CallTo": event.exophone or event.to_number,
        "CallSid": event.call_sid,
        "CallSidShort": event.call_sid[-SHORT_SID_LENGTH:],
        "DateTime": moment.astimezone(IST).strftime(DATETIME_FORMAT),
    }


def fill_variables(variables, values) -> list[str]:
    """Each variable with its {Placeholders} replaced by the call's values; other text stays."""

    def replace(found):
        return values.get(found.group(1), found.group(0))

    return [PLACEHOLDER.sub(replace, str(variable)) for variable in variables or []]


def run_rule(rule, event) -> CallRuleSend | None:
    """Send the rule's SMS for this call, once; None when it already ran for this call."""
    try:
        with transaction.atomic():
            run = CallRuleSend.objects.create(rule=rule, call_sid=event.call_sid, call_event=event)
    except IntegrityError:
        return None
    delay = timedelta(seconds=rule.delay_seconds) if rule.delay_seconds else None
    # No savepoint around the send: send_message stores the message in its own atomic block,
    # and a refusal's audit entry (an opted-out caller) is written before it and must stay;
    # a savepoint rolled back with the refusal would take that entry with it.
    try:
        run.message = sending.send_message(
            event.from_number,
            template=rule.template,
            variables=fill_variables(rule.variables, call_values(event)),
            source=MessageSource.CALL,
            conversation=event.conversation,
            send_after=timezone.now() + delay if delay else None,
        )
    except sending.SendRefused as refusal:
        run.refusal_code, run.refusal = refusal.code[:32], refusal.reason[:255]
        logger.info("call rule %s sent nothing for %s: %s", rule.pk, event.call_sid, refusal.reason)
    run.save(update_fields=["message", "refusal_code", "refusal"])
    return run


def process_call_webhook_event(webhook_event) -> str:
    """Replay a stored Passthru request (admin's "replay"); nothing is sent twice."""
    try:
        result = receive_call_event(parse_call_event(webhook_event.payload))
    except BadCallEvent as exc:
        return f"rejected: {exc}"
    return f"{'duplicate' if result.duplicate else 'recorded'}: {result.event.outcome}"


# --- Reading: calls beside messages ----------------------------------------------------------


def thread_with_calls(conversation, messages) -> list:
    """The conversation's messages and call events in one list, in the order they happened.

    When `messages` are only the newest of the thread, only the calls since the first of them
    are shown (the older calls come with the older messages)."""
    messages = list(messages)
    events = conversation.call_events.order_by("created_at", "id")
    if messages and len(messages) < conversation.message_count:
        events = events.filter(created_at__gte=messages[0].created_at)
    return sorted([*messages, *events], key=lambda item: item.created_at)
