"""Auto-replies (keywords and flows): filling in their text, and the two ways they leave.

- Through the Send SMS API: `sending.send_message`, the one outbound pipeline (opt-out, DLT,
  length, promotional hours), as for any other message.
- In the HTTP answer to Exotel's "Send a Reply" applet (seed 002): Exotel sends the body
  itself, so we run the same local checks first, and record the reply as an outbound message
  once we hand it over.
"""

import re
from dataclasses import dataclass

from django.utils import timezone

from exotel_client import analyse_body

from ..models import (
    Direction,
    Message,
    MessageStatus,
    SmsType,
    StatusEventSource,
)
from . import sending
from .status_callbacks import record_transition
from .threads import note_new_message

# `{order_id}`-style names; DLT's own `{#var#}` slots are not placeholders (no "#" allowed).
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
APPLET_NOTE = "handed to Exotel in the Send a Reply applet answer; Exotel reports nothing back"


class ReplyImpossible(Exception):
    """A reply that must not go out, with a machine code and a sentence for agents."""

    def __init__(self, code, reason):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class CheckedReply:
    body: str
    prepared: sending.PreparedBody


def reply_values(conversation, session=None) -> dict[str, str]:
    """What placeholders can name: the contact, stored answers, the flow's context and answers."""
    values = {"name": conversation.contact_name, "phone": conversation.phone_number}
    values.update(conversation.flow_answers or {})
    if session is not None:
        values.update(session.context or {})
        values.update(session.answers or {})
    return {key: str(value) for key, value in values.items() if value is not None}


def fill_placeholders(text, values) -> str:
    missing = sorted({name for name in PLACEHOLDER.findall(text) if not values.get(name)})
    if missing:
        names = ", ".join(f"{{{name}}}" for name in missing)
        raise ReplyImpossible("missing_value", f"No value for {names} in this conversation.")
    return PLACEHOLDER.sub(lambda found: values[found.group(1)], text)


def check_reply(body) -> CheckedReply:
    """The checks of the outbound pipeline that do not depend on consent (DLT, length)."""
    try:
        prepared = sending.prepare_body(body)
    except sending.SendRefused as exc:
        raise ReplyImpossible(exc.code, exc.reason) from exc
    return CheckedReply(prepared.body, prepared)


def check_applet_reply(body) -> CheckedReply:
    checked = check_reply(body)
    if checked.prepared.template.sms_type == SmsType.PROMOTIONAL:
        # Exotel sends an applet answer at once, so the 10:00-21:00 IST hold cannot apply.
        raise ReplyImpossible(
            "promotional", "An applet answer cannot use a promotional DLT template."
        )
    return checked


def send_reply(conversation, body, *, source) -> Message:
    """Send through the outbound pipeline; raises ReplyImpossible if the pipeline refuses."""
    try:
        return sending.send_message(
            conversation.phone_number, body, source=source, conversation=conversation
        )
    except sending.SendRefused as exc:
        raise ReplyImpossible(exc.code, exc.reason) from exc


def record_applet_reply(conversation, checked: CheckedReply, *, source) -> Message:
    """Record a reply Exotel sends for us. It is `sent` from the start: it has no sid and no
    status will ever arrive for it, and a final status keeps the outbox sweeps away from it
    (a pending one would be sent a second time through the API)."""
    template = checked.prepared.template
    analysis = analyse_body(checked.body)
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        body=checked.body,
        status=MessageStatus.SENT,
        template=template,
        variables=list(checked.prepared.variables),
        sender=template.sender_id,
        sms_type=template.sms_type,
        encoding=analysis.encoding,
        segments=analysis.segments,
        source=source,
        sent_at=now,
    )
    record_transition(message, StatusEventSource.INTERNAL, note=APPLET_NOTE)
    note_new_message(message)
    return message


def dlt_body_for(text) -> str:
    """The DLT template body an auto-reply text needs: each placeholder becomes a {#var#}."""
    return PLACEHOLDER.sub("{#var#}", text)


def auto_reply_texts():
    """Every text keywords and flows may send, with where it is set: what to register on DLT."""
    from ..models import Flow, FlowChoice, FlowStep, KeywordRule

    for rule in KeywordRule.objects.exclude(reply=""):
        yield f"keyword rule: {rule.name}", rule.reply
    for step in FlowStep.objects.select_related("flow"):
        yield f"flow {step.flow.slug}, step {step.key}: prompt", step.prompt
        if step.retry_prompt:
            yield f"flow {step.flow.slug}, step {step.key}: retry", step.retry_prompt
    for choice in FlowChoice.objects.exclude(reply="").select_related("step__flow"):
        yield f"flow {choice.step.flow.slug}, step {choice.step.key}: {choice}", choice.reply
    for flow in Flow.objects.exclude(handover_reply=""):
        yield f"flow {flow.slug}: handover", flow.handover_reply


def reply_fits_dlt(text) -> bool:
    """Whether the text, placeholders filled with a sample value, fills an active template."""
    try:
        check_reply(PLACEHOLDER.sub("x", text))
    except ReplyImpossible:
        return False
    return True
