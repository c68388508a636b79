"""The one outbound pipeline: every SMS a customer receives is created and sent here.

`send_message` checks everything that can be checked locally (number, consent, DLT template,
length, promotional hours), stores a `pending` Message and enqueues its send after the commit.
`dispatch_message` (run by the send task) claims the message under a row lock, calls Exotel
once, and records the answer. A message is never sent twice: only a `pending` message is
claimed, and a request whose outcome is unknown is never repeated blindly.
"""

import logging
import random
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from exotel_client import MAX_BODY_LENGTH, ExotelError, analyse_body
from smsdesk.celery import enqueue_on_commit

from ..models import (
    AuditLog,
    Direction,
    DltTemplate,
    Message,
    MessageSource,
    MessageStatus,
    StatusEventSource,
)
from ..phone import normalise_phone
from . import consent, dlt, rate_limit
from .audit import record_action
from .exotel import get_exotel_client
from .schedule import next_promotional_window
from .status_callbacks import ExotelStatus, apply_status, record_transition
from .threads import get_or_create_conversation, note_new_message, note_status_change

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 60.0
CALLBACK_SALT = "sms-status-callback"


class SendRefused(ValidationError):
    """A send refused before anything left; `field` and `code` say why, for a 400."""

    def __init__(self, message, *, code, field="non_field_errors"):
        super().__init__({field: [ValidationError(message, code=code)]})
        self.code = code
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class PreparedBody:
    body: str
    template: DltTemplate
    variables: tuple[str, ...]


def send_message(
    to,
    body=None,
    *,
    template=None,
    variables=None,
    sms_type=None,
    user=None,
    source=MessageSource.API,
    conversation=None,
    resent_from=None,
    audit_action="send",
    send_after=None,
) -> Message:
    """Validate, store and enqueue one outbound SMS. Raises SendRefused with a clear reason.

    `send_after` (e.g. a call rule's delay) holds the message in the database until then; the
    beat sweep releases it, promotional hours permitting.
    """
    phone = _normalised_destination(to)
    refuse_if_opted_out(phone, user=user, source=source)
    prepared = prepare_body(body, template=template, variables=variables, sms_type=sms_type)
    analysis = analyse_body(prepared.body)
    hold_until = send_after if send_after and send_after > timezone.now() else None
    if prepared.template.sms_type == "promotional":
        hold_until = next_promotional_window(hold_until) or hold_until
    with transaction.atomic():
        conversation = conversation or get_or_create_conversation(phone)
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            body=prepared.body,
            status=MessageStatus.SCHEDULED if hold_until else MessageStatus.PENDING,
            template=prepared.template,
            variables=list(prepared.variables),
            sender=prepared.template.sender_id or settings.EXOTEL_SENDER_ID,
            sms_type=prepared.template.sms_type,
            encoding=analysis.encoding,
            segments=analysis.segments,
            source=source,
            send_after=hold_until,
            resent_from=resent_from,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        note_new_message(message)
        if message.created_by_id:  # a person's action (issue 8), not keyword or flow replies
            record_action(audit_action, actor=user, target=phone, message=message.pk, source=source)
        if hold_until is None:
            enqueue_send(message)
    return message


def send_reply(to, body=None, *, user=None, source=MessageSource.API, **options) -> Message:
    """A person's reply in a conversation: sent like any message, and it settles the flag
    that asked an agent to look at the conversation."""
    from . import reply_locks
    from .triage import clear_attention

    # Nobody sends over an agent who is writing a reply (inbox and API alike); once sent, the
    # lock is free again.
    with reply_locks.held_for_send(to, user):
        message = send_message(to, body, user=user, source=source, audit_action="reply", **options)
    clear_attention(message.conversation, user=user)
    return message


def send_new_message(to, body=None, *, user=None, source=MessageSource.API, **options) -> Message:
    """A person's message to a number typed in (the inbox's New message): sent like any
    message, but, as a reply, never over another agent who is replying to that number."""
    from . import reply_locks

    with reply_locks.held_for_send(to, user):
        return send_message(to, body, user=user, source=source, **options)


RESENDABLE = (MessageStatus.FAILED, MessageStatus.FAILED_DND, MessageStatus.UNKNOWN)


def resend_message(message, *, user=None) -> Message:
    """Send a failed message's body again as a new message (the failed one stays as it was)."""
    return send_message(
        message.conversation.phone_number,
        message.body,
        template=message.template,
        user=user,
        source=MessageSource.ADMIN,
        conversation=message.conversation,
        resent_from=message,
    )


