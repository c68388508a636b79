"""Multi-step flows as data (seed 001, "Building Conversational Workflows").

A `Flow` is a list of `FlowStep`s, each with the `FlowChoice`s (answers) it understands. A
conversation has at most one active `FlowSession` (a database constraint); its state lives in
the database, so a worker restart or a second worker changes nothing. A session with no answer
for `expires_after_minutes` is expired the next time the customer writes, and the message is
then read as if no flow were running, so ORDER starts the flow again from its first step.

Each turn yields at most one reply: the choice's reply, or else the next step's prompt. One
SMS in, at most one SMS out, which is also all the "Send a Reply" applet can carry.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..models import (
    FlowChoiceAction,
    FlowSession,
    FlowSessionStatus,
    InboundAction,
    MessageSource,
)
from . import sending
from .keywords import fold, split_keywords
from .replies import ReplyImpossible, fill_placeholders, reply_values, send_reply

MAX_STORED_ANSWER = 200


@dataclass
class FlowTurn:
    """What one message did to a flow, and what to say back (placeholders filled)."""

    action: str
    session: FlowSession
    reply: str = ""
    reply_error: ReplyImpossible | None = None
    route_to_agent: bool = False
    consent_given: bool = False
    stored: dict = field(default_factory=dict)


def first_step(flow):
    return flow.steps.order_by("position", "id").first()


def active_session(conversation, now=None) -> FlowSession | None:
    """The conversation's running session; one past its expiry is closed here and not returned."""
    session = (
        FlowSession.objects.select_related("flow", "step")
        .filter(conversation=conversation, status=FlowSessionStatus.ACTIVE)
        .first()
    )
    if session is None:
        return None
    session.conversation = conversation  # the caller's (locked) instance, so saves agree
    if session.step is None or session.expires_at <= (now or timezone.now()):
        end_session(session, FlowSessionStatus.EXPIRED)
        return None
    return session


def end_session(session, status) -> None:
    session.status = status
    session.ended_at = timezone.now()
    session.save(update_fields=["status", "ended_at", "updated_at"])


def cancel_active_session(conversation) -> int:
    """End the running session, if any (STOP, a new flow, an agent taking over)."""
    return FlowSession.objects.filter(
        conversation=conversation, status=FlowSessionStatus.ACTIVE
    ).update(status=FlowSessionStatus.CANCELLED, ended_at=timezone.now())


def begin_session(conversation, flow, *, context=None) -> tuple[FlowSession, str]:
    """Start `flow` at its first step (replacing a running one); returns it and the prompt."""
    step = first_step(flow)
    if step is None:
        raise ReplyImpossible("empty_flow", f"The flow {flow.name} has no steps.")
    cancel_active_session(conversation)
    session = FlowSession.objects.create(
        conversation=conversation,
        flow=flow,
        step=step,
        context={str(k): str(v) for k, v in (context or {}).items()},
        expires_at=_expiry(flow),
    )
    prompt = fill_placeholders(step.prompt, reply_values(conversation, session))
    return session, prompt


def start_flow(conversation, flow, *, context=None):
    """Start a flow for a customer (API, agents): sends the first prompt through the outbound
    pipeline. If the prompt may not be sent (opted out, no DLT template), nothing starts."""
    if not flow.active:
        raise ReplyImpossible("inactive_flow", f"The flow {flow.name} is not active.")
    try:
        # Before the transaction: its audit entry would be rolled back with the refusal.
        sending.refuse_if_opted_out(conversation.phone_number, source=MessageSource.FLOW)
    except sending.SendRefused as exc:
        raise ReplyImpossible(exc.code, exc.reason) from exc
    with transaction.atomic():
        session, prompt = begin_session(conversation, flow, context=context)
        message = send_reply(conversation, prompt, source=MessageSource.FLOW)
    return session, message


def answer_step(session, text) -> FlowTurn:
    """Apply the customer's answer to the session's current step."""
    conversation = session.conversation
    step = session.step
    values = reply_values(conversation, session)
    choice = next((c for c in step.choices.all() if choice_matches(c, text, values)), None)
    if choice is None:
        return _not_understood(session)
    turn = FlowTurn(InboundAction.FLOW_ANSWER, session)
    if step.store_as:
        value = choice.value or (text or "").strip()[:MAX_STORED_ANSWER]
        turn.stored = {step.store_as: value}
        _store_answer(session, step.store_as, value)
    turn.route_to_agent = choice.action == FlowChoiceAction.ROUTE
    turn.consent_given = choice.action == FlowChoiceAction.RECORD_OPT_IN
    _advance(session, choice.next_step)
    text_to_send = choice.reply or (choice.next_step.prompt if choice.next_step else "")
    _fill_reply(turn, text_to_send)
    return turn


def choice_matches(choice, text, values) -> bool:
    """Listed answers (folded, placeholders filled), or a pattern; both blank: any text."""
    answers = split_keywords(choice.answers)
    if not answers and not choice.pattern:
        return bool(fold(text))
    if answers and fold(text) in _folded_answers(answers, values):
        return True
    return bool(choice.pattern) and re.fullmatch(choice.pattern, (text or "").strip()) is not None


def _folded_answers(answers, values) -> set[str]:
    folded = set()
    for answer in answers:
        try:
            folded.add(fold(fill_placeholders(answer, values)))
        except ReplyImpossible:
            continue  # e.g. {otp} with no code given at the start: nothing can match it
    return folded - {""}


def _not_understood(session) -> FlowTurn:
    session.attempts += 1
    step = session.step
    if session.attempts >= step.max_attempts:
        end_session(session, FlowSessionStatus.HANDED_OVER)
        turn = FlowTurn(InboundAction.FLOW_HANDOVER, session, route_to_agent=True)
        _fill_reply(turn, session.flow.handover_reply)
        return turn
    session.save(update_fields=["attempts", "updated_at"])
    turn = FlowTurn(InboundAction.FLOW_RETRY, session)
    _fill_reply(turn, step.retry_prompt or step.prompt)
    return turn


def _store_answer(session, key, value):
    session.answers = {**session.answers, key: value}
    conversation = session.conversation
    conversation.flow_answers = {**(conversation.flow_answers or {}), key: value}
    conversation.save(update_fields=["flow_answers", "updated_at"])


def _advance(session, next_step):
    if next_step is None:
        session.status = FlowSessionStatus.COMPLETED
        session.ended_at = timezone.now()
    session.step = next_step or session.step
    session.attempts = 0
    session.expires_at = _expiry(session.flow)
    session.save()


def _fill_reply(turn, text):
    if not text:
        return
    try:
        turn.reply = fill_placeholders(text, reply_values(turn.session.conversation, turn.session))
    except ReplyImpossible as exc:
        turn.reply_error = exc


def _expiry(flow):
    return timezone.now() + timedelta(minutes=flow.expires_after_minutes)


def expire_stale_sessions(now=None) -> int:
    """Close sessions past their expiry (beat); `active_session` also does it lazily."""
    return FlowSession.objects.filter(
        status=FlowSessionStatus.ACTIVE, expires_at__lte=now or timezone.now()
    ).update(status=FlowSessionStatus.EXPIRED, ended_at=timezone.now())


def validate_pattern(pattern) -> str | None:
    """An error message for a choice pattern that does not compile, for admin forms."""
    try:
        re.compile(pattern or "")
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    return None
