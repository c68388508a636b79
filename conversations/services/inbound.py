"""Inbound SMS: answering each message once (`intake` reads and stores them).

Two doors, one message per SmsSid (the unique constraint on `Message.sid`):

- `POST /webhook/sms-incoming` (seed 001) stores the message and the raw event and answers at
  once; `process_inbound_event` (a Celery task) then answers it through the Send SMS API.
- `GET`/`HEAD` on the same path (seed 002, "Send a Reply") store it the same way and answer at
  once, the reply going back in the HTTP body for Exotel to send.

Whichever comes first decides, under a lock on the conversation, and writes the one
`InboundOutcome` of the message; later deliveries of the same SMS read it instead of deciding
again. The order of precedence:

1. a consent keyword (STOP, START and their variants) wins over everything, a running flow too;
2. an opted-out number gets no automatic reply at all;
3. a running flow reads the message as its answer;
4. a keyword rule;
5. otherwise the conversation is flagged for an agent, with the fallback reply if one is set.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..models import (
    ConsentEvent,
    ConsentKind,
    Conversation,
    Direction,
    FlowSessionStatus,
    InboundAction,
    InboundOutcome,
    KeywordAction,
    KeywordRule,
    Message,
    MessageSource,
    OptOutSource,
    ReplyChannel,
)
from . import campaigns, consent, flows, keywords, replies
from .triage import flag_for_agent

logger = logging.getLogger(__name__)

FLAGGING_ACTIONS = (KeywordAction.CANCEL, KeywordAction.ROUTE)


# --- Answering ------------------------------------------------------------------------------


@dataclass
class Decision:
    action: str
    source: str = MessageSource.KEYWORD
    rule: KeywordRule | None = None
    session: object = None
    reply: str = ""
    reply_error: replies.ReplyImpossible | None = None
    flag: bool = False
    opt_out_after_reply: bool = False
    consent_given: bool = False


def process_inbound_event(event) -> str:
    """Webhook handler (services.webhook_events) for a stored inbound SMS: answer it through
    the Send SMS API, unless the applet (or an earlier run) already did."""
    message = Message.objects.filter(sid=event.sid, direction=Direction.INBOUND).first()
    if message is None:
        return "ignored: no inbound message with this sid"
    outcome, decided = answer_inbound_message(message, channel=ReplyChannel.API)
    return describe_outcome(outcome) if decided else f"already answered ({outcome.action})"


def answer_reply_applet(message, *, deliver) -> str:
    """The body of the applet's HTTP answer ("" for none). HEAD decides but does not record a
    reply; GET records it (once) as handed to Exotel."""
    if message.direction != Direction.INBOUND:
        return ""  # an SmsSid of one of our own messages: nothing to answer
    outcome, _ = answer_inbound_message(message, channel=ReplyChannel.APPLET)
    if outcome.reply_channel != ReplyChannel.APPLET or outcome.reply_error:
        return ""
    if not outcome.reply_body:
        return ""
    if deliver and outcome.reply_message_id is None:
        try:
            _hand_over_applet_reply(outcome)
        except replies.ReplyImpossible as exc:
            _note_reply_error(outcome, exc)
            return ""
    return outcome.reply_body


def answer_inbound_message(message, *, channel) -> tuple[InboundOutcome, bool]:
    """Decide and act on one inbound message, once; returns its outcome and whether we decided
    it now. The conversation row lock serialises the messages of one customer."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        existing = InboundOutcome.objects.filter(message=message).first()
        if existing is not None:
            return existing, False
        campaigns.link_inbound_reply(message)
        decision = decide(conversation, message)
        return _act(conversation, message, decision, channel), True


def decide(conversation, message) -> Decision:
    rule = keywords.find_keyword_rule(message.body, conversation=conversation)
    if keywords.is_consent_rule(rule):
        return _consent_decision(conversation, message, rule)
    if consent.is_opted_out(conversation.phone_number):
        return Decision(InboundAction.OPTED_OUT_SENDER)
    session = flows.active_session(conversation)
    if session is not None:
        return _flow_decision(flows.answer_step(session, message.body))
    if rule is not None:
        return _keyword_decision(conversation, rule)
    return _unrecognised(conversation)


def _consent_decision(conversation, message, rule) -> Decision:
    flows.cancel_active_session(conversation)
    decision = Decision(KeywordAction(rule.action).value, rule=rule)
    if rule.action == KeywordAction.OPT_OUT:
        if consent.is_opted_out(conversation.phone_number):
            # Already out: the ledger notes the repeat, and nothing is sent (one confirmation).
            consent.opt_out(
                conversation.phone_number,
                source=OptOutSource.KEYWORD,
                keyword=message.body.strip(),
                message=message,
            )
            return decision
        decision.opt_out_after_reply = True
    else:
        consent.opt_in(
            conversation.phone_number,
            source=OptOutSource.KEYWORD,
            keyword=message.body.strip(),
            message=message,
        )
    _fill(decision, conversation, rule.reply)
    return decision


def _flow_decision(turn) -> Decision:
    return Decision(
        turn.action,
        source=MessageSource.FLOW,
        session=turn.session,
        reply=turn.reply,
        reply_error=turn.reply_error,
        flag=turn.route_to_agent,
        consent_given=turn.consent_given,
    )