def enqueue_send(message):
    from ..tasks import send_message_task

    enqueue_on_commit(send_message_task, message.pk)


def _normalised_destination(to):
    try:
        return normalise_phone(to)
    except ValidationError as exc:
        raise SendRefused(exc.messages[0], code="invalid_phone", field="to") from exc


def refuse_if_opted_out(phone, *, user=None, source):
    """SendRefused (and an audit entry) if `phone` (E.164) has opted out. A caller that works
    in a transaction of its own checks this first, so the entry is not rolled back with it."""
    opt_out = consent.active_opt_out(phone)
    if opt_out is None:
        return
    when = timezone.localtime(opt_out.created_at).strftime("%d %b %Y %H:%M IST")
    reason = (
        f"{phone} opted out on {when} ({opt_out.get_source_display()}); "
        "nothing is sent to it until it opts back in."
    )
    AuditLog.objects.create(
        actor=user if getattr(user, "is_authenticated", False) else None,
        action="send_refused_opted_out",
        target=phone,
        detail={"source": source, "opt_out_id": opt_out.pk},
    )
    raise SendRefused(reason, code="opted_out", field="to")


def _resolve_template(template, sms_type):
    if isinstance(template, DltTemplate):
        found = template if template.active else None
    else:
        found = dlt.candidate_templates(sms_type).filter(template_id=str(template).strip()).first()
    if found is None:
        raise SendRefused(
            f"No active DLT template has the id {template}.",
            code="unknown_template",
            field="dlt_template_id",
        )
    return found


def prepare_body(body=None, *, template=None, variables=None, sms_type=None) -> PreparedBody:
    """The body that will be sent and the DLT template it fills, or SendRefused."""
    if body is not None and len(body) > MAX_BODY_LENGTH:
        raise SendRefused(
            f"The body is {len(body)} characters; Exotel allows at most {MAX_BODY_LENGTH}.",
            code="body_too_long",
            field="body",
        )
    if template is not None:
        return _prepare_from_template(_resolve_template(template, sms_type), body, variables)
    if not body or not body.strip():
        raise SendRefused("Give a body or a DLT template id.", code="required", field="body")
    found = dlt.match_template(body, sms_type)
    if found is None:
        mismatch = dlt.explain_mismatch(body, sms_type)
        raise SendRefused(mismatch.describe(), code="dlt_mismatch", field="body")
    return PreparedBody(body, found.template, found.variables)


def _prepare_from_template(template, body, variables):
    if variables is not None or not body:
        try:
            rendered = dlt.render_template(template, variables or [])
        except ValueError as exc:
            raise SendRefused(str(exc), code="bad_variables", field="variables") from exc
        if body and body != rendered:
            raise SendRefused(
                "The body differs from the template filled with these variables.",
                code="dlt_mismatch",
                field="body",
            )
        return PreparedBody(rendered, template, tuple(variables or []))
    found = dlt.match_body(template, body)
    if found is None:
        mismatch = dlt.explain_mismatch(body, templates=[template])
        raise SendRefused(mismatch.describe(), code="dlt_mismatch", field="body")
    return PreparedBody(body, template, found.variables)


# --- Sending: run by the send task --------------------------------------------------------


@dataclass(frozen=True)
class DispatchOutcome:
    status: str
    retry_in: float | None = None


def status_callback_url(message) -> str:
    """The StatusCallback URL for this message; its token is the only proof a callback is ours."""
    token = signing.Signer(salt=CALLBACK_SALT).sign(f"m{message.pk}")
    return f"{settings.PUBLIC_BASE_URL}{reverse('webhook-sms-status')}?token={token}"


def message_id_from_callback_token(token) -> int | None:
    kind, pk = callback_target_from_token(token)
    return pk if kind == "m" else None


def campaign_callback_url(campaign_id) -> str:
    """One StatusCallback for a whole bulk request: signed for the campaign ("c<id>"), so a
    callback is applied only to a message of that campaign."""
    token = signing.Signer(salt=CALLBACK_SALT).sign(f"c{campaign_id}")
    return f"{settings.PUBLIC_BASE_URL}{reverse('webhook-sms-status')}?token={token}"


