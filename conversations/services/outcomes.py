"""One-click outcomes: an agent closes a conversation as Confirmed, Rescheduled, Resolved...

The list is a setting (`INBOX_OUTCOMES`). A closed conversation keeps its outcome until the
customer writes again: a new inbound message reopens it (`threads.note_new_message`, and the
webhook's one-statement path in `intake`).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from ..models import Conversation
from .audit import record_action


def outcome_choices() -> list[str]:
    return list(settings.INBOX_OUTCOMES)


def close_conversation(conversation, outcome, *, user, request=None) -> Conversation:
    if outcome not in outcome_choices():
        raise ValidationError({"outcome": f"Choose one of: {', '.join(outcome_choices())}."})
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        outcome=outcome, closed_at=now, closed_by=user
    )
    conversation.outcome, conversation.closed_at, conversation.closed_by = outcome, now, user
    record_action(
        "conversation_closed",
        actor=user,
        target=conversation.phone_number,
        request=request,
        outcome=outcome,
    )
    return conversation


def reopen_conversation(conversation, *, user, request=None) -> Conversation:
    before = conversation.outcome
    Conversation.objects.filter(pk=conversation.pk).update(
        outcome="", closed_at=None, closed_by=None
    )
    conversation.outcome, conversation.closed_at, conversation.closed_by = "", None, None
    record_action(
        "conversation_reopened",
        actor=user,
        target=conversation.phone_number,
        request=request,
        outcome=before,
    )
    return conversation


# What a new inbound message sets on its conversation (one UPDATE with the counters).
REOPENED = {"outcome": "", "closed_at": None, "closed_by": None}