def _keyword_decision(conversation, rule) -> Decision:
    decision = Decision(rule.action, rule=rule, flag=rule.action in FLAGGING_ACTIONS)
    if rule.action in (KeywordAction.CONFIRM, KeywordAction.CANCEL) and rule.store_as:
        value = "confirmed" if rule.action == KeywordAction.CONFIRM else "cancelled"
        conversation.flow_answers = {**(conversation.flow_answers or {}), rule.store_as: value}
        conversation.save(update_fields=["flow_answers", "updated_at"])
    if rule.action == KeywordAction.START_FLOW:
        return _start_flow_decision(conversation, rule, decision)
    if not _in_cooldown(conversation, rule):
        _fill(decision, conversation, rule.reply)
    return decision


def _start_flow_decision(conversation, rule, decision) -> Decision:
    decision.source = MessageSource.FLOW
    if not rule.flow.active:
        decision.action = InboundAction.UNRECOGNISED
        decision.flag = True
        return decision
    try:
        decision.session, decision.reply = flows.begin_session(conversation, rule.flow)
    except replies.ReplyImpossible as exc:
        decision.reply_error = exc
    return decision


def _unrecognised(conversation) -> Decision:
    decision = Decision(InboundAction.UNRECOGNISED, flag=True)
    fallback = keywords.find_fallback_rule()
    if fallback is not None and not _in_cooldown(conversation, fallback):
        decision.rule = fallback
        _fill(decision, conversation, fallback.reply)
    return decision


def _in_cooldown(conversation, rule) -> bool:
    """True when this rule answered this number recently: keeps two auto-responders from
    texting each other forever."""
    if not rule.reply_cooldown_minutes:
        return False
    since = timezone.now() - timedelta(minutes=rule.reply_cooldown_minutes)
    return (
        InboundOutcome.objects.filter(
            message__conversation=conversation, rule=rule, created_at__gte=since, reply_error=""
        )
        .exclude(reply_body="")
        .exists()
    )


def _fill(decision, conversation, text):
    if not text:
        return
    try:
        decision.reply = replies.fill_placeholders(text, replies.reply_values(conversation))
    except replies.ReplyImpossible as exc:
        decision.reply_error = exc


def _act(conversation, message, decision, channel) -> InboundOutcome:
    outcome = InboundOutcome(
        message=message,
        action=decision.action,
        rule=decision.rule,
        flow_session=decision.session,
        reply_body=decision.reply,
        reply_channel=channel,
    )
    try:
        outcome.reply_message = _deliver(conversation, decision, channel)
    except replies.ReplyImpossible as exc:
        outcome.reply_error = f"{exc.code}: {exc.reason}"[:255]
    if decision.opt_out_after_reply:
        consent.opt_out(
            conversation.phone_number,
            source=OptOutSource.KEYWORD,
            keyword=message.body.strip(),
            message=message,
            reply_message=outcome.reply_message,
        )
    if decision.consent_given:
        consent.record_consent_given(
            conversation.phone_number, message=message, keyword=message.body.strip()
        )
    if outcome.reply_error and decision.action == KeywordAction.START_FLOW and decision.session:
        # The customer was never asked the first question: the flow did not start.
        flows.end_session(decision.session, FlowSessionStatus.CANCELLED)
    if decision.flag or outcome.reply_error:
        flag_for_agent(conversation)
    outcome.save()
    return outcome


def _deliver(conversation, decision, channel) -> Message | None:
    if decision.reply_error:
        raise decision.reply_error
    if not decision.reply:
        return None
    if channel == ReplyChannel.API:
        return replies.send_reply(conversation, decision.reply, source=decision.source)
    if not decision.opt_out_after_reply and consent.is_opted_out(conversation.phone_number):
        raise replies.ReplyImpossible("opted_out", "This number has opted out.")
    replies.check_applet_reply(decision.reply)
    return None  # recorded when the GET hands it over (a HEAD only asks)


def _hand_over_applet_reply(outcome):
    checked = replies.check_applet_reply(outcome.reply_body)
    source = MessageSource.FLOW if outcome.flow_session_id else MessageSource.KEYWORD
    reply = replies.record_applet_reply(outcome.message.conversation, checked, source=source)
    outcome.reply_message = reply
    outcome.save(update_fields=["reply_message"])
    if outcome.action == InboundAction.OPT_OUT:
        ConsentEvent.objects.filter(
            message=outcome.message, kind=ConsentKind.OPT_OUT, reply_message__isnull=True
        ).update(reply_message=reply)


def _note_reply_error(outcome, exc):
    outcome.reply_error = f"{exc.code}: {exc.reason}"[:255]
    outcome.save(update_fields=["reply_error"])
    flag_for_agent(outcome.message.conversation)


def describe_outcome(outcome) -> str:
    if outcome.reply_error:
        return f"{outcome.action}; no reply: {outcome.reply_error}"
    if outcome.reply_body:
        return f"{outcome.action}; replied via {outcome.reply_channel}"
    return f"{outcome.action}; no reply"