def callback_target_from_token(token) -> tuple[str | None, int | None]:
    """("m", message id) or ("c", campaign id) from a StatusCallback token; (None, None) if bad."""
    try:
        value = signing.Signer(salt=CALLBACK_SALT).unsign(token or "")
    except signing.BadSignature:
        return None, None
    if value[:1] in ("m", "c") and value[1:].isdigit():
        return value[0], int(value[1:])
    return None, None


def retry_delay(attempt, retry_after=None) -> float:
    """Seconds before the next try: seconds at first, growing, capped; with jitter."""
    if retry_after:
        return min(float(retry_after), MAX_RETRY_SECONDS)
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def claim_for_sending(message_id) -> Message | None:
    """Move a pending, due message to `dispatching` under a row lock; None if not ours to send."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("template", "conversation")
            .filter(pk=message_id, status=MessageStatus.PENDING)
            .first()
        )
        if message is None or (message.send_after and message.send_after > timezone.now()):
            return None
        if consent.blocks_message(message):
            # The number opted out after this message was stored (e.g. held overnight).
            message.error_message = "Not sent: the number opted out before it left."
            message.save(update_fields=["error_message", "updated_at"])
            _set_status(message, MessageStatus.FAILED, note="opted out before sending")
            return None
        message.status = MessageStatus.DISPATCHING
        message.attempts += 1
        message.last_attempt_at = timezone.now()
        message.save(update_fields=["status", "attempts", "last_attempt_at", "updated_at"])
        return message


def dispatch_message(message_id) -> DispatchOutcome | None:
    """Send one claimed message through Exotel, once. Returns what happened (None: not claimed)."""
    message = claim_for_sending(message_id)
    if message is None:
        return None
    # Charged on the account-wide cap but never waiting: a reply goes at once, and the campaign
    # batches (which do wait for their slot) make room for it.
    rate_limit.reserve_account(message.segments or 1)
    template = message.template
    try:
        answer = get_exotel_client().send_sms(
            message.conversation.phone_number,
            message.body,
            sender=message.sender,
            dlt_entity_id=(template.entity_id if template else "") or settings.EXOTEL_DLT_ENTITY_ID,
            dlt_template_id=template.template_id if template else None,
            sms_type=message.sms_type or None,
            encoding_type=message.encoding or None,
            status_callback=status_callback_url(message),
            custom_field=str(message.pk),
        )
    except ExotelError as exc:
        return _record_send_error(message, exc)
    except Exception as exc:
        # We cannot tell whether the request left; never resend blindly.
        logger.exception("unexpected error sending message %s", message.pk)
        return _mark_unknown(message, f"Unexpected error: {exc}")
    _record_accepted(message, answer)
    return DispatchOutcome(MessageStatus(message.status))


def _record_accepted(message, answer):
    from .webhook_events import release_waiting_events

    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(sid=answer.sid, sent_at=timezone.now())
        apply_status(
            message.pk,
            ExotelStatus(
                status=answer.status,
                detailed_status=answer.detailed_status or "",
                code=answer.detailed_status_code,
                sms_units=answer.sms_units,
                price=answer.price,
                occurred_at=answer.date_created,
            ),
            source=StatusEventSource.SEND,
        )
        message.refresh_from_db()
    release_waiting_events(answer.sid)


def _record_send_error(message, exc) -> DispatchOutcome:
    if exc.outcome_unknown:
        return _mark_unknown(message, f"Exotel did not answer in time: {exc.message}")
    if exc.retryable and message.attempts < MAX_SEND_ATTEMPTS:
        _set_status(message, MessageStatus.PENDING, error=exc, note=f"will retry: {exc}")
        return DispatchOutcome(
            MessageStatus.PENDING, retry_in=retry_delay(message.attempts, exc.retry_after)
        )
    _set_status(message, MessageStatus.FAILED, error=exc, note=str(exc))
    return DispatchOutcome(MessageStatus.FAILED)


def _mark_unknown(message, note) -> DispatchOutcome:
    _set_status(message, MessageStatus.UNKNOWN, note=note)
    return DispatchOutcome(MessageStatus.UNKNOWN)


def _set_status(message, status, *, error=None, note=""):
    with transaction.atomic():
        message.status = status
        fields = ["status", "updated_at"]
        if error is not None:
            message.error_code = error.code
            message.error_message = error.message[:255]
            fields += ["error_code", "error_message"]
        message.save(update_fields=fields)
        record_transition(message, StatusEventSource.INTERNAL, note=note[:255])
        note_status_change(message)
